"""Streaming scores in a shard: the running views of the batch detector."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.anomaly import running_scores
from analytics.streaming import StreamingScores


def batch_value_scores(values: np.ndarray) -> np.ndarray:
    return running_scores(values)


def series(seed: int, rows: int = 1500) -> np.ndarray:
    values = 100 + np.random.default_rng(seed).normal(0, 5, rows)
    values[rows // 2] += 300
    return values


@pytest.mark.parametrize("batch", [1, 7, 500])
def test_streaming_scores_equal_the_batch_scores_however_they_arrive(
    batch: int,
) -> None:
    first, second = series(1), series(2)
    # Two monitors' results interleaved, as a shard's batches hold them.
    slots = np.tile(np.array([3, 8], dtype=np.int64), len(first))
    values = np.column_stack([first, second]).ravel()
    streaming = StreamingScores(2)

    scores = np.concatenate(
        [
            streaming.update(
                slots[start : start + batch], values[start : start + batch]
            )
            for start in range(0, len(values), batch)
        ]
    )

    np.testing.assert_allclose(scores[0::2], batch_value_scores(first), atol=1e-12)
    np.testing.assert_allclose(scores[1::2], batch_value_scores(second), atol=1e-12)


def test_a_slot_seen_twice_in_one_batch_takes_its_values_in_order() -> None:
    values = series(3, 40)
    streaming = StreamingScores(1)

    scores = streaming.update(np.zeros(40, dtype=np.int64), values)

    np.testing.assert_allclose(scores, batch_value_scores(values), atol=1e-12)


def test_a_reset_slot_starts_a_new_series() -> None:
    streaming = StreamingScores(1)
    streaming.update(np.zeros(100, dtype=np.int64), series(4, 100))
    fresh = series(5, 50)

    streaming.reset(np.array([0]))
    scores = streaming.update(np.zeros(50, dtype=np.int64), fresh)

    np.testing.assert_allclose(scores, batch_value_scores(fresh), atol=1e-12)


def test_every_score_is_between_0_and_1_and_a_spike_stands_out() -> None:
    values = series(6, 2000)
    streaming = StreamingScores(1)

    scores = streaming.update(np.zeros(2000, dtype=np.int64), values)

    assert scores.min() >= 0.0
    assert scores.max() <= 1.0
    assert scores[1000] > 0.9
    assert scores[1000] > np.delete(scores, 1000)[100:].max()
