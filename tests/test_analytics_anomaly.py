"""Anomaly scores: causal, in [0, 1], high where a series does something new."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.anomaly import anomaly_scores
from bench.nab import load_corpus


def daily(rows: int, seed: int = 3) -> np.ndarray:
    """A daily curve of five-minute values with a little noise."""
    rng = np.random.default_rng(seed)
    hours = np.arange(rows) / 12.0
    return 100 + 30 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 2, rows)


@pytest.mark.parametrize("prefix", [1, 2, 50, 299, 300, 301, 302, 1500, 2999])
def test_a_prefix_scores_as_it_does_within_the_whole_series(prefix: int) -> None:
    values = daily(3000)
    values[2000:2010] += 80

    seconds = 1_700_000_000.0 + 300.0 * np.arange(len(values))

    whole = anomaly_scores(values)
    timed = anomaly_scores(values, seconds=seconds)

    assert np.array_equal(anomaly_scores(values[:prefix]), whole[:prefix])
    assert np.array_equal(
        anomaly_scores(values[:prefix], seconds=seconds[:prefix]), timed[:prefix]
    )


def test_every_score_is_between_0_and_1() -> None:
    for series in load_corpus()[:6]:
        scores = anomaly_scores(series.values)
        assert scores.min() >= 0.0
        assert scores.max() <= 1.0


def usual(scores: np.ndarray) -> float:
    """The 99th percentile of scores once the detector has learnt the series."""
    return float(np.quantile(scores[1000:2990], 0.99))


def test_a_spike_scores_far_above_the_usual_noise() -> None:
    values = daily(4000)
    values[3000] += 150

    scores = anomaly_scores(values)

    assert scores[3000] > 2 * usual(scores)


def test_a_shift_to_a_new_level_is_scored_high_soon_after_it() -> None:
    values = daily(4000)
    values[3000:] += 200

    scores = anomaly_scores(values)

    assert scores[3000:3010].max() > 2 * usual(scores)


def test_most_scores_of_a_steady_series_stay_low() -> None:
    scores = anomaly_scores(daily(4000))

    assert usual(scores) < 0.35


def test_values_that_are_not_numbers_count_as_zero() -> None:
    values = daily(500)
    values[100] = np.nan

    scores = anomaly_scores(values)

    assert np.isfinite(scores).all()


def test_anything_but_one_series_is_refused() -> None:
    with pytest.raises(ValueError, match="values: must be one series"):
        anomaly_scores(np.zeros((3, 3)))
    assert len(anomaly_scores([])) == 0


def test_timestamps_must_match_the_values() -> None:
    with pytest.raises(ValueError, match="seconds: must match values"):
        anomaly_scores(daily(400), seconds=np.arange(399.0))


def test_a_value_usual_overall_but_not_at_its_hour_scores_higher_with_times() -> None:
    rows = 12 * 24 * 14
    values = daily(rows)
    seconds = 1_700_006_400.0 + 300.0 * np.arange(rows)
    # The night's low level, at midday of the last day, for an hour.
    values[-150:-138] = values[-150 - 144 : -138 - 144]

    plain = anomaly_scores(values)
    timed = anomaly_scores(values, seconds=seconds)

    assert timed[-150:-138].max() > plain[-150:-138].max()
