"""Per-minute and per-hour aggregates of results, the same on every backend.

A rollup row holds, for one monitor and one minute or hour: how many checks
ran, how many passed, and the minimum, maximum and sum of the latencies of
those that passed, with a histogram of them over fixed bounds. Rows of any
span add up by summing their columns (and taking the least minimum and the
greatest maximum), so a day's uptime or p95 comes from 24 hourly rows
instead of thousands of results. Percentiles from the histogram are
interpolated within a bucket, which is exact to the bucket's width.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, SupportsFloat, SupportsInt

from engine.result import CheckResult

MINUTE = 60
HOUR = 3600
RESOLUTIONS = {"minute": MINUTE, "hour": HOUR}

LATENCY_BOUNDS_MS = (
    1.0,
    2.0,
    5.0,
    10.0,
    20.0,
    50.0,
    100.0,
    200.0,
    300.0,
    500.0,
    750.0,
    1000.0,
    1500.0,
    2000.0,
    3000.0,
    5000.0,
    10000.0,
    30000.0,
    60000.0,
)
"""Upper bounds of the latency histogram; one bucket more holds what is beyond."""

BUCKETS = len(LATENCY_BOUNDS_MS) + 1
HISTOGRAM_COLUMNS = tuple(f"h{index:02d}" for index in range(BUCKETS))


@dataclass(slots=True)
class Rollup:
    """The aggregate of one monitor's results over one minute or hour."""

    monitor_id: str
    start: float
    count: int = 0
    ok: int = 0
    latency_min: float | None = None
    latency_max: float | None = None
    latency_sum: float = 0.0
    histogram: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def add(self, result: CheckResult) -> None:
        self.count += 1
        if not result.ok:
            return
        self.ok += 1
        latency = result.latency_ms
        self.latency_sum += latency
        if self.latency_min is None or latency < self.latency_min:
            self.latency_min = latency
        if self.latency_max is None or latency > self.latency_max:
            self.latency_max = latency
        self.histogram[bucket_of(latency)] += 1


@dataclass(frozen=True, slots=True)
class Summary:
    """How one monitor did over a span: from rollups, not from raw results.

    ``uptime`` is the share of checks that passed (None with no checks);
    latencies are of the passing checks, in milliseconds.
    """

    monitor_id: str
    count: int
    ok: int
    uptime: float | None
    latency_min: float | None
    latency_max: float | None
    latency_mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None


def bucket_of(latency_ms: float) -> int:
    """The histogram bucket a latency falls in."""
    for index, bound in enumerate(LATENCY_BOUNDS_MS):
        if latency_ms <= bound:
            return index
    return BUCKETS - 1


def bucket_start(at: float, span: int) -> float:
    """The start of the minute or hour (``span`` seconds) that holds ``at``."""
    return float(math.floor(at / span) * span)


def aggregate(results: Iterable[CheckResult], span: int) -> list[Rollup]:
    """Rollups of these results, one per monitor and ``span``-second bucket."""
    rollups: dict[tuple[str, float], Rollup] = {}
    for result in results:
        key = (result.monitor_id, bucket_start(result.started_at, span))
        rollup = rollups.get(key)
        if rollup is None:
            rollup = rollups[key] = Rollup(*key)
        rollup.add(result)
    return list(rollups.values())


def percentile(histogram: Sequence[int], fraction: float) -> float | None:
    """A percentile of a latency histogram in ms, interpolated in its bucket.

    A percentile in the last bucket, which has no upper bound, is reported
    as the last bound. None for an empty histogram.
    """
    total = sum(histogram)
    if total == 0:
        return None
    wanted = fraction * total
    running = 0
    lower = 0.0
    for index, count in enumerate(histogram):
        upper = (
            LATENCY_BOUNDS_MS[index]
            if index < len(LATENCY_BOUNDS_MS)
            else LATENCY_BOUNDS_MS[-1]
        )
        if count and running + count >= wanted:
            return lower + (upper - lower) * (wanted - running) / count
        running += count
        lower = upper
    return LATENCY_BOUNDS_MS[-1]


def summarise(
    monitor_id: str,
    count: int,
    ok: int,
    latency_min: float | None,
    latency_max: float | None,
    latency_sum: float,
    histogram: Sequence[int],
) -> Summary:
    """A ``Summary`` from the sums of a monitor's rollup rows."""
    return Summary(
        monitor_id=monitor_id,
        count=count,
        ok=ok,
        uptime=ok / count if count else None,
        latency_min=latency_min,
        latency_max=latency_max,
        latency_mean=latency_sum / ok if ok else None,
        p50=percentile(histogram, 0.50),
        p95=percentile(histogram, 0.95),
        p99=percentile(histogram, 0.99),
    )


def check_resolution(resolution: object) -> int:
    """The span in seconds of ``minute`` or ``hour``; ValueError otherwise."""
    if not isinstance(resolution, str) or resolution not in RESOLUTIONS:
        raise ValueError(
            f"resolution: must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}"
        )
    return RESOLUTIONS[resolution]


class UptimeRow(NamedTuple):
    """How one monitor or tag did over one day, week or month of an uptime report.

    ``checks`` and ``ok`` are summed from hourly rollups; ``uptime`` is the
    share of checks that passed, None when none ran.
    """

    period_start: float
    """The start of the UTC day, ISO week or calendar month, in unix seconds."""
    key: str
    """The monitor id or the tag the row is about."""
    checks: int
    ok: int
    uptime: float | None


def uptime_row(
    period_start: SupportsFloat, key: str, checks: SupportsInt, ok: SupportsInt
) -> UptimeRow:
    """An ``UptimeRow`` from the sums a backend's report query gives.

    MySQL gives sums of whole numbers as DECIMAL; the row holds ints and a
    float start, whatever the driver gave.
    """
    count, passed = int(checks), int(ok)
    return UptimeRow(
        float(period_start), key, count, passed, passed / count if count else None
    )
