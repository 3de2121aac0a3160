"""Upcast's engine: the monitor model, the check kinds and the shard scheduler."""
