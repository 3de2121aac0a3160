"""Anomaly scores as results arrive, for every monitor of a shard at once.

``StreamingScores`` keeps, per slot of the shard, the state of the value
part of ``analytics.anomaly``: at each of two speeds, the running prediction
of latency, the usual size of its error, and the mean and variance of the
surprise. One batch of results updates them with array operations, and
each result's score is exactly the value score ``analytics.anomaly`` gives
the same latency within the monitor's series (a test holds it to that).

The pattern-novelty part needs a count of every pattern a monitor has
shown, which does not fit a shard of a million monitors, so streaming
scores are the value part alone; ``analytics.anomaly`` gives both.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from analytics.anomaly import DEFAULT, DetectorConfig

Slots = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

SPEEDS: Final = 2
"""The prediction speeds, in the order ``(config.fast, config.slow)``."""


class StreamingScores:
    """Per-slot detector state: 8 floats and a count, 72 bytes a monitor."""

    BYTES_PER_SLOT: Final = 4 * SPEEDS * 8 + 8

    def __init__(self, capacity: int, config: DetectorConfig = DEFAULT) -> None:
        self._alphas = np.array([config.fast, config.slow])
        self._error = config.error
        self._history = config.history
        self._predicted = np.zeros((capacity, SPEEDS))
        self._usual = np.zeros((capacity, SPEEDS))
        self._mean = np.zeros((capacity, SPEEDS))
        self._variance = np.ones((capacity, SPEEDS))
        self._seen = np.zeros(capacity, np.int64)

    @property
    def capacity(self) -> int:
        return len(self._seen)

    def grow(self, capacity: int) -> None:
        """Room for ``capacity`` slots; the slots held keep their state."""
        if capacity <= self.capacity:
            return
        extra = capacity - self.capacity
        self._predicted = np.vstack([self._predicted, np.zeros((extra, SPEEDS))])
        self._usual = np.vstack([self._usual, np.zeros((extra, SPEEDS))])
        self._mean = np.vstack([self._mean, np.zeros((extra, SPEEDS))])
        self._variance = np.vstack([self._variance, np.ones((extra, SPEEDS))])
        self._seen = np.r_[self._seen, np.zeros(extra, np.int64)]

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
            scores[taken] = self._step(slots[taken], latency_ms[taken])
            keep = np.ones(len(remaining), dtype=bool)
            keep[first] = False
            remaining = remaining[keep]
        return scores

    def _step(self, slots: Slots, values: Floats) -> Floats:
        """One value for each of ``slots`` (distinct)."""
        value = np.where(np.isfinite(values), values, 0.0)[:, None]
        fresh = self._seen[slots] == 0
        # A fresh slot starts where ``analytics.anomaly`` starts a series.
        if fresh.any():
            starting = slots[fresh]
            first = value[fresh]
            self._predicted[starting] = first
            self._usual[starting] = np.abs(first) * 0.01 + 1e-9
            self._mean[starting] = 0.0
            self._variance[starting] = 1.0

        predicted = self._predicted[slots]
        error = np.abs(value - predicted)
        usual = self._usual[slots]
        floor = 1e-3 * np.abs(predicted) + 1e-9
        surprise = np.log1p(error / (usual + floor))
        mean = self._mean[slots]
        variance = self._variance[slots]
        score = ndtr((surprise - mean) / np.sqrt(variance + 1e-9))

        alphas = self._alphas
        self._predicted[slots] = (1 - alphas) * predicted + alphas * value
        self._usual[slots] = (1 - self._error) * usual + self._error * error
        history = self._history
        new_mean = (1 - history) * mean + history * surprise
        self._mean[slots] = new_mean
        self._variance[slots] = (1 - history) * variance + history * (
            surprise - mean
        ) ** 2
        self._seen[slots] += 1
        scores: Floats = score.mean(axis=1)
        return scores
