"""Latency trends, threshold crossings and certificate expiry forecasts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from analytics.trends import (
    DAY,
    MAX_POINTS,
    MIN_POINTS,
    Trend,
    certificate_expiry,
    crossing_time,
    latency_trend,
)

START = 1_800_000_000.0
HOUR = 3600.0


def line(
    slope: float,
    *,
    days: float = 60.0,
    count: int = 1440,
    noise: float = 0.0,
    outliers: float = 0.0,
    seed: int = 7,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Latency rising ``slope`` ms a day from 100 ms, with noise and outliers.

    ``outliers`` is the share of samples replaced by a timeout-like 2 s.
    """
    rng = np.random.default_rng(seed)
    at = START + np.linspace(0.0, days * DAY, count)
    latency = 100.0 + slope * (at - START) / DAY + rng.normal(0.0, noise, count)
    latency[rng.random(count) < outliers] = 2000.0
    return at, latency


def fitted(trend: Trend) -> Trend:
    assert trend.enough, trend.note
    return trend


@pytest.mark.parametrize("slope", [2.0, 0.5, -1.0])
def test_a_noisy_line_with_outliers_gives_a_slope_near_the_truth(
    slope: float,
) -> None:
    at, latency = line(slope, noise=10.0, outliers=0.05)

    trend = fitted(latency_trend(at, latency))

    assert trend.slope == pytest.approx(slope, abs=0.1)
    assert trend.slope_low <= slope <= trend.slope_high
    assert trend.value_at(START) == pytest.approx(100.0, abs=3.0)
    assert trend.points == trend.samples == 1440
    assert trend.note == ""


@pytest.mark.parametrize(
    ("threshold", "now_day", "expected_day"),
    [
        pytest.param(200.0, 30.0, 50.0, id="ahead"),
        pytest.param(100.5, 0.0, 0.25, id="soon"),
        pytest.param(150.0, 30.0, None, id="already-above"),
        pytest.param(160.0, 30.0, None, id="exactly-at-the-threshold"),
    ],
)
def test_crossing_time_is_where_the_line_meets_the_threshold(
    threshold: float, now_day: float, expected_day: float | None
) -> None:
    at, latency = line(2.0, days=20.0, count=200)
    trend = fitted(latency_trend(at, latency))

    crossing = crossing_time(trend, threshold, START + now_day * DAY)

    if expected_day is None:
        assert crossing is None
    else:
        assert crossing == pytest.approx(START + expected_day * DAY)


@pytest.mark.parametrize(
    ("slope", "noise"),
    [
        pytest.param(0.0, 0.0, id="flat"),
        pytest.param(0.0, 20.0, id="flat-and-noisy"),
        pytest.param(-2.0, 5.0, id="falling"),
        pytest.param(0.05, 200.0, id="rise-lost-in-the-noise"),
    ],
)
def test_a_line_that_is_not_surely_rising_never_crosses(
    slope: float, noise: float
) -> None:
    at, latency = line(slope, days=10.0, count=100, noise=noise)
    trend = fitted(latency_trend(at, latency))

    assert crossing_time(trend, 10_000.0, START + 10 * DAY) is None
    assert not trend.slope_low > 0


@pytest.mark.parametrize(
    ("count", "missing", "note"),
    [
        pytest.param(0, 0, f"needs {MIN_POINTS} latency samples, got 0", id="none"),
        pytest.param(9, 0, f"needs {MIN_POINTS} latency samples, got 9", id="nine"),
        pytest.param(
            12, 3, f"needs {MIN_POINTS} latency samples, got 9", id="failed-checks"
        ),
    ],
)
def test_too_few_points_give_a_trend_that_says_so(
    count: int, missing: int, note: str
) -> None:
    at, latency = line(1.0, days=1.0, count=count)
    latency[:missing] = math.nan

    trend = latency_trend(at, latency)

    assert not trend.enough
    assert trend.note == note
    assert math.isnan(trend.slope)
    assert trend.to_dict()["slope"] is None
    assert crossing_time(trend, 1.0, START) is None


def test_samples_all_at_one_moment_give_no_trend() -> None:
    at = np.full(20, START)

    trend = latency_trend(at, np.linspace(100.0, 200.0, 20))

    assert not trend.enough
    assert "one moment" in trend.note


def test_downsampling_a_long_series_keeps_the_answer() -> None:
    at, latency = line(3.0, days=90.0, count=20_000, noise=15.0, outliers=0.02)

    trend = fitted(latency_trend(at, latency))

    assert trend.points == MAX_POINTS
    assert trend.samples == 20_000
    assert trend.note == f"thinned evenly from 20000 to {MAX_POINTS} samples"
    assert trend.origin == START
    assert trend.slope == pytest.approx(3.0, abs=0.1)


def test_samples_out_of_order_fit_the_same_line() -> None:
    at, latency = line(2.0, count=300, noise=5.0)
    shuffled = np.random.default_rng(3).permutation(300)

    ordered = latency_trend(at, latency)
    unordered = latency_trend(at[shuffled], latency[shuffled])

    assert unordered == ordered


def days_left(
    expiry_day: float, observed_days: NDArray[np.float64]
) -> NDArray[np.float64]:
    return np.floor(expiry_day - observed_days)


@pytest.mark.parametrize(
    ("observed", "renewed_day"),
    [
        pytest.param(
            days_left(30.0, np.arange(0.0, 20.0, 0.25)),
            None,
            id="steady-countdown",
        ),
        pytest.param(
            np.concatenate(
                [
                    days_left(12.0, np.arange(0.0, 10.0, 0.25)),
                    days_left(100.0, np.arange(10.0, 20.0, 0.25)),
                ]
            ),
            10.0,
            id="renewed-once",
        ),
        pytest.param(
            np.concatenate(
                [
                    days_left(5.0, np.arange(0.0, 4.0, 0.25)),
                    days_left(60.0, np.arange(4.0, 8.0, 0.25)),
                    days_left(90.0, np.arange(8.0, 20.0, 0.25)),
                ]
            ),
            8.0,
            id="renewed-twice",
        ),
    ],
)
def test_certificate_expiry_follows_the_latest_check_and_spots_renewals(
    observed: NDArray[np.float64], renewed_day: float | None
) -> None:
    at = START + np.arange(0.0, 20.0, 0.25) * DAY

    forecast = certificate_expiry(at, observed)

    assert forecast.expires_at == START + (19.75 + observed[-1]) * DAY
    assert forecast.days_left == observed[-1]
    assert forecast.renewed is (renewed_day is not None)
    if renewed_day is None:
        assert forecast.renewed_at is None
    else:
        assert forecast.renewed_at == START + renewed_day * DAY


def test_a_certificate_warning_is_due_days_before_expiry() -> None:
    at = np.array([START, START + DAY, START + 2 * DAY])

    forecast = certificate_expiry(at, np.array([32.0, 31.0, 30.0]))

    assert forecast.expires_at == START + 32 * DAY
    assert forecast.warn_at(14) == START + 18 * DAY
    assert forecast.warn_at(0) == forecast.expires_at
    with pytest.raises(ValueError, match="negative"):
        forecast.warn_at(-1)


def test_checks_without_a_certificate_are_skipped() -> None:
    at = np.array([START, START + HOUR, START + 2 * HOUR])

    forecast = certificate_expiry(at, np.array([40.0, math.nan, 39.9]))

    assert forecast.observed_at == START + 2 * HOUR
    assert not forecast.renewed


def test_certificate_expiry_needs_an_observation() -> None:
    with pytest.raises(ValueError, match="no check reported"):
        certificate_expiry(np.array([START]), np.array([math.nan]))
