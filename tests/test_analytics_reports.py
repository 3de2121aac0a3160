"""Analyses of stored data: one monitor's results, and failures together."""

from __future__ import annotations

from typing import Any

import numpy as np

from analytics.reports import (
    failing_together,
    good_checks,
    monitor_analysis,
    slo_status,
)
from analytics.slo import slo_from_dict
from engine.events import StateChange
from engine.result import MonitorState, Reason

T0 = 1_800_000_000.0


def result(
    at: float, latency: float, ok: bool = True, **details: Any
) -> dict[str, Any]:
    return {
        "monitor_id": "api",
        "started_at": at,
        "ok": ok,
        "latency_ms": latency,
        "details": details,
    }


def test_an_analysis_scores_the_latest_results_and_fits_their_trend() -> None:
    rng = np.random.default_rng(1)
    results = [
        result(T0 + 60 * n, 100 + n * 0.05 + float(rng.normal(0, 1)))
        for n in range(2000)
    ]
    results.append(result(T0 + 60 * 2000, 0.0, ok=False))

    analysis = monitor_analysis(results[::-1], now=T0 + 60 * 2001, threshold_ms=300)

    assert analysis["results"] == 2001
    assert 0.999 < analysis["success_ratio"] < 1.0
    scores = [entry["score"] for entry in analysis["anomalies"]]
    assert len(scores) == 200
    assert all(0 <= score <= 1 for score in scores)
    times = [entry["started_at"] for entry in analysis["anomalies"]]
    assert times == sorted(times)
    # 0.05 ms a minute is 72 ms a day.
    assert 60 < analysis["trend"]["slope"] < 85
    assert analysis["trend"]["crosses_at"] > T0 + 60 * 2000
    assert analysis["latency"]["p50"] < analysis["latency"]["p99"]
    assert analysis["certificate"] is None


def test_an_analysis_tells_when_the_certificate_expires() -> None:
    results = [result(T0 + 86_400 * n, 50, cert_days=30 - n) for n in range(5)]

    certificate = monitor_analysis(results, now=T0)["certificate"]

    assert certificate["expires_at"] == T0 + 86_400 * 4 + 26 * 86_400


def test_an_analysis_of_nothing_says_so() -> None:
    analysis = monitor_analysis([], now=T0)

    assert analysis["results"] == 0
    assert analysis["anomalies"] == []
    assert analysis["highest_recent_score"] is None


def down_and_up(monitor_id: str, down: float, up: float) -> list[StateChange]:
    return [
        StateChange(
            monitor_id, down, MonitorState.UP, MonitorState.DOWN, Reason.CONNECT
        ),
        StateChange(monitor_id, up, MonitorState.DOWN, MonitorState.UP),
    ]


def test_monitors_failing_together_are_grouped_under_their_shared_parent() -> None:
    changes = []
    for start in (T0 + 600, T0 + 1800, T0 + 3000):
        changes += down_and_up("api", start + 30, start + 300)
        changes += down_and_up("router", start + 20, start + 300)
        changes += down_and_up("db", start, start + 300)
    changes += down_and_up("mail", T0 + 5000, T0 + 5100)

    [group] = failing_together(
        changes,
        since=T0,
        until=T0 + 6000,
        depends_on={"api": ["db"], "router": ["db"], "mail": []},
    )

    assert group["monitors"] == ["api", "db", "router"]
    assert group["root"] == "db"
    assert group["reason"] == "shared_dependency"
    assert "db" in group["explanation"]


def rollup(start: float, count: int, ok: int, fast: int = 0) -> dict[str, Any]:
    """A rollup whose passing checks took 50 ms (``fast`` of them) or 400 ms."""
    histogram = [0] * 20
    histogram[5] = fast  # up to 50 ms
    histogram[9] = ok - fast  # 300 to 500 ms
    return {"start": start, "count": count, "ok": ok, "histogram": histogram}


def test_an_slo_burning_fast_now_pages_and_shows_its_budget() -> None:
    slo = slo_from_dict(
        {
            "id": "api",
            "monitors": ["api"],
            "objective": {"kind": "availability", "target": 99.9},
        }
    )
    now = T0 + 30 * 86_400
    hourly = [rollup(now - 3600 * (h + 1), 60, 60) for h in range(720)]
    hourly[-1] = rollup(now - 3600, 60, 30)
    minutely = [rollup(now - 60 * (m + 1), 1, 1) for m in range(4320)]
    for m in range(60):
        minutely[m] = rollup(now - 60 * (m + 1), 1, 0)

    status = slo_status(slo, hourly, minutely, now=now)

    assert 0 < status["budget"]["remaining"] < 1
    assert "page" in [alert["severity"] for alert in status["alerts"]]


def test_a_latency_objective_counts_checks_within_the_threshold() -> None:
    slo = slo_from_dict(
        {
            "id": "fast",
            "tags": ["web"],
            "objective": {"kind": "latency", "threshold_ms": 300, "target": 95},
        }
    )

    good = good_checks(slo, [rollup(T0, 10, 8, fast=6)])

    assert good.tolist() == [6.0]
