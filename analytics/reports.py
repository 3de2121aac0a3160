"""Analyses of what the store keeps: a monitor's results, failures together, SLOs.

These run where they are asked for (the gateway), over a bounded amount of
stored data: a monitor's latest results for its anomaly scores, latency
trend and certificate; the state changes of a span for the monitors that
failed together and the likely root of each group; and the rollups of an
SLO's monitors for its error budget and burn alerts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import numpy as np

from analytics.anomaly import anomaly_scores
from analytics.correlation import (
    co_failures,
    failure_spans,
    likely_root,
    related_groups,
)
from analytics.slo import BURN_ALERTS, Slo, budget, burn_alerts
from analytics.trends import certificate_expiry, crossing_time, latency_trend
from engine.events import StateChange
from store.rollups import LATENCY_BOUNDS_MS

Floats = np.ndarray[Any, np.dtype[np.float64]]

SCORES_SHOWN: Final = 200
"""Results of a monitor listed with their anomaly scores, newest last."""


def monitor_analysis(
    results: Sequence[Mapping[str, Any]],
    *,
    now: float,
    threshold_ms: float | None = None,
) -> dict[str, Any]:
    """Anomaly scores, latency figures, trend and certificate of one monitor.

    ``results`` are stored results (``CheckResult.to_dict``) in any order.
    Scores are computed over the successful checks' latencies, oldest first,
    each from the ones before it, as a detector running alongside would have.
    """
    ordered = sorted(results, key=lambda result: result["started_at"])
    passed = [r for r in ordered if r.get("ok") and r.get("latency_ms") is not None]
    at = np.array([r["started_at"] for r in passed], dtype=np.float64)
    latency = np.array([r["latency_ms"] for r in passed], dtype=np.float64)
    scores = anomaly_scores(latency, seconds=at)
    outcomes = np.array([bool(r.get("ok")) for r in ordered])

    analysis: dict[str, Any] = {
        "results": len(ordered),
        "success_ratio": float(outcomes.mean()) if len(outcomes) else None,
        "latency": _latency_figures(latency),
        "anomalies": [
            {
                "started_at": float(moment),
                "latency_ms": float(value),
                "score": float(score),
            }
            for moment, value, score in zip(
                at[-SCORES_SHOWN:],
                latency[-SCORES_SHOWN:],
                scores[-SCORES_SHOWN:],
                strict=True,
            )
        ],
        "highest_recent_score": float(scores[-SCORES_SHOWN:].max())
        if len(scores)
        else None,
    }
    trend = latency_trend(at, latency)
    analysis["trend"] = trend.to_dict()
    if threshold_ms is not None:
        analysis["trend"]["threshold_ms"] = threshold_ms
        analysis["trend"]["crosses_at"] = crossing_time(trend, threshold_ms, now)
    analysis["certificate"] = _certificate(ordered)
    return analysis


def _latency_figures(latency: Floats) -> dict[str, Any]:
    if not len(latency):
        return {"p50": None, "p95": None, "p99": None, "median": None, "mad": None}
    p50, p95, p99 = (float(v) for v in np.percentile(latency, (50, 95, 99)))
    median = float(np.median(latency))
    mad = float(np.median(np.abs(latency - median)))
    return {"p50": p50, "p95": p95, "p99": p99, "median": median, "mad": mad}


def _certificate(results: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    seen = [
        (r["started_at"], (r.get("details") or {}).get("cert_days"))
        for r in results
        if isinstance((r.get("details") or {}).get("cert_days"), int | float)
    ]
    if not seen:
        return None
    at, days = zip(*seen, strict=True)
    return certificate_expiry(np.array(at), np.array(days, dtype=np.float64)).to_dict()


def failing_together(
    changes: Iterable[StateChange],
    *,
    since: float,
    until: float,
    depends_on: Mapping[str, Sequence[str]],
    bucket: float = 60.0,
    min_jaccard: float = 0.5,
    min_together: int = 3,
) -> list[dict[str, Any]]:
    """Groups of monitors that failed together in ``[since, until)``, with roots.

    Only monitors that were DOWN at some point in the span take part, so the
    pairwise figures stay within bounds for any fleet.
    """
    spans = failure_spans(changes, until, since=since)
    failing = {monitor: found for monitor, found in spans.items() if found}
    if len(failing) < 2:
        return []
    co = co_failures(failing, bucket=bucket, since=since, until=until)
    groups = []
    for members in related_groups(
        co, min_jaccard=min_jaccard, min_together=min_together
    ):
        first = {monitor: failing[monitor][0][0] for monitor in members}
        root = likely_root(members, first_failed=first, depends_on=depends_on)
        groups.append(
            {
                "monitors": list(members),
                "root": root.monitor_id,
                "reason": str(root.reason),
                "explanation": root.explanation,
                "others": list(root.others),
                "lead_seconds": root.lead,
            }
        )
    return groups


def good_checks(slo: Slo, rollups: Sequence[Mapping[str, Any]]) -> Floats:
    """How many checks of each rollup met the objective.

    For a latency objective, a check is good when it passed in a histogram
    bucket whose upper bound is at most the threshold: a bucket that
    straddles the threshold counts as bad, so the figure is never kinder
    than the truth by more than one bucket's width.
    """
    if slo.objective.kind == "availability":
        return np.array([r["ok"] for r in rollups], dtype=np.float64)
    threshold = slo.objective.threshold_ms or 0.0
    within = sum(1 for bound in LATENCY_BOUNDS_MS if bound <= threshold)
    return np.array([sum(r["histogram"][:within]) for r in rollups], dtype=np.float64)


def slo_status(
    slo: Slo,
    hourly: Sequence[Mapping[str, Any]],
    minutely: Sequence[Mapping[str, Any]],
    *,
    now: float,
) -> dict[str, Any]:
    """An SLO's error budget (from hourly rollups) and the burn alerts that
    fire (from minute rollups, fine enough for the five-minute spans)."""
    hours = sorted(hourly, key=lambda r: r["start"])
    minutes = sorted(minutely, key=lambda r: r["start"])
    left = budget(
        slo,
        np.array([r["start"] for r in hours], dtype=np.float64),
        good_checks(slo, hours),
        np.array([r["count"] for r in hours], dtype=np.float64),
        now,
    )
    alerts = burn_alerts(
        slo,
        np.array([r["start"] for r in minutes], dtype=np.float64),
        good_checks(slo, minutes),
        np.array([r["count"] for r in minutes], dtype=np.float64),
        now,
    )
    return {
        "slo": slo.to_dict(),
        "budget": left.to_dict(),
        "alerts": [alert.to_dict() for alert in alerts],
    }


def burn_span(slo: Slo) -> float:
    """The longest span any burn alert of ``slo`` looks at, in seconds."""
    return max(max(rule.spans(slo.window)) for rule in BURN_ALERTS)


def summed_rollups(rollups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rollups of several monitors added up per bucket start."""
    totals: dict[float, dict[str, Any]] = {}
    for rollup in rollups:
        kept = totals.get(rollup["start"])
        if kept is None:
            totals[rollup["start"]] = {
                "start": rollup["start"],
                "count": rollup["count"],
                "ok": rollup["ok"],
                "histogram": list(rollup["histogram"]),
            }
            continue
        kept["count"] += rollup["count"]
        kept["ok"] += rollup["ok"]
        kept["histogram"] = [
            a + b for a, b in zip(kept["histogram"], rollup["histogram"], strict=True)
        ]
    return [totals[start] for start in sorted(totals)]
