"""Waiting in tests for something the platform does in its own time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    probe: Callable[[], Awaitable[Any]], within: float = 10.0, every: float = 0.1
) -> Any:
    """The first truthy answer of ``probe``, asked every ``every`` seconds.

    Fails the test with the last answer when ``within`` seconds pass first.
    """
    deadline = time.monotonic() + within
    while True:
        answer = await probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"still {answer!r} after {within}s")
        await asyncio.sleep(every)
