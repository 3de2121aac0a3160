"""Anomaly scores for a series of values, each from the values before it.

Two views of a series are scored and mixed:

1. **Surprise of the value.** An exponentially weighted mean predicts the
   next value, and an exponentially weighted mean of absolute errors says
   how far off predictions usually are; the surprise is the log of the error
   in those units. It is taken at two speeds (a fast mean follows changes
   within minutes, a slow one remembers the level of hours), so both a spike
   and a drift stand out.
2. **Novelty of the pattern.** Values are placed in ``levels`` bands of the
   range seen while learning (the first ``learn`` values; bands continue
   above and below it), and the last ``context`` bands form a pattern. A
   pattern seen ``n`` times before has novelty ``1 / (1 + n)``: a new shape
   of the curve, or the usual shape at a new level, is novel.

Each view's raw figure becomes a likelihood (as in streaming detectors that
score their own errors): its latest value against the mean and spread of
its long history, through the normal distribution, so a series that is
always noisy does not always alarm, and an unusual burst of surprise does.
The two likelihoods are mixed by ``novelty_weight``. Last, a score counts
fully only when it is the highest for ``quiet`` values; otherwise it is
halved, so one anomaly rings once rather than for every value it lasts.

Everything is causal: the score of row ``i`` depends on rows ``0..i`` only,
so scoring a prefix gives the same scores as scoring the whole series, and
the same result as a streaming detector fed one value at a time. The work is
array operations (linear filters, sorts, running maxima), about three
million values a second on one core.

The defaults were chosen by measuring the Numenta Anomaly Benchmark's
labelled series (``python -m bench analytics``); one configuration serves
every series.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.ndimage import maximum_filter1d
from scipy.signal import lfilter
from scipy.special import ndtr

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

FAR_BANDS: Final = 2
"""How many range-widths above or below the learnt range still get bands of
their own; values further out share the outermost band."""


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """The settings of ``anomaly_scores``; see the module for what each does."""

    fast: float = 0.1
    slow: float = 0.01
    error: float = 0.05
    history: float = 0.0003
    levels: int = 12
    context: int = 3
    learn: int = 300
    novelty_short: float = 0.2
    novelty_weight: float = 0.6
    quiet: int = 1000


DEFAULT: Final = DetectorConfig()


def ewma(values: Floats, alpha: float, start: float) -> Floats:
    """``y[i] = (1 - alpha) * y[i - 1] + alpha * values[i]``, with ``y[-1] = start``."""
    filtered, _ = lfilter(
        [alpha], [1.0, alpha - 1.0], values, zi=[(1.0 - alpha) * start]
    )
    result: Floats = filtered
    return result


def before(values: Floats, first: float) -> Floats:
    """Each row's previous value, ``first`` for row 0: what was known then."""
    shifted: Floats = np.r_[first, values[:-1]]
    return shifted


def value_surprise(values: Floats, alpha: float, error_alpha: float) -> Floats:
    """How far each value is from the running prediction, in usual errors (log)."""
    start = float(values[0])
    predicted = before(ewma(values, alpha, start), start)
    error = np.abs(values - predicted)
    # Errors start at 1% of the first value, so the first rows are not
    # divided by nothing.
    first_error = abs(start) * 0.01 + 1e-9
    usual = before(ewma(error, error_alpha, first_error), first_error)
    floor = 1e-3 * np.abs(predicted) + 1e-9
    surprise: Floats = np.log1p(error / (usual + floor))
    return surprise


def likelihood(raw: Floats, history: float, short: float = 1.0) -> Floats:
    """How unusual each raw figure is against its own past, in [0, 1].

    The recent figure (an average over about ``1 / short`` rows) is compared
    with the long mean and spread (over about ``1 / history`` rows) of the
    rows before it, through the normal distribution.
    """
    recent = ewma(raw, short, float(raw[0]))
    mean = before(ewma(raw, history, float(raw[0])), float(raw[0]))
    variance = before(ewma((raw - mean) ** 2, history, 1.0), 1.0)
    scores: Floats = ndtr((recent - mean) / np.sqrt(variance + 1e-9))
    return scores


def bands(values: Floats, levels: int, learn: int) -> Ints:
    """The band of every value, from the range of the first ``learn`` values.

    Bands are numbered from 0; values beyond the learnt range by more than
    ``FAR_BANDS`` widths of it share the outermost bands.
    """
    head = values[:learn]
    low, high = np.percentile(head, [2, 98])
    width = (high - low) / levels
    if width <= 0:
        width = max(abs(float(np.mean(head))) * 0.01, 1e-9)
    band = np.floor((values - low) / width)
    far = FAR_BANDS * levels
    clipped: Ints = (np.clip(band, -far, levels + far) + far).astype(np.int64)
    return clipped


def seen_before(codes: Ints) -> Ints:
    """For each row, how many earlier rows hold the same code."""
    order = np.argsort(codes, kind="stable")
    ranked = codes[order]
    starts = np.r_[0, np.flatnonzero(ranked[1:] != ranked[:-1]) + 1]
    sizes = np.diff(np.r_[starts, len(ranked)])
    rank = np.arange(len(ranked)) - np.repeat(starts, sizes)
    seen = np.empty(len(codes), dtype=np.int64)
    seen[order] = rank
    return seen


def pattern_novelty(band: Ints, context: int, base: int) -> Floats:
    """``1 / (1 + n)`` for a pattern of the last ``context`` bands seen ``n`` times."""
    code = np.zeros(len(band), dtype=np.int64)
    for lag in range(context):
        lagged = np.r_[np.full(lag, base), band][: len(band)]
        code = code * (base + 1) + lagged
    novelty: Floats = 1.0 / (1.0 + seen_before(code).astype(np.float64))
    return novelty


def anomaly_scores(values: npt.ArrayLike, config: DetectorConfig = DEFAULT) -> Floats:
    """An anomaly score in [0, 1] for every value, from the values before it."""
    series = np.asarray(values, dtype=np.float64)
    if series.ndim != 1:
        raise ValueError(f"values: must be one series, got shape {series.shape}")
    if len(series) == 0:
        return np.zeros(0)
    series = np.where(np.isfinite(series), series, 0.0)
    surprises = [
        likelihood(value_surprise(series, alpha, config.error), config.history)
        for alpha in (config.fast, config.slow)
    ]
    value_score = np.mean(surprises, axis=0)

    learn = min(config.learn, len(series))
    novelty_score = np.zeros(len(series))
    if len(series) > learn:
        # Bands are known only once the learning rows are in, so patterns
        # are counted from then on.
        base = config.levels * (1 + 2 * FAR_BANDS) + 1
        band = bands(series, config.levels, learn)
        novel = pattern_novelty(band[learn:], config.context, base)
        novelty_score[learn:] = likelihood(novel, config.history, config.novelty_short)
    weight = config.novelty_weight
    scores = (1.0 - weight) * value_score + weight * novelty_score

    highest = maximum_filter1d(
        scores,
        size=config.quiet,
        origin=(config.quiet - 1) // 2,
        mode="constant",
        cval=0.0,
    )
    rings = scores > before(highest, 0.0)
    quieted: Floats = np.clip(np.where(rings, scores, scores * 0.5), 0.0, 1.0)
    return quieted
