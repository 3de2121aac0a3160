"""Scoring anomaly detectors the way the Numenta Anomaly Benchmark does.

``load_corpus`` reads the labelled series kept in ``bench/data/nab``;
``score_corpus`` scores one detector's outputs on them for a profile. The
rules, as the benchmark defines them:

1. The first ``min(15% of the rows, 750)`` rows of each series are its
   probation: nothing there is scored.
2. One threshold for the whole corpus: a row is a detection when its score
   is at or above it. The threshold used is the one that gives the highest
   total (every distinct score is tried, and detecting nothing; on a tie the
   highest threshold wins).
3. A window earns ``A_TP * sigma(y) / sigma(-1)`` for its earliest detection,
   with ``y = -(end - i + 1) / width`` and ``sigma(y) = 2 / (1 + e^(5y)) - 1``:
   all of it at the window's first row, almost nothing at its last. Later
   detections in the window add nothing; a window with none costs ``A_FN``.
4. A detection outside every window costs ``A_FP * sigma((i - end') /
   (width' - 1))`` after a window that ended at ``end'`` (almost nothing
   just after it, the whole ``A_FP`` a few widths later), and the whole
   ``A_FP`` before the first window.
5. The corpus total ``S`` is normalised as ``100 * (S - S_null) /
   (S_perfect - S_null)``, where detecting every window at its start gives
   ``S_perfect = A_TP * windows`` and detecting nothing ``S_null = -A_FN *
   windows``.

The best threshold is found without trying each one in turn: the total is a
step function of the threshold, so every row and window contributes its
steps as (threshold, change) pairs, and one sort and one cumulative sum
give the total at every candidate.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

DATA: Final = Path(__file__).resolve().parent / "data" / "nab"

PROBATION_SHARE: Final = 0.15
PROBATION_MAX: Final = 750

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Profile:
    """The weights of a true positive, a false positive and a false negative."""

    name: str
    true_positive: float
    false_positive: float
    false_negative: float


PROFILES: Final = (
    Profile("standard", 1.0, 0.11, 1.0),
    Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
)


@dataclass(frozen=True, slots=True)
class Series:
    """One labelled series: its values, their times, and its anomaly windows.

    ``windows`` are pairs of row indices, both inclusive.
    """

    name: str
    timestamps: npt.NDArray[np.datetime64]
    values: Floats
    windows: tuple[tuple[int, int], ...]

    @property
    def probation(self) -> int:
        return min(math.floor(PROBATION_SHARE * len(self.values)), PROBATION_MAX)

    @property
    def seconds(self) -> Floats:
        """The timestamps as unix seconds."""
        return self.timestamps.astype("datetime64[s]").astype(np.float64)


def load_corpus(folder: Path = DATA) -> list[Series]:
    """Every series of the corpus, in the order of its windows file."""
    labels: Mapping[str, list[list[str]]] = json.loads(
        (folder / "windows.json").read_text(encoding="utf-8")
    )
    corpus = []
    for name, windows in labels.items():
        table = np.genfromtxt(
            folder / name,
            delimiter=",",
            skip_header=1,
            dtype=[("timestamp", "datetime64[s]"), ("value", np.float64)],
            converters={0: lambda text: np.datetime64(text.strip())},
            encoding="utf-8",
        )
        timestamps = table["timestamp"]
        spans = []
        for start, end in windows:
            first = int(np.searchsorted(timestamps, np.datetime64(start, "s")))
            last = int(np.searchsorted(timestamps, np.datetime64(end, "s"), "right"))
            spans.append((first, last - 1))
        corpus.append(Series(name, timestamps, table["value"], tuple(spans)))
    return corpus


@dataclass(frozen=True, slots=True)
class Result:
    """A detector's score on the corpus for one profile, at its best threshold."""

    profile: str
    score: float
    threshold: float
    raw: float
    detected: int
    windows: int
    false_positives: int


def sigma(y: Floats | float) -> Any:
    return 2.0 / (1.0 + np.exp(5.0 * np.asarray(y))) - 1.0


