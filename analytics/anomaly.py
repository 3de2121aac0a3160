"""Anomaly scores for a series of values, each from the values before it.

Several views of a series are scored, each view's raw figure is turned into
a likelihood, and the likelihoods are mixed:

1. **Surprise of the value.** An exponentially weighted mean predicts the
   next value, and an exponentially weighted mean of absolute errors says
   how far off predictions usually are; the surprise is the log of the error
   in those units. It is taken at two speeds (a fast mean follows changes
   within minutes, a slow one remembers the level of hours), so both a spike
   and a drift stand out.
2. **Novelty of the pattern.** Values are placed in bands of the range seen
   while learning (the first ``learn`` values; bands continue above and
   below it), and the last few bands form a pattern. A pattern seen ``n``
   times before has novelty ``1 / (1 + n)``. Several band counts and pattern
   lengths are scored and averaged, so both a coarse new shape and a fine
   one count.
3. **Shift of the level.** A fast and a slow mean of the values are
   compared, in units of the usual step between neighbouring values: a
   level that moves away from where it has been for hours stands out.
4. **Leaving the range.** How far a value lies beyond the highest or lowest
   value seen before it, in widths of that range.
5. **Rarity for the time of day** (only when timestamps are given). How
   seldom the value's band has been seen at this hour, against how often
   the hour has been seen.

Each raw figure becomes a likelihood (as in streaming detectors that score
their own errors): its recent mean against the mean and spread of its long
history, through the normal distribution, so a series that is always noisy
does not always alarm, and an unusual burst of surprise does. The
likelihoods are mixed as a weighted mean.

Last, one anomaly should ring once, not for every value it lasts. A score
counts fully only when it is the highest of the last ``quiet`` values and
no value in the ``ring_gap`` values before it counted fully; otherwise it is
halved. So a ramp of rising scores rings at its first value only.

Everything is causal: the score of row ``i`` depends on rows ``0..i`` only,
so scoring a prefix gives the same scores as scoring the whole series, and
the same result as a streaming detector fed one value at a time. The work is
array operations (linear filters, sorts, running maxima), about a million
values a second on one core.

The defaults were chosen by measuring the labelled series of the Numenta
Anomaly Benchmark (``python -m bench analytics``); one configuration serves
every series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.ndimage import maximum_filter1d
from scipy.signal import lfilter

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

FAR_BANDS: Final = 2
"""How many range-widths above or below the learnt range still get bands of
their own; values further out share the outermost band."""

SECONDS_A_DAY: Final = 86400


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """The settings of ``anomaly_scores``; see the module for what each does.

    ``patterns`` holds ``(levels, context, weight)``: the number of bands of
    the learnt range, the pattern length, and the pattern's share of the
    pattern view. The ``*_weight`` fields weigh the views in the mix.
    """

    fast: float = 0.1
    slow: float = 0.01
    error: float = 0.05
    history: float = 0.00015
    fast_short: float = 0.3
    patterns: tuple[tuple[int, int, float], ...] = (
        (12, 3, 0.6),
        (12, 2, 0.2),
        (20, 3, 0.2),
        (8, 4, 0.1),
    )
    learn: int = 300
    novelty_short: float = 0.2
    level_fast: float = 0.05
    level_slow: float = 0.002
    hours: int = 24
    hour_levels: int = 12
    fast_weight: float = 0.7
    slow_weight: float = 0.4
    level_weight: float = 1.0
    range_weight: float = 1.0
    hour_weight: float = 0.4
    quiet: int = 1000
    ring_gap: int = 10


DEFAULT: Final = DetectorConfig()


def _kernels() -> ModuleType:
    """``analytics.kernels``, imported on first use.

    numba costs about 50 MB and a fifth of a second in every process that
    imports it; shards import this module for its settings and
    ``normal_cdf`` and never score a whole series, so they never load it.
    """
    from analytics import kernels

    return kernels


def ewma(values: Floats, alpha: float, start: float | Floats) -> Floats:
    """``y[i] = (1 - alpha) * y[i - 1] + alpha * values[i]``, with ``y[-1] = start``.

    ``values`` may hold several series as rows, each with its own ``start``.
    """
    initial = (1.0 - alpha) * np.asarray(start, dtype=np.float64)
    filtered, _ = lfilter(
        [alpha], [1.0, alpha - 1.0], values, axis=-1, zi=initial[..., np.newaxis]
    )
    result: Floats = filtered
    return result


def before(values: Floats, first: float) -> Floats:
    """Each row's previous value, ``first`` for row 0: what was known then."""
    shifted: Floats = np.empty_like(values)
    shifted[..., 0] = first
    shifted[..., 1:] = values[..., :-1]
    return shifted


