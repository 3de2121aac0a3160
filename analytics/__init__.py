"""Upcast's analytics package."""
