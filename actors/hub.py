"""The Event hub actor: hands live results and events to the gateways."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

# Live updates are for screens, not records (those are in the store): a
# gateway that falls this far behind skips ahead instead of being fed a
# backlog it cannot show in time.
KEPT_UPDATES = 20_000


class EventHub:
    """A numbered ring of recent live updates that gateways poll for.

    Each update is ``{"type": "result" | "event", "data": {...}}``. A gateway
    asks for everything after the last number it saw and waits until there
    is something new or its wait runs out.
    """

    def __init__(self) -> None:
        self._updates: deque[tuple[int, dict[str, Any]]] = deque(maxlen=KEPT_UPDATES)
        self._last = 0
        self._arrived = asyncio.Condition()

    async def publish(self, updates: list[dict[str, Any]]) -> int:
        """Add updates; returns the number of the last one."""
        async with self._arrived:
            for update in updates:
                self._last += 1
                self._updates.append((self._last, update))
            self._arrived.notify_all()
        return self._last

    async def since(
        self, after: int, wait: float = 1.0
    ) -> tuple[int, list[dict[str, Any]]]:
        """Updates numbered above ``after`` and the last number, waiting if none."""
        async with self._arrived:
            if self._last <= after:
                try:
                    await asyncio.wait_for(
                        self._arrived.wait_for(lambda: self._last > after), wait
                    )
                except TimeoutError:
                    return self._last, []
            updates = [update for number, update in self._updates if number > after]
            return self._last, updates

    async def last(self) -> int:
        return self._last
