"""Rolling latency and success statistics for every monitor of a shard.

The module owns ``RollingStats``: per-slot numpy arrays, addressed by the
scheduler's slot number like ``engine.latency.LatencyRings``, updated once per
result batch without a Python loop per result. Beside it are the read-only
helpers that summarise rows of a ``LatencyRings`` (median, MAD, percentiles).

Memory per slot, 556 bytes in all (a shard keeps one row per monitor, so
every byte here is a megabyte at a million monitors):

=====================  =========================================  =====
what                   layout                                     bytes
=====================  =========================================  =====
EWMA mean, variance    two float32                                    8
latency count          uint32 (results that fed the EWMA)             4
ok bits                two uint64, the last 128 results               16
result, ok counts      two uint32                                     8
first, last result     two float64, Unix seconds                     16
hour-of-week baseline  168 x (float16 mean, uint8 count)            504
=====================  =========================================  =====

A bucket keeps no spread of its own: how much a latency may stray is judged
from the whole latency ring (``robust_centre``), scaled to the bucket.

A row of zeros is an empty row: emptiness is read from the counts, never from
a NaN sentinel. So arrays are allocated with ``np.zeros``, whose pages the
kernel backs only once they are written, and ``reset`` just zeroes a row.

Hour of week counts from Monday 00:00 UTC (bucket 0, ISO weeks) to Sunday
23:00-23:59 UTC (bucket 167). Timestamps are Unix seconds; the Unix epoch was
a Thursday, so it falls in bucket 72.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.latency import MAX_LATENCY_MS

HOURS_PER_WEEK = 168
WINDOWS = (10, 100)
COUNT_CEILING = int(np.iinfo(np.uint8).max)

# Hours from Monday 00:00 to Thursday 00:00, when the Unix epoch began.
_EPOCH_HOUR_OF_WEEK = 72
_LAST_10 = np.uint64((1 << 10) - 1)
# The last 100 results are all 64 bits of ``lo`` and the low 36 bits of ``hi``.
_HI_OF_100 = np.uint64((1 << (100 - 64)) - 1)

SlotArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
# A bucket's mean and count, one entry per slot asked about.
Baseline = tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]


def hour_of_week(at: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """The hour-of-week bucket (0 is Monday 00:00 UTC) of each Unix time."""
    hours = np.floor_divide(np.asarray(at, np.float64), 3600.0)
    return ((hours + _EPOCH_HOUR_OF_WEEK) % HOURS_PER_WEEK).astype(np.intp)


DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

TRUSTED_AGE = 7 * 86_400.0
"""Seconds a monitor must have been checked before its buckets are trusted:
a bucket younger than a week has seen its hour once, which says nothing of
the week."""
TRUSTED_SAMPLES = 2
"""Samples a bucket needs before it is trusted."""


def season_name(at: float) -> str:
    """The hour of week of a Unix time, for people: ``"Tuesday 14:00 UTC"``."""
    bucket = int(hour_of_week(np.array([at]))[0])
    return f"{DAYS[bucket // 24]} {bucket % 24:02d}:00 UTC"


def robust_centre(
    samples: npt.NDArray[np.float16],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """The median and median absolute deviation of each row, ignoring NaN.

    Rows are ``LatencyRings`` rows, where NaN marks a sample not taken yet, so
    a new monitor's row is mostly NaN. The MAD is unscaled: multiply it by
    1.4826 to compare it with a standard deviation. A row with no sample gives
    NaN for both, without numpy's all-NaN warning: such rows are skipped
    rather than passed to ``np.nanmedian``.
    """
    values, filled = _rows_with_samples(samples)
    median = np.full(values.shape[0], np.nan, np.float32)
    mad = np.full(values.shape[0], np.nan, np.float32)
    if not filled.any():
        return median, mad

    kept = values[filled]
    centre = np.nanmedian(kept, axis=1)
    median[filled] = centre
    mad[filled] = np.nanmedian(np.abs(kept - centre[:, None]), axis=1)
    return median, mad


def percentiles(
    samples: npt.NDArray[np.float16], qs: Sequence[float] = (50, 95, 99)
) -> npt.NDArray[np.float32]:
    """The ``qs`` percentiles of each row, ignoring NaN, one output row per q.

    The result has shape ``(len(qs), rows)`` so that
    ``p50, p95, p99 = percentiles(samples)`` reads naturally. Rows with no
    sample give NaN, as in ``robust_centre``.
    """
    values, filled = _rows_with_samples(samples)
    result = np.full((len(qs), values.shape[0]), np.nan, np.float32)
    if filled.any():
        result[:, filled] = np.nanpercentile(values[filled], list(qs), axis=1)
    return result


def _rows_with_samples(
    samples: npt.NDArray[np.float16],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """The rows as float32, and which of them hold at least one sample."""
    values = np.asarray(samples).astype(np.float32)
    if values.ndim != 2:
        raise ValueError(f"samples must be 2-D (slots x samples), not {values.ndim}-D")
    filled = np.asarray(~np.isnan(values).all(axis=1), np.bool_)
    return values, filled


class RollingStats:
    """Per-monitor EWMA, success ratios and weekly baselines, one row a slot.

    Analytics keeps these beside the scheduler's own per-slot arrays, so the
    figures an alert or a dashboard needs are a fancy-index away instead of a
    scan of stored results. ``alpha`` weighs each new latency in the EWMA
    mean and variance; ``baseline_alpha`` does the same in the hour-of-week
    buckets. Capacity grows by doubling, driven by the owner (``grow``), and a
    row is cleared when its slot is taken (``reset``).
    """

    # Every per-slot array, first axis the slot: what grow, reset and nbytes
    # walk over.
    _ARRAYS = (
        "_mean",
        "_var",
        "_latencies",
        "_lo",
        "_hi",
        "_results",
        "_oks",
        "_first_at",
        "_last_at",
        "_base_mean",
        "_base_count",
    )
    __slots__ = ("_alpha", "_baseline_alpha", *_ARRAYS)

    def __init__(
        self, capacity: int, *, alpha: float = 0.05, baseline_alpha: float = 0.05
    ) -> None:
        for name, value in (("alpha", alpha), ("baseline_alpha", baseline_alpha)):
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], not {value}")
        self._alpha = alpha
        self._baseline_alpha = baseline_alpha
        self._mean = np.zeros(capacity, np.float32)
        self._var = np.zeros(capacity, np.float32)
        self._latencies = np.zeros(capacity, np.uint32)
        self._lo = np.zeros(capacity, np.uint64)
        self._hi = np.zeros(capacity, np.uint64)
        self._results = np.zeros(capacity, np.uint32)
        self._oks = np.zeros(capacity, np.uint32)
        self._first_at = np.zeros(capacity, np.float64)
        self._last_at = np.zeros(capacity, np.float64)
        self._base_mean = np.zeros((capacity, HOURS_PER_WEEK), np.float16)
        self._base_count = np.zeros((capacity, HOURS_PER_WEEK), np.uint8)

    @property
    def capacity(self) -> int:
        return int(self._mean.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by every per-slot array, at the current capacity."""
        return sum(array.nbytes for array in self._arrays())

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` slots, keeping every existing row."""
        old = self.capacity
        if capacity <= old:
            return
        for name in self._ARRAYS:
            array = getattr(self, name)
            grown = np.zeros((capacity, *array.shape[1:]), array.dtype)
            grown[:old] = array
            setattr(self, name, grown)

    def reset(self, slot: int | npt.NDArray[np.integer[Any]]) -> None:
        """Forget what a slot (or an array of slots) knew, for a new monitor."""
        for array in self._arrays():
            array[slot] = 0

    def update(
        self,
        slots: SlotArray,
        latency_ms: npt.NDArray[np.float32],
        ok: npt.NDArray[np.bool_],
        at: FloatArray,
        learn: npt.NDArray[np.bool_] | None = None,
    ) -> None:
        """Fold one batch of results, given in order, into the slots' rows.

        ``learn`` says, per result, whether its latency may move the
        hour-of-week baseline (all do when it is None): an owner that knows a
        monitor is in a bad spell keeps the spell out of what is usual.

        A batch holds results of many monitors, and a monitor may appear more
        than once; its results must then be applied in batch order, since
        every statistic depends on order. Rows are updated with fancy
        indexing, which is only correct when no slot repeats, so:

        1. Take the remaining results' first occurrence of each distinct slot
           (``np.unique`` with ``return_index``; it sorts stably, so "first"
           means earliest in the batch).
        2. Apply that round of distinct slots at once.
        3. Drop the round from the remaining results and repeat until none
           remain. A batch without repeats, the usual case, takes one round.
        """
        slots = np.asarray(slots, np.int64)
        latency_ms = np.asarray(latency_ms, np.float32)
        ok = np.asarray(ok, np.bool_)
        at = np.asarray(at, np.float64)
        learn = (
            np.ones(slots.shape, np.bool_)
            if learn is None
            else np.asarray(learn, np.bool_)
        )
        if not slots.shape == latency_ms.shape == ok.shape == at.shape == learn.shape:
            raise ValueError("slots, latency_ms, ok, at and learn must have one shape")
        if slots.ndim != 1:
            raise ValueError("a batch is 1-D: one entry per result")
        if slots.size == 0:
            return
        if slots.min() < 0 or slots.max() >= self.capacity:
            raise IndexError(f"slots must be within [0, {self.capacity})")

        remaining = np.arange(slots.size)
        while remaining.size:
            _, first = np.unique(slots[remaining], return_index=True)
            picked = remaining[first]
            self._apply(
                slots[picked],
                latency_ms[picked],
                ok[picked],
                at[picked],
                learn[picked],
            )
            if first.size == remaining.size:
                break
            left = np.ones(remaining.size, np.bool_)
            left[first] = False
            remaining = remaining[left]

    def snapshot(self, slots: SlotArray) -> dict[str, npt.NDArray[Any]]:
        """The current figures of each slot, as arrays aligned with ``slots``.

        Keys: ``ewma_mean`` and ``ewma_std`` (ms, NaN before the first
        successful latency), ``success_10`` and ``success_100`` (the share of
        ok results among the last 10 and 100, or fewer while the monitor is
        young; NaN before any result), ``count`` and ``ok_count`` (all
        results), ``latency_count`` (results that fed the EWMA), ``first_at``
        and ``last_at`` (Unix seconds of the first and the latest result, NaN
        before any).
        """
        slots = np.asarray(slots, np.int64)
        latencies = self._latencies[slots]
        results = self._results[slots]
        lo = self._lo[slots]
        hi = self._hi[slots]
        seen = latencies > 0
        oks_10 = np.bitwise_count(lo & _LAST_10)
        oks_100 = np.bitwise_count(lo).astype(np.int64) + np.bitwise_count(
            hi & _HI_OF_100
        )
        return {
            "ewma_mean": np.where(seen, self._mean[slots], np.float32(np.nan)),
            "ewma_std": np.where(seen, np.sqrt(self._var[slots]), np.float32(np.nan)),
            "success_10": _ratio(oks_10, np.minimum(results, WINDOWS[0])),
            "success_100": _ratio(oks_100, np.minimum(results, WINDOWS[1])),
            "count": results,
            "ok_count": self._oks[slots],
            "latency_count": latencies,
            "first_at": np.where(results > 0, self._first_at[slots], np.nan),
            "last_at": np.where(results > 0, self._last_at[slots], np.nan),
        }

    def baseline(self, slots: SlotArray, at: FloatArray) -> Baseline:
        """Each slot's usual latency for the hour of week of the matching ``at``.

        Returns the bucket's mean (ms, NaN for an empty bucket) and its
        sample count, which saturates at 255: a caller decides from the count
        and the slot's ``first_at`` whether the bucket has seen enough weeks
        to be trusted.
        """
        slots = np.asarray(slots, np.int64)
        hours = hour_of_week(at)
        count = self._base_count[slots, hours]
        mean = self._base_mean[slots, hours].astype(np.float32)
        mean[count == 0] = np.nan
        return mean, count

    def trusted_usual(self, slots: SlotArray, now: float) -> FloatArray:
        """Each slot's usual latency for the hour of ``now``, NaN if untrusted.

        A bucket is trusted once the slot's first result is ``TRUSTED_AGE``
        old and the bucket holds ``TRUSTED_SAMPLES``.
        """
        slots = np.asarray(slots, np.int64)
        mean, count = self.baseline(slots, np.full(len(slots), now))
        results = self._results[slots]
        old = (results > 0) & (now - self._first_at[slots] >= TRUSTED_AGE)
        trusted = old & (count >= TRUSTED_SAMPLES)
        usual: FloatArray = np.where(trusted, mean.astype(np.float64), np.nan)
        return usual

    def week(self, slot: int) -> Baseline:
        """One slot's 168 buckets, Monday 00:00 UTC first, as ``baseline`` gives."""
        count = self._base_count[slot].copy()
        mean = self._base_mean[slot].astype(np.float32)
        mean[count == 0] = np.nan
        return mean, count

    def _apply(
        self,
        slots: SlotArray,
        latency_ms: npt.NDArray[np.float32],
        ok: npt.NDArray[np.bool_],
        at: FloatArray,
        learn: npt.NDArray[np.bool_],
    ) -> None:
        """Fold one result into each of ``slots``, which are all distinct."""
        first = self._results[slots] == 0
        self._first_at[slots[first]] = at[first]
        self._results[slots] += np.uint32(1)
        self._oks[slots] += ok.astype(np.uint32)
        self._last_at[slots] = at

        # The ok bits are a 128-bit shift register: the newest result is bit 0
        # of ``lo`` and bit 63 of ``lo`` carries into ``hi``.
        lo = self._lo[slots]
        self._hi[slots] = (self._hi[slots] << np.uint64(1)) | (lo >> np.uint64(63))
        self._lo[slots] = (lo << np.uint64(1)) | ok.astype(np.uint64)

        fed = ok & np.isfinite(latency_ms)
        if not fed.any():
            return
        slots = slots[fed]
        values = np.clip(latency_ms[fed], 0.0, MAX_LATENCY_MS)
        self._update_ewma(slots, values)
        learnt = learn[fed]
        self._update_baseline(slots[learnt], values[learnt], at[fed][learnt])

    def _update_ewma(self, slots: SlotArray, values: npt.NDArray[np.float32]) -> None:
        """The incremental EWMA of mean and variance, the first value its seed.

        With ``d = x - mean``: ``mean += alpha * d`` and
        ``var = (1 - alpha) * (var + alpha * d * d)``, which equals the
        exponentially weighted variance around the moving mean.
        """
        alpha = np.float32(self._alpha)
        fresh = self._latencies[slots] == 0
        mean = self._mean[slots]
        diff = values - mean
        increment = alpha * diff
        var = (np.float32(1.0) - alpha) * (self._var[slots] + diff * increment)
        self._mean[slots] = np.where(fresh, values, mean + increment)
        self._var[slots] = np.where(fresh, np.float32(0.0), var)
        self._latencies[slots] += np.uint32(1)

    def _update_baseline(
        self, slots: SlotArray, values: npt.NDArray[np.float32], at: FloatArray
    ) -> None:
        """Move each slot's bucket for the hour of ``at`` towards ``values``.

        A bucket sees a given hour of the week only, so it fills over weeks,
        and a plain EWMA seeded by its first sample would let that one sample
        dominate for dozens more. So the weight of the n-th sample is
        ``max(baseline_alpha, 1 / n)``: the mean is a plain average until
        ``n`` reaches ``1 / baseline_alpha``, then an EWMA. The count
        saturates at 255, so weights never fall below 1/255.
        """
        hours = hour_of_week(at)
        count = self._base_count[slots, hours]
        count = np.minimum(count.astype(np.int32) + 1, COUNT_CEILING)
        weight = np.maximum(np.float32(self._baseline_alpha), 1.0 / count)
        weight = weight.astype(np.float32)

        mean = self._base_mean[slots, hours].astype(np.float32)
        self._base_mean[slots, hours] = mean + weight * (values - mean)
        self._base_count[slots, hours] = count

    def _arrays(self) -> list[npt.NDArray[Any]]:
        return [getattr(self, name) for name in self._ARRAYS]


def _ratio(
    part: npt.NDArray[np.integer[Any]], whole: npt.NDArray[np.integer[Any]]
) -> FloatArray:
    """``part / whole`` as float64, NaN where ``whole`` is zero."""
    ratio = np.full(part.shape, np.nan, np.float64)
    np.divide(part, whole, out=ratio, where=whole > 0)
    return ratio


def baseline_report(
    stats: RollingStats, slot: int, ring: npt.NDArray[np.float32], now: float
) -> dict[str, Any]:
    """What one slot knows of its usual behaviour, for the API.

    ``ring`` is the slot's latency ring, oldest first. The report holds the
    rolling figures, the ring's robust centre and percentiles, the 168
    hour-of-week buckets (Monday 00:00 UTC first), and the usual latency
    for the hour of ``now`` when its bucket is trusted.
    """
    slots = np.array([slot], np.int64)
    snapshot = {key: _plain(values[0]) for key, values in stats.snapshot(slots).items()}
    row = np.full((1, max(len(ring), 1)), np.nan, np.float16)
    row[0, : len(ring)] = ring
    median, mad = robust_centre(row)
    p50, p95, p99 = percentiles(row)
    mean, count = stats.week(slot)
    usual = float(stats.trusted_usual(slots, now)[0])
    first_at = snapshot["first_at"]
    return {
        **snapshot,
        "ring": {
            "samples": len(ring),
            "median_ms": _plain(median[0]),
            "mad_ms": _plain(mad[0]),
            "p50_ms": _plain(p50[0]),
            "p95_ms": _plain(p95[0]),
            "p99_ms": _plain(p99[0]),
        },
        "now": {
            "hour_of_week": int(hour_of_week(np.array([now]))[0]),
            "season": season_name(now),
            "usual_ms": _plain(usual),
        },
        "trusted_from": None if first_at is None else first_at + TRUSTED_AGE,
        "hours": [
            {
                "hour_of_week": bucket,
                "day": DAYS[bucket // 24],
                "hour": bucket % 24,
                "mean_ms": _plain(mean[bucket]),
                "samples": int(count[bucket]),
            }
            for bucket in range(HOURS_PER_WEEK)
        ],
    }


def _plain(value: Any) -> float | int | None:
    """A numpy scalar as JSON would have it: NaN as None, floats rounded."""
    if isinstance(value, np.integer):
        return int(value)
    number = float(value)
    return None if math.isnan(number) else round(number, 3)
