"""The Event hub actor: hands live results and events to the gateways."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections import deque
from typing import Any

# Live updates are for screens, not records (those are in the store): a
# gateway that falls this far behind skips ahead instead of being fed a
# backlog it cannot show in time. One entry is one batch of up to a few
# hundred results, or a few events; the ring keeps at most this many
# entries and this many bytes of batches, whichever comes first.
KEPT_ENTRIES = 2000
KEPT_BYTES = 16 * 1024 * 1024

Entry = tuple[bytes | None, list[dict[str, Any]]]
"""A packed batch of results (or None) and the events that came with it."""


class EventHub:
    """A numbered ring of recent live updates that gateways poll for.

    Results stay in the msgpack batches the shards packed, so a hub nobody
    reads costs almost nothing, and only a gateway with someone watching
    unpacks them. ``epoch`` changes when the hub starts afresh (after a
    restart), so a gateway knows its last number no longer means anything.
    """

    def __init__(self) -> None:
        self._entries: deque[tuple[int, Entry]] = deque()
        self._bytes = 0
        self._last = 0
        self._epoch = secrets.token_hex(8)
        self._arrived = asyncio.Condition()

    async def publish(self, results: bytes | None, events: list[dict[str, Any]]) -> int:
        """Add one entry; returns its number."""
        if results is None and not events:
            return self._last
        async with self._arrived:
            self._last += 1
            self._entries.append((self._last, (results, events)))
            self._bytes += len(results or b"")
            while self._bytes > KEPT_BYTES or len(self._entries) > KEPT_ENTRIES:
                _, (dropped, _) = self._entries.popleft()
                self._bytes -= len(dropped or b"")
            self._arrived.notify_all()
        return self._last

    async def since(
        self, after: int, wait: float = 1.0, results: bool = True
    ) -> tuple[str, int, list[Entry]]:
        """Entries numbered above ``after``, waiting up to ``wait`` if none.

        Returns ``(epoch, last number, entries)``; with ``results`` off the
        entries carry only their events.
        """
        async with self._arrived:
            if self._last <= after:
                try:
                    await asyncio.wait_for(
                        self._arrived.wait_for(lambda: self._last > after), wait
                    )
                except TimeoutError:
                    return self._epoch, self._last, []
            # Entries are numbered without gaps, so the first one wanted is
            # found by arithmetic rather than by walking the ring.
            first = self._entries[0][0] if self._entries else self._last + 1
            skip = max(0, after + 1 - first)
            found = [
                (batch if results else None, events)
                for _, (batch, events) in itertools.islice(self._entries, skip, None)
                if events or (results and batch is not None)
            ]
            return self._epoch, self._last, found

    async def last(self) -> tuple[str, int]:
        return self._epoch, self._last