def value_surprise(values: Floats, alpha: float, error_alpha: float) -> Floats:
    """How far each value is from the running prediction, in usual errors (log).

    With ``predicted = before(ewma(values, alpha, start), start)``, the
    error ``|values - predicted|``, and its usual size ``before(ewma(error,
    error_alpha, e0), e0)`` starting at 1% of the first value (so the first
    rows are not divided by nothing): ``log1p(error / (usual + floor))``,
    where the floor is 0.1% of the prediction.
    """
    surprise: Floats = _kernels().surprise(values, alpha, error_alpha)
    return surprise


def likelihood(raw: Floats, history: float, short: float = 1.0) -> Floats:
    """How unusual each raw figure is against its own past, in [0, 1].

    The recent figure (an average over about ``1 / short`` rows) is compared
    with the long mean and spread (over about ``1 / history`` rows) of the
    rows before it, through the normal distribution.
    """
    scores: Floats = likelihoods(raw[np.newaxis, :], history, (short,))[0]
    return scores


def normal_cdf(z: Floats) -> Floats:
    """The standard normal distribution function, to within 2e-4.

    ``1 / (1 + exp(-(1.5976 z + 0.070566 z^3)))``, a logistic fit of the
    normal distribution, costs half of ``scipy.special.ndtr``, which was the
    largest cost of scoring a series. The steps work in place on one array.
    """
    cdf = z * z
    cdf *= 0.070566
    cdf += 1.5976
    cdf *= z
    np.negative(cdf, out=cdf)
    # Far below the mean the exponential overflows to infinity: 0, rightly.
    with np.errstate(over="ignore"):
        np.exp(cdf, out=cdf)
    cdf += 1.0
    np.reciprocal(cdf, out=cdf)
    return cdf


def likelihoods(raws: Floats, history: float, shorts: Sequence[float]) -> Floats:
    """``likelihood`` of every row of ``raws``, row ``k`` averaged by ``shorts[k]``.

    Row by row: ``recent = ewma(raw, short, raw[0])`` against ``mean =
    before(ewma(raw, history, raw[0]), raw[0])`` and ``variance =
    before(ewma((raw - mean) ** 2, history, 1), 1)``, as
    ``normal_cdf((recent - mean) / sqrt(variance))``.
    """
    found: Floats = _kernels().likelihood_rows(
        np.ascontiguousarray(raws, dtype=np.float64),
        history,
        np.asarray(shorts, dtype=np.float64),
    )
    return found


def bands(values: Floats, levels: int, learn: int) -> Ints:
    """The band of every value, from the range of the first ``learn`` values.

    Bands are numbered from 0; values beyond the learnt range by more than
    ``FAR_BANDS`` widths of it share the outermost bands.
    """
    return bands_of_range(values, levels, learnt_range(values, learn))


def learnt_range(values: Floats, learn: int) -> tuple[float, float, float]:
    """The low and high end of the first ``learn`` values, and a fallback width."""
    head = values[:learn]
    low, high = np.percentile(head, [2, 98])
    fallback = max(abs(float(np.mean(head))) * 0.01, 1e-9)
    return float(low), float(high), fallback


def bands_of_range(
    values: Floats, levels: int, learnt: tuple[float, float, float]
) -> Ints:
    """``bands`` for a range already learnt by ``learnt_range``."""
    low, high, fallback = learnt
    width = (high - low) / levels
    if width <= 0:
        width = fallback
    band = np.floor((values - low) / width)
    far = FAR_BANDS * levels
    clipped: Ints = (np.clip(band, -far, levels + far) + far).astype(np.int64)
    return clipped


