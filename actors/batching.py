"""Result batches between actors: flushed by count or age, bounded in flight.

A shard produces thousands of results a second; one Ray call per result
would cost more than the checks. The batcher collects results and ships
them as one msgpack message when ``max_count`` have gathered or the oldest
has waited ``max_delay`` seconds. At most ``max_in_flight`` batches are
being delivered at once; while that many are out and the buffer is past
``high_water``, the batcher asks its producer to hold, so a slow sink slows
the checks rather than filling memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from engine.result import CheckResult, pack_results

logger = logging.getLogger(__name__)

Deliver = Callable[[bytes], Awaitable[object]]

DEFAULT_MAX_COUNT = 500
DEFAULT_MAX_DELAY = 0.1
DEFAULT_MAX_IN_FLIGHT = 4


class ResultBatcher:
    """Collects results and delivers them in msgpack batches.

    ``deliver`` sends one batch and returns when the receiver has it; a
    failed delivery is retried with backoff, so results handed over are
    not dropped while the receiver restarts. ``on_pressure(True)`` asks the
    producer to hold, ``on_pressure(False)`` lets it go on. ``prepare``, if
    given, sees each batch, in order, just before it is packed.
    """

    def __init__(
        self,
        deliver: Deliver,
        *,
        max_count: int = DEFAULT_MAX_COUNT,
        max_delay: float = DEFAULT_MAX_DELAY,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        on_pressure: Callable[[bool], None] | None = None,
        prepare: Callable[[list[CheckResult]], None] | None = None,
        name: str = "results",
    ) -> None:
        if max_count < 1 or max_in_flight < 1 or max_delay <= 0:
            raise ValueError("max_count and max_in_flight must be >= 1, max_delay > 0")
        self._deliver = deliver
        self._max_count = max_count
        self._max_delay = max_delay
        self._slots = asyncio.Semaphore(max_in_flight)
        self._high_water = max_count * max_in_flight * 2
        self._on_pressure = on_pressure
        self._prepare = prepare
        self._name = name
        self._buffer: list[CheckResult] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._pressing = False
        self._undelivered = 0
        self.delivered = 0
        self.retries = 0

    def __len__(self) -> int:
        """Results handed over and not yet delivered."""
        return self._undelivered

    def add(self, result: CheckResult) -> None:
        """Queue one result; a full batch is shipped at once."""
        self._buffer.append(result)
        self._undelivered += 1
        if len(self._buffer) >= self._max_count:
            self._ship()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._max_delay, self._ship)
        if not self._pressing and self._undelivered >= self._high_water:
            self._press(True)

    async def flush(self) -> None:
        """Ship what is buffered and wait until every batch is delivered."""
        self._ship()
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _ship(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._buffer:
            batch = self._buffer[: self._max_count]
            del self._buffer[: self._max_count]
            if self._prepare is not None:
                self._prepare_batch(batch)
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _prepare_batch(self, batch: list[CheckResult]) -> None:
        """Let ``prepare`` add to the results before they are packed; a bug
        there is logged and the batch goes as it is."""
        assert self._prepare is not None
        try:
            self._prepare(batch)
        except Exception:
            logger.exception("preparing a batch failed sink=%s", self._name)

    async def _send(self, batch: list[CheckResult]) -> None:
        message = pack_results(batch)
        async with self._slots:
            delay = 0.1
            while True:
                try:
                    await self._deliver(message)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.retries += 1
                    logger.warning(
                        "delivering a batch failed sink=%s size=%d; retrying in %.1fs",
                        self._name,
                        len(batch),
                        delay,
                        exc_info=True,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        self.delivered += len(batch)
        self._undelivered -= len(batch)
        if self._pressing and self._undelivered < self._high_water // 2:
            self._press(False)

    def _press(self, on: bool) -> None:
        self._pressing = on
        if self._on_pressure is not None:
            self._on_pressure(on)
