"""Result batches: by count, by age, retried, and pressing back on a slow sink."""

from __future__ import annotations

import asyncio

import pytest

from actors.batching import ResultBatcher
from engine.result import CheckResult, MonitorState, unpack_results


def result(index: int) -> CheckResult:
    return CheckResult(f"m{index}", 1_700_000_000 + index, True, 1.0, MonitorState.UP)


class Sink:
    """A receiver that records batches and can be made slow or failing."""

    def __init__(self, delay: float = 0.0, failures: int = 0) -> None:
        self.batches: list[list[CheckResult]] = []
        self.delay = delay
        self.failures = failures

    async def __call__(self, message: bytes) -> None:
        await asyncio.sleep(self.delay)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("receiver restarting")
        self.batches.append(unpack_results(message))


async def test_a_full_batch_ships_at_once() -> None:
    sink = Sink()
    batcher = ResultBatcher(sink, max_count=3, max_delay=10)

    for index in range(7):
        batcher.add(result(index))
    await asyncio.sleep(0.01)

    assert [len(batch) for batch in sink.batches] == [3, 3]
    await batcher.flush()
    assert [len(batch) for batch in sink.batches] == [3, 3, 1]


async def test_a_partial_batch_ships_after_the_delay() -> None:
    sink = Sink()
    batcher = ResultBatcher(sink, max_count=100, max_delay=0.05)

    batcher.add(result(1))
    await asyncio.sleep(0.02)
    shipped_early = len(sink.batches)
    await asyncio.sleep(0.1)

    assert shipped_early == 0
    assert sink.batches == [[result(1)]]


async def test_a_failed_delivery_is_retried_and_nothing_is_lost() -> None:
    sink = Sink(failures=2)
    batcher = ResultBatcher(sink, max_count=2, max_delay=0.01)

    for index in range(4):
        batcher.add(result(index))
    await batcher.flush()

    delivered = [r for batch in sink.batches for r in batch]
    assert delivered == [result(index) for index in range(4)]
    assert batcher.retries == 2


async def test_a_slow_sink_presses_back_then_lets_go() -> None:
    pressure: list[bool] = []
    sink = Sink(delay=0.05)
    batcher = ResultBatcher(
        sink, max_count=2, max_delay=0.01, max_in_flight=1, on_pressure=pressure.append
    )

    for index in range(8):
        batcher.add(result(index))
    assert pressure == [True]
    await batcher.flush()

    assert pressure == [True, False]
    assert len(batcher) == 0


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_count"):
        ResultBatcher(Sink(), max_count=0)


async def test_prepare_sees_each_batch_before_it_is_packed() -> None:
    delivered: list[bytes] = []

    async def deliver(batch: bytes) -> None:
        delivered.append(batch)

    def prepare(batch: list[CheckResult]) -> None:
        for result in batch:
            result.details["seen"] = True

    batcher = ResultBatcher(deliver, max_count=2, prepare=prepare)
    for number in range(3):
        batcher.add(result(number))
    await batcher.flush()

    unpacked = [r for batch in delivered for r in unpack_results(batch)]
    assert [r.details["seen"] for r in unpacked] == [True, True, True]
