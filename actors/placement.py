"""Which shard owns which monitor: rendezvous (highest random weight) hashing.

Every monitor goes to the shard whose name, hashed together with the
monitor's id, scores highest. Adding a shard takes over only the monitors it
now outscores (about 1/N of them); removing one moves only its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


def score(shard: str, monitor_id: str) -> int:
    digest = hashlib.blake2b(
        f"{shard}\x00{monitor_id}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big")


def owner(monitor_id: str, shards: Sequence[str]) -> str:
    """The shard that owns ``monitor_id`` among ``shards``."""
    if not shards:
        raise ValueError("there are no shards to place monitors on")
    return max(shards, key=lambda shard: score(shard, monitor_id))


def assign(monitor_ids: Iterable[str], shards: Sequence[str]) -> dict[str, list[str]]:
    """Monitor ids grouped by owning shard (every shard present, maybe empty)."""
    groups: dict[str, list[str]] = {shard: [] for shard in shards}
    for monitor_id in monitor_ids:
        groups[owner(monitor_id, shards)].append(monitor_id)
    return groups
