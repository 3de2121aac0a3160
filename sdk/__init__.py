"""Upcast's sdk package."""
