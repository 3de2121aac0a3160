"""Upcast's actors package."""
