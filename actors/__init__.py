"""Upcast's Ray actors: coordinator, shards, storage, alerts and the event hub."""