def stable_order(codes: Ints) -> Ints:
    """The stable sorting order of ``codes``.

    Sorting 16 bits at a time (low half first, then the high half of the
    rows in that order) lets numpy use its radix sort, several times faster
    than a stable sort of 64-bit numbers. Codes outside ``[0, 2**32)`` are
    sorted the slow way.
    """
    if len(codes) == 0 or codes.min() < 0 or codes.max() >= 2**32:
        fallback: Ints = np.argsort(codes, kind="stable")
        return fallback
    order: Ints = np.argsort(codes.astype(np.uint16), kind="stable")
    high = (codes >> 16).astype(np.uint16)
    if high.any():
        order = order[np.argsort(high[order], kind="stable")]
    return order


def seen_before(codes: Ints) -> Ints:
    """For each row, how many earlier rows hold the same code.

    Codes from 0 to ``COUNTED_CODES`` are counted in one pass; others are
    ranked within runs of a stable sort.
    """
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    kernels = _kernels()
    low, high = int(codes.min()), int(codes.max())
    if low >= 0 and high < kernels.COUNTED_CODES:
        counted: Ints = kernels.seen_before(codes, high + 1)
        return counted
    order = stable_order(codes)
    ranked = codes[order]
    # Each sorted row's rank within its run of equal codes.
    first_of_run = np.ones(len(ranked), dtype=bool)
    first_of_run[1:] = ranked[1:] != ranked[:-1]
    positions = np.arange(len(ranked))
    run_start = np.maximum.accumulate(np.where(first_of_run, positions, 0))
    seen = np.empty(len(codes), dtype=np.int64)
    seen[order] = positions - run_start
    return seen


def pattern_novelty(band: Ints, context: int, base: int) -> Floats:
    """``1 / (1 + n)`` for a pattern of the last ``context`` bands seen ``n`` times."""
    code = np.zeros(len(band), dtype=np.int64)
    for lag in range(context):
        # Rows before the start see the ``base`` code, which no band has.
        lagged = np.full(len(band), base, dtype=np.int64)
        lagged[lag:] = band[: len(band) - lag]
        code = code * (base + 1) + lagged
    novelty: Floats = 1.0 / (1.0 + seen_before(code).astype(np.float64))
    return novelty


def level_shift(values: Floats, fast: float, slow: float) -> Floats:
    """How far a fast mean is from a slow one, in usual steps (log).

    ``log1p(|ewma(values, fast, v0) - ewma(values, slow, v0)| / (usual +
    1e-9))``, where the usual step is ``ewma(|diff(values)|, slow, s0)``,
    starting at 1% of the first value as errors do.
    """
    shift: Floats = _kernels().level_shift(values, fast, slow)
    return shift


def beyond_range(values: Floats) -> Floats:
    """How far each value lies outside all earlier values, in widths of their range."""
    start = float(values[0])
    high = before(np.maximum.accumulate(values), start)
    low = before(np.minimum.accumulate(values), start)
    width = high - low + 1e-9 * (np.abs(high) + np.abs(low)) + 1e-12
    outside: Floats = np.maximum(np.maximum(values - high, low - values), 0.0)
    return outside / width


