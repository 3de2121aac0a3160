"""Upcast's web package."""
