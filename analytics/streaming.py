"""Anomaly scores as results arrive, for every monitor of a shard at once.

``StreamingScores`` keeps, per slot of the shard, the state of the views of
``analytics.anomaly`` that need no counting (``running_likelihoods``): at
each of two speeds, the running prediction of latency and the usual size of
its error; a fast and a slow mean of latency and the usual step between
results; and for each of the three raw figures, the mean and variance of
its history (and, for the fast surprise, its short average). One batch of
results updates them with array operations, and each result's score is
exactly ``analytics.anomaly.running_scores`` for the same latency within
the monitor's series (a test holds it to that).

The pattern, range and time-of-day views need counts of what a monitor has
shown, which do not fit a shard of a million monitors, so they are scored
on demand from stored results (``analytics.reports``), not here.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from analytics.anomaly import DEFAULT, DetectorConfig, normal_cdf, running_weights

Slots = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

VIEWS: Final = 3
"""Fast surprise, slow surprise and level shift, in ``running_likelihoods``'s order."""

_STATE: Final = (
    "_predicted",
    "_usual",
    "_level",
    "_step",
    "_last",
    "_mean",
    "_variance",
    "_recent",
)


class StreamingScores:
    """Per-slot detector state: 15 floats and a count, 128 bytes a monitor."""

    BYTES_PER_SLOT: Final = 15 * 8 + 8

    def __init__(self, capacity: int, config: DetectorConfig = DEFAULT) -> None:
        self._config = config
        self._alphas = np.array([config.fast, config.slow])
        self._level_alphas = np.array([config.level_fast, config.level_slow])
        weights = np.array(running_weights(config))
        self._weights = weights / weights.sum()
        self._predicted = np.zeros((capacity, 2))
        self._usual = np.zeros((capacity, 2))
        self._level = np.zeros((capacity, 2))
        self._step = np.zeros(capacity)
        self._last = np.zeros(capacity)
        self._mean = np.zeros((capacity, VIEWS))
        self._variance = np.ones((capacity, VIEWS))
        self._recent = np.zeros(capacity)
        self._seen = np.zeros(capacity, np.int64)

    @property
    def capacity(self) -> int:
        return len(self._seen)

    def grow(self, capacity: int) -> None:
        """Room for ``capacity`` slots; the slots held keep their state."""
        old = self.capacity
        if capacity <= old:
            return
        for name in (*_STATE, "_seen"):
            array = getattr(self, name)
            grown = np.zeros((capacity, *array.shape[1:]), array.dtype)
            grown[:old] = array
            setattr(self, name, grown)

    def reset(self, slots: Slots) -> None:
        """Forget slots, for the new monitors that take them."""
        if len(slots):
            self.grow(int(slots.max()) + 1)
        self._seen[slots] = 0

    def update(self, slots: Slots, latency_ms: Floats) -> Floats:
        """The score of each latency, given in order, and the state after it.

        A slot may appear more than once: its values are taken in order, in
        rounds of distinct slots.
        """
        scores = np.empty(len(slots))
        if len(slots):
            self.grow(int(slots.max()) + 1)
        remaining = np.arange(len(slots))
        while len(remaining):
            _, first = np.unique(slots[remaining], return_index=True)
            taken = remaining[first]
            scores[taken] = self._step_once(slots[taken], latency_ms[taken])
            keep = np.ones(len(remaining), dtype=bool)
            keep[first] = False
            remaining = remaining[keep]
        return scores

    def _start(self, slots: Slots, value: Floats) -> None:
        """Fresh slots start where ``analytics.anomaly`` starts a series."""
        self._predicted[slots] = value[:, None]
        self._usual[slots] = np.abs(value)[:, None] * 0.01 + 1e-9
        self._level[slots] = value[:, None]
        self._step[slots] = np.abs(value) * 0.01 + 1e-9
        self._last[slots] = value
        # Every raw figure of a series' first row is 0, so its history
        # starts at 0 with a variance of 1.
        self._mean[slots] = 0.0
        self._variance[slots] = 1.0
        self._recent[slots] = 0.0

    def _step_once(self, slots: Slots, values: Floats) -> Floats:
        """One value for each of ``slots`` (distinct)."""
        config = self._config
        value = np.where(np.isfinite(values), values, 0.0)
        fresh = self._seen[slots] == 0
        if fresh.any():
            self._start(slots[fresh], value[fresh])
        raws = np.empty((len(slots), VIEWS))

        # Surprise at two speeds, against the prediction before this value.
        predicted = self._predicted[slots]
        error = np.abs(value[:, None] - predicted)
        usual = self._usual[slots]
        floor = 1e-3 * np.abs(predicted) + 1e-9
        raws[:, :2] = np.log1p(error / (usual + floor))
        self._predicted[slots] = predicted + self._alphas * (value[:, None] - predicted)
        self._usual[slots] = usual + config.error * (error - usual)

        # The level's shift: both means and the usual step include this value.
        level = self._level[slots]
        level += self._level_alphas * (value[:, None] - level)
        self._level[slots] = level
        step = np.abs(value - self._last[slots])
        usual_step = self._step[slots]
        usual_step += config.level_slow * (step - usual_step)
        self._step[slots] = usual_step
        self._last[slots] = value
        gap = np.abs(level[:, 0] - level[:, 1])
        raws[:, 2] = np.log1p(gap / (usual_step + 1e-9))

        # Each raw figure against its own history before it.
        recent = raws.copy()
        fast_recent = self._recent[slots]
        fast_recent += config.fast_short * (raws[:, 0] - fast_recent)
        self._recent[slots] = fast_recent
        recent[:, 0] = fast_recent
        mean = self._mean[slots]
        variance = self._variance[slots]
        likely = normal_cdf((recent - mean) / np.sqrt(variance + 1e-9))
        history = config.history
        self._variance[slots] = (1 - history) * variance + history * (raws - mean) ** 2
        self._mean[slots] = (1 - history) * mean + history * raws
        self._seen[slots] += 1
        scores: Floats = likely @ self._weights
        return scores