def hour_rarity(seconds: Floats, band: Ints, hours: int) -> Floats:
    """How seldom a band has been seen at this hour of the day (log)."""
    hour = (seconds % SECONDS_A_DAY // (SECONDS_A_DAY // hours)).astype(np.int64)
    same = seen_before(hour * (int(band.max()) + 1) + band).astype(np.float64)
    hour_seen = seen_before(hour).astype(np.float64)
    rarity: Floats = -np.log10((same + 1.0) / (hour_seen + 2.0))
    return rarity


def previous_highest(scores: Floats, size: int) -> Floats:
    """The highest of the ``size`` rows before each row (0 before the first)."""
    highest: Floats = maximum_filter1d(
        before(scores, 0.0),
        size=size,
        origin=(size - 1) // 2,
        mode="constant",
        cval=0.0,
    )
    return highest


def ring_once(scores: Floats, quiet: int, gap: int) -> Floats:
    """Halve every score but the first of each new high, so an anomaly rings once."""
    new_high = scores > previous_highest(scores, quiet)
    rang_lately = previous_highest(new_high.astype(np.float64), gap) > 0.5
    rings = new_high & ~rang_lately
    quieted: Floats = np.clip(np.where(rings, scores, scores * 0.5), 0.0, 1.0)
    return quieted


def weighted_sum(weights: Sequence[float], rows: Floats) -> Floats:
    """``sum(weights[k] * rows[k])``, element by element in a fixed order.

    ``np.dot`` would hand this to BLAS, whose rounding depends on the length
    of the rows, so a prefix of a series would not score exactly as it does
    within the whole.
    """
    total: Floats = weights[0] * rows[0]
    for weight, row in zip(weights[1:], rows[1:], strict=True):
        total += weight * row
    return total


def running_weights(config: DetectorConfig) -> list[float]:
    """The weights of the views of ``running_likelihoods``, in its order."""
    return [config.fast_weight, config.slow_weight, config.level_weight]


def running_likelihoods(series: Floats, config: DetectorConfig) -> Floats:
    """The likelihoods of the views that need no counting: fast and slow
    surprise, and the shift of the level, one row each.

    Their state is a few numbers per series, so a shard keeps them for
    every monitor (``analytics.streaming``).
    """
    raws = np.stack(
        [
            value_surprise(series, config.fast, config.error),
            value_surprise(series, config.slow, config.error),
            level_shift(series, config.level_fast, config.level_slow),
        ]
    )
    found: Floats = likelihoods(raws, config.history, (config.fast_short, 1.0, 1.0))
    return found


def running_scores(values: npt.ArrayLike, config: DetectorConfig = DEFAULT) -> Floats:
    """The weighted mean of ``running_likelihoods``: what a shard scores."""
    series = np.asarray(values, dtype=np.float64)
    series = np.where(np.isfinite(series), series, 0.0)
    weights = running_weights(config)
    scores = weighted_sum(weights, running_likelihoods(series, config))
    return scores / sum(weights)


def anomaly_scores(
    values: npt.ArrayLike,
    config: DetectorConfig = DEFAULT,
    seconds: npt.ArrayLike | None = None,
) -> Floats:
    """An anomaly score in [0, 1] for every value, from the values before it.

    ``seconds`` (unix times of the values) adds the time-of-day view.
    """
    series = np.asarray(values, dtype=np.float64)
    if series.ndim != 1:
        raise ValueError(f"values: must be one series, got shape {series.shape}")
    if len(series) == 0:
        return np.zeros(0)
    series = np.where(np.isfinite(series), series, 0.0)
    history = config.history
    learn = min(config.learn, len(series))

    weights = running_weights(config)
    mixed = weighted_sum(weights, running_likelihoods(series, config))
    total = sum(weights)

    if len(series) > learn:
        # Bands are known only once the learning rows are in, so the views
        # built on them start from then on.
        learnt = learnt_range(series, learn)
        tail = series[learn:]
        raws = [beyond_range(series)[learn:]]
        shorts = [1.0]
        weights = [config.range_weight]
        for levels, context, weight in config.patterns:
            base = levels * (1 + 2 * FAR_BANDS) + 1
            band = bands_of_range(tail, levels, learnt)
            raws.append(pattern_novelty(band, context, base))
            shorts.append(config.novelty_short)
            weights.append(weight)
        if seconds is not None:
            times = np.asarray(seconds, dtype=np.float64)
            if times.shape != series.shape:
                raise ValueError(
                    f"seconds: must match values {series.shape}, got {times.shape}"
                )
            band = bands_of_range(series, config.hour_levels, learnt)
            rarity = hour_rarity(times, band, config.hours)
            raws.append(rarity[learn:])
            shorts.append(config.novelty_short)
            weights.append(config.hour_weight)
        mixed[learn:] += weighted_sum(
            weights, likelihoods(np.stack(raws), history, shorts)
        )

    # The views that start after the learning rows weigh in from the first
    # row, so a prefix is scored as the whole series is.
    total += config.range_weight + sum(weight for _, _, weight in config.patterns)
    if seconds is not None:
        total += config.hour_weight

    return ring_once(mixed / total, config.quiet, config.ring_gap)