def _steps(
    series: Series, scores: Floats, profile: Profile
) -> tuple[list[Floats], list[Floats]]:
    """The (threshold, change of total) pairs one series contributes.

    A pair ``(t, d)`` means: at any threshold ``<= t`` the total has ``d``
    more than just above ``t``.
    """
    count = len(scores)
    scored = np.arange(count) >= series.probation
    inside = np.zeros(count, dtype=bool)
    for first, last in series.windows:
        inside[first : last + 1] = True

    # Rows outside the windows: each costs what its place says when detected.
    cost = np.full(count, -profile.false_positive)
    followers = [first for first, _ in series.windows[1:]] + [count][
        : len(series.windows)
    ]
    for (first, end), following in zip(series.windows, followers, strict=True):
        width = end - first + 1
        rows = np.arange(end + 1, following)
        cost[rows] = profile.false_positive * sigma((rows - end) / max(width - 1, 1))
    outside = scored & ~inside
    thresholds = [scores[outside]]
    changes = [cost[outside]]

    # Each window: its value is the weight of the earliest row at or above
    # the threshold, so it changes only where the running maximum rises.
    for first, last in series.windows:
        first = max(first, series.probation)
        if first > last:
            continue
        window = scores[first : last + 1]
        running = np.maximum.accumulate(window)
        rises = np.flatnonzero(np.r_[True, running[1:] > running[:-1]])
        width = last - first + 1
        rows = first + rises
        weights = (
            profile.true_positive * sigma(-(last - rows + 1) / width) / sigma(-1.0)
        )
        values = running[rises]
        # Just below the highest score the earliest detection is the row of
        # that score; below each lower rise, that lower row is earliest.
        deltas = np.empty_like(weights)
        deltas[-1] = weights[-1] + profile.false_negative
        deltas[:-1] = weights[:-1] - weights[1:]
        thresholds.append(values)
        changes.append(deltas)
    return thresholds, changes


def score_corpus(
    corpus: Sequence[Series], outputs: Sequence[Floats], profile: Profile
) -> Result:
    """The normalised score of one detector's ``outputs`` (one array a series)."""
    thresholds: list[Floats] = []
    changes: list[Floats] = []
    windows = 0
    for series, scores in zip(corpus, outputs, strict=True):
        got = np.asarray(scores, dtype=np.float64)
        if got.shape != series.values.shape:
            raise ValueError(
                f"outputs: {series.name} has {len(series.values)} rows, "
                f"got {got.shape} scores"
            )
        found_t, found_c = _steps(series, got, profile)
        thresholds.extend(found_t)
        changes.extend(found_c)
        windows += len(series.windows)
    null = -profile.false_negative * windows
    perfect = profile.true_positive * windows
    every_t = np.concatenate(thresholds)
    every_c = np.concatenate(changes)
    order = np.argsort(-every_t, kind="stable")
    ranked_t = every_t[order]
    totals = null + np.cumsum(every_c[order])
    # A threshold is only as good as all the steps at its value together.
    last_of_value = np.r_[ranked_t[1:] != ranked_t[:-1], True]
    candidates_t = np.r_[np.inf, ranked_t[last_of_value]]
    candidates = np.r_[null, totals[last_of_value]]
    best = int(np.argmax(candidates))
    threshold = float(candidates_t[best])
    raw = float(candidates[best])
    detected, false_positives = _counts(corpus, outputs, threshold)
    return Result(
        profile=profile.name,
        score=100.0 * (raw - null) / (perfect - null),
        threshold=threshold,
        raw=raw,
        detected=detected,
        windows=windows,
        false_positives=false_positives,
    )


def _counts(
    corpus: Sequence[Series], outputs: Sequence[Floats], threshold: float
) -> tuple[int, int]:
    """Windows detected and detections outside windows, at ``threshold``."""
    detected = 0
    false_positives = 0
    for series, scores in zip(corpus, outputs, strict=True):
        hits = np.asarray(scores) >= threshold
        hits[: series.probation] = False
        inside = np.zeros(len(hits), dtype=bool)
        for first, last in series.windows:
            inside[first : last + 1] = True
            detected += bool(hits[max(first, series.probation) : last + 1].any())
        false_positives += int((hits & ~inside).sum())
    return detected, false_positives


Detector = Callable[[Series], Floats]
"""Scores one series in [0, 1], each row from the rows before it only."""


def score_detector(
    corpus: Sequence[Series], detector: Detector
) -> tuple[dict[str, Result], list[Floats]]:
    """A detector's results for every profile, and its outputs."""
    outputs = [detector(series) for series in corpus]
    return {p.name: score_corpus(corpus, outputs, p) for p in PROFILES}, outputs
