"""The cost of ``analytics.rolling.RollingStats.update``: CPU per result, memory.

Batches are random: slots drawn uniformly (so a batch may repeat a slot, as a
real one can), lognormal latencies, 2 % failures and times that advance
through the week so the hour-of-week buckets change. Every row is reset
before timing, as a shard resets a slot when it takes it, so the first write
to a page is not counted as update work.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from analytics.rolling import RollingStats

Batch = tuple[
    npt.NDArray[np.int64],
    npt.NDArray[np.float32],
    npt.NDArray[np.bool_],
    npt.NDArray[np.float64],
]

# A Monday 00:00 UTC, so the run starts in hour-of-week bucket 0.
_START = 1_704_067_200.0


def measure_update_cost(
    monitors: int = 100_000, batches: int = 200, batch_size: int = 500, seed: int = 1
) -> dict[str, float]:
    """CPU microseconds per result folded in by ``update``, and bytes a monitor.

    The batches are built before the clock starts, so only ``update`` is
    timed, with ``time.process_time`` (CPU of this process, not wall time).
    """
    stats = RollingStats(monitors)
    stats.reset(np.arange(monitors))
    work = [
        _random_batch(np.random.default_rng([seed, i]), monitors, batch_size, i)
        for i in range(batches)
    ]

    started = time.process_time()
    for slots, latency_ms, ok, at in work:
        stats.update(slots, latency_ms, ok, at)
    elapsed = time.process_time() - started

    return {
        "us_per_result": elapsed / (batches * batch_size) * 1e6,
        "bytes_per_monitor": stats.nbytes / stats.capacity,
    }


def _random_batch(
    rng: np.random.Generator, monitors: int, size: int, index: int
) -> Batch:
    """One batch of results, a minute after the previous one."""
    slots = rng.integers(0, monitors, size, dtype=np.int64)
    latency_ms = rng.lognormal(np.log(80.0), 0.5, size).astype(np.float32)
    ok = rng.random(size) >= 0.02
    at = _START + index * 60.0 + np.sort(rng.random(size)) * 60.0
    return slots, latency_ms, ok, at


if __name__ == "__main__":
    figures = measure_update_cost()
    print(f"update: {figures['us_per_result']:.3f} us per result (target < 5)")
    print(f"memory: {figures['bytes_per_monitor']:.0f} bytes per monitor")
