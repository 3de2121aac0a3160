"""SLOs: validation, error budget arithmetic, burn rates and burn-rate alerts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from analytics.slo import (
    BURN_ALERTS,
    DAY,
    Objective,
    Slo,
    budget,
    burn_alerts,
    burn_rate,
    slo_from_dict,
)
from engine.errors import ValidationError

HOUR = 3600.0
MINUTE = 60.0
NOW = 1_800_000_000.0
CHECKS = 1000
"""Checks per bucket in the made-up series."""

Series = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]


def slo(target: float = 99.9, window: str = "30d") -> Slo:
    return slo_from_dict(
        {
            "id": "checkout",
            "monitors": ["api"],
            "objective": {"kind": "availability", "target": target},
            "window": window,
        }
    )


def series(
    length: float,
    bucket: float,
    errors: list[tuple[float, float, float]],
) -> Series:
    """Buckets of ``CHECKS`` checks covering ``length`` seconds before ``NOW``.

    Each ``(start_ago, end_ago, share)`` makes that share of checks fail in
    the buckets that start between ``start_ago`` and ``end_ago`` seconds
    before now; a later entry overrides an earlier one.
    """
    at = np.arange(NOW - length, NOW, bucket)
    total = np.full(at.shape, float(CHECKS))
    bad = np.zeros(at.shape)
    for start_ago, end_ago, share in errors:
        inside = (at >= NOW - start_ago) & (at < NOW - end_ago)
        bad[inside] = round(share * CHECKS)
    return at, total - bad, total


def problems(data: Any) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        slo_from_dict(data)
    return {(error.field, error.problem) for error in caught.value.errors}


VALID: dict[str, Any] = {
    "id": "checkout",
    "monitors": ["api"],
    "objective": {"kind": "availability", "target": 99.9},
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"objective": {"kind": "latency", "threshold_ms": 300, "target": 95}},
            Objective("latency", 95.0, 300.0),
            id="latency",
        ),
        pytest.param({}, Objective("availability", 99.9), id="availability"),
    ],
)
def test_a_valid_slo_reads_back_the_objective_and_round_trips(
    changes: dict[str, Any], expected: Objective
) -> None:
    read = slo_from_dict({**VALID, **changes})

    assert read.objective == expected
    assert read.window == 30 * DAY
    assert read.name == "checkout"
    assert slo_from_dict(read.to_dict()) == read


def test_an_slo_covers_monitors_named_by_id_or_by_tag() -> None:
    read = slo_from_dict({**VALID, "tags": ["shop"]})

    assert read.covers("api", [])
    assert read.covers("web", ["shop", "eu"])
    assert not read.covers("web", ["blog"])


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        pytest.param({"id": "no spaces"}, {"id"}, id="bad-id"),
        pytest.param({"monitors": []}, {"monitors"}, id="nothing-covered"),
        pytest.param({"monitors": ["ok", 3]}, {"monitors[1]"}, id="bad-monitor"),
        pytest.param({"window": "30m"}, {"window"}, id="window-too-short"),
        pytest.param({"window": "91d"}, {"window"}, id="window-too-long"),
        pytest.param({"window": "soon"}, {"window"}, id="window-not-a-duration"),
        pytest.param({"colour": "red"}, {"colour"}, id="unknown-field"),
        pytest.param({"objective": None}, {"objective"}, id="objective-missing"),
        pytest.param(
            {"objective": {"kind": "uptime", "target": 99}},
            {"objective.kind"},
            id="unknown-kind",
        ),
        pytest.param(
            {"objective": {"kind": "availability", "target": 100}},
            {"objective.target"},
            id="target-100",
        ),
        pytest.param(
            {"objective": {"kind": "availability", "target": 0}},
            {"objective.target"},
            id="target-0",
        ),
        pytest.param(
            {"objective": {"kind": "availability", "target": True}},
            {"objective.target"},
            id="target-not-a-number",
        ),
        pytest.param(
            {"objective": {"kind": "latency", "target": 95}},
            {"objective.threshold_ms"},
            id="latency-without-threshold",
        ),
        pytest.param(
            {"objective": {"kind": "latency", "target": 95, "threshold_ms": -1}},
            {"objective.threshold_ms"},
            id="negative-threshold",
        ),
        pytest.param(
            {"objective": {"kind": "availability", "target": 99, "threshold_ms": 9}},
            {"objective.threshold_ms"},
            id="availability-with-threshold",
        ),
        pytest.param(
            {
                "id": "",
                "monitors": [],
                "window": "1y",
                "objective": {"kind": "latency", "target": 120},
            },
            {
                "id",
                "monitors",
                "window",
                "objective.target",
                "objective.threshold_ms",
            },
            id="every-problem-at-once",
        ),
    ],
)
def test_an_invalid_slo_names_every_bad_field(
    changes: dict[str, Any], fields: set[str]
) -> None:
    assert {field for field, _ in problems({**VALID, **changes})} == fields


def test_an_slo_that_is_not_an_object_is_refused() -> None:
    assert problems(["checkout"]) == {("", "must be an object, got ['checkout']")}


@pytest.mark.parametrize(
    ("errors", "expected"),
    [
        pytest.param(
            [],
            {
                "good": 720_000,
                "total": 720_000,
                "attained": 100.0,
                "allowed": 720.0,
                "consumed": 0,
                "remaining": 1.0,
                "recent_burn_rate": 0.0,
                "exhausted_at": None,
            },
            id="all-good",
        ),
        pytest.param(
            [(30 * DAY, 0.0, 0.001)],
            {
                "good": 719_280,
                "total": 720_000,
                "attained": 99.9,
                "allowed": 720.0,
                "consumed": 720,
                "remaining": 0.0,
                "recent_burn_rate": 1.0,
                "exhausted_at": None,
            },
            id="exactly-on-target",
        ),
        pytest.param(
            [(30 * DAY, 0.0, 0.003)],
            {
                "good": 717_840,
                "total": 720_000,
                "attained": 99.7,
                "allowed": 720.0,
                "consumed": 2160,
                "remaining": -2.0,
                "recent_burn_rate": 3.0,
                "exhausted_at": None,
            },
            id="over-budget",
        ),
    ],
)
def test_budget_counts_the_window_against_the_allowance(
    errors: list[tuple[float, float, float]], expected: dict[str, object]
) -> None:
    at, good, total = series(30 * DAY, HOUR, errors)

    result = budget(slo(), at, good, total, NOW)

    assert result.to_dict() == pytest.approx(expected, abs=1e-9)


def test_budget_leaves_out_buckets_older_than_the_window() -> None:
    at, good, total = series(31 * DAY, HOUR, [(31 * DAY, 30 * DAY, 1.0)])

    result = budget(slo(), at, good, total, NOW)

    assert result.total == 720 * CHECKS
    assert result.consumed == 0


def test_budget_of_no_checks_has_nothing_attained_and_nothing_spent() -> None:
    empty = np.array([], dtype=np.float64)

    result = budget(slo(), empty, empty, empty, NOW)

    assert result.attained is None
    assert result.remaining == 1.0
    assert result.exhausted_at is None


def test_budget_forecasts_exhaustion_at_the_rate_of_the_last_tenth() -> None:
    # Half of a 1% budget went in one bad hour long ago; the last three days
    # burn at twice the allowed rate, so the other half lasts 30d / 2 / 2.
    at, good, total = series(30 * DAY, HOUR, [(3 * DAY, 0.0, 0.02)])
    good[100:103] = [0.0, 0.0, 840.0]

    result = budget(slo(target=99.0), at, good, total, NOW)

    assert result.remaining == pytest.approx(0.5)
    assert result.recent_burn_rate == pytest.approx(2.0)
    assert result.exhausted_at == pytest.approx(NOW + 7.5 * DAY)


def test_budget_gives_no_forecast_while_burning_slower_than_allowed() -> None:
    at, good, total = series(30 * DAY, HOUR, [(3 * DAY, 0.0, 0.005)])

    result = budget(slo(target=99.0), at, good, total, NOW)

    assert result.recent_burn_rate == pytest.approx(0.5)
    assert result.exhausted_at is None


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        # Buckets at -2h (all bad), -1h (10% bad), -30m (1% bad) and now.
        pytest.param(10 * MINUTE, 0.0, id="no-bucket-inside"),
        pytest.param(30 * MINUTE, 1.0, id="only-the-last"),
        pytest.param(HOUR, 5.5, id="the-span-start-counts"),
        pytest.param(3 * HOUR, 37.0, id="all-three"),
    ],
)
def test_burn_rate_counts_only_buckets_that_start_inside_the_span(
    span: float, expected: float
) -> None:
    at = np.array([NOW - 2 * HOUR, NOW - HOUR, NOW - 30 * MINUTE, NOW])
    total = np.array([1000.0, 1000.0, 1000.0, 1000.0])
    good = np.array([0.0, 900.0, 990.0, 0.0])

    rate = burn_rate(slo(target=99.0), at, good, total, NOW, span)

    assert rate == pytest.approx(expected)


def test_burn_rate_is_zero_without_checks() -> None:
    at, good, total = np.array([NOW - HOUR]), np.array([0.0]), np.array([0.0])

    assert burn_rate(slo(), at, good, total, NOW, 2 * HOUR) == 0.0


@pytest.mark.parametrize(
    ("errors", "firing"),
    [
        pytest.param([(4 * DAY, 0.0, 0.0005)], [], id="within-budget"),
        pytest.param([(HOUR, 0.0, 0.02)], [("page", HOUR)], id="fast-burn-pages"),
        pytest.param(
            [(6 * HOUR, 0.0, 0.008)], [("page", 6 * HOUR)], id="six-hour-burn-pages"
        ),
        pytest.param(
            [(4 * DAY, 0.0, 0.002)],
            [("ticket", 3 * DAY)],
            id="slow-steady-burn-tickets-only",
        ),
        pytest.param(
            [(HOUR, 0.0, 1.0)],
            [("page", HOUR), ("page", 6 * HOUR), ("ticket", 3 * DAY)],
            id="outage-fires-every-rule",
        ),
        pytest.param(
            [(50 * MINUTE, 40 * MINUTE, 0.1)], [], id="spike-that-is-over-is-quiet"
        ),
    ],
)
def test_burn_alerts_fire_when_both_spans_burn_too_fast(
    errors: list[tuple[float, float, float]], firing: list[tuple[str, float]]
) -> None:
    at, good, total = series(4 * DAY, MINUTE, errors)

    alerts = burn_alerts(slo(), at, good, total, NOW)

    assert [(alert.severity, alert.long_span) for alert in alerts] == firing
    for alert in alerts:
        assert alert.long_rate > alert.rule.threshold
        assert alert.short_rate > alert.rule.threshold


def test_a_spike_that_is_over_burns_the_long_span_but_not_the_short() -> None:
    at, good, total = series(4 * DAY, MINUTE, [(50 * MINUTE, 40 * MINUTE, 0.1)])

    assert burn_rate(slo(), at, good, total, NOW, HOUR) > BURN_ALERTS[0].threshold
    assert burn_rate(slo(), at, good, total, NOW, 5 * MINUTE) == 0.0


def test_a_burn_alert_says_how_fast_and_how_long_the_budget_lasts() -> None:
    # 912 bad checks of 60,000 in the hour, 87 of 5,000 in the last 5 minutes.
    at, good, total = series(4 * DAY, MINUTE, [(HOUR, 0.0, 0.015)])
    good[-5:] = CHECKS - np.array([17.0, 17.0, 17.0, 18.0, 18.0])

    [alert] = burn_alerts(slo(), at, good, total, NOW)

    assert alert.reason == (
        "error budget burning 15.2x too fast over 1h (and 17.4x over 5m): "
        "at this rate the 30-day budget lasts 2 days"
    )
    assert alert.to_dict()["severity"] == "page"


def test_burn_alert_spans_scale_with_a_seven_day_window() -> None:
    # 2% errors for the last 14 minutes: a page for a 7-day SLO, whose
    # one-hour rule shrinks to 14 minutes, but not for a 30-day one.
    at, good, total = series(DAY, 10.0, [(14 * MINUTE, 0.0, 0.02)])

    weekly = burn_alerts(slo(window="7d"), at, good, total, NOW)
    monthly = burn_alerts(slo(window="30d"), at, good, total, NOW)

    assert [alert.severity for alert in weekly] == ["page"]
    assert weekly[0].long_span == pytest.approx(14 * MINUTE)
    assert weekly[0].short_span == pytest.approx(70.0)
    assert "over 14m (and 20.0x over 1m10s)" in weekly[0].reason
    assert "the 7-day budget" in weekly[0].reason
    assert monthly == []


def test_burn_alerts_refuse_series_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="one length"):
        burn_alerts(slo(), np.array([NOW]), np.array([1.0, 2.0]), np.array([3.0]), NOW)
