"""The analytics part of the REST API: analyses of stored results and failures.

Under ``/api/v1``: ``/monitors/<id>/analysis`` (anomaly scores of the latest
results, latency percentiles and trend, certificate expiry),
``/monitors/<id>/baselines`` (rolling figures and the hour-of-week baselines
its shard keeps), ``/analytics/failing-together`` (monitors that failed
together over a span, each group with its likely root) and
``/slos/<id>/status`` (an SLO's error budget and the burn-rate alerts firing
now).
"""

from __future__ import annotations

import math
import time
from typing import Final

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import json

from actors.platform import AnalyticsPlatform
from engine.durations import parse_duration
from web import schemas
from web.access import requires
from web.errors import BadRequest
from web.openapi import SINCE, UNTIL, Operation, Param, documented
from web.params import Query

PREFIX: Final = "/api/v1"

DEFAULT_RESULTS: Final = 2000
MAX_RESULTS: Final = 20_000
DEFAULT_SPAN: Final = 86_400.0
MAX_SPAN: Final = 31 * 86_400.0

ANALYTICS: Final = "analytics"
FAILING_TOGETHER: Final = {
    "type": "object",
    "required": ["since", "until", "groups"],
    "properties": {
        "since": {"type": "number"},
        "until": {"type": "number"},
        "groups": {"type": "array", "items": {"type": "object"}},
    },
}


def analytics_blueprint(platform: AnalyticsPlatform) -> Blueprint:
    """The analytics routes, each asking ``platform`` for what it serves."""
    api = Blueprint("api_v1_analytics", url_prefix=PREFIX)

    @api.get("/monitors/<monitor_id:str>/analysis")
    @requires("monitors:read")
    @documented(
        Operation(
            "Anomaly scores of the latest results, latency trend and certificate",
            ANALYTICS,
            {200: schemas.Analysis},
            params=(
                Param(
                    "results",
                    {"type": "integer", "minimum": 1, "maximum": MAX_RESULTS},
                    "how many of the latest results to analyse",
                ),
                Param(
                    "threshold_ms",
                    {"type": "number", "exclusiveMinimum": 0},
                    "a latency to forecast the crossing of",
                ),
            ),
            errors=(404,),
        )
    )
    async def analysis(request: Request, monitor_id: str) -> HTTPResponse:
        query = Query(request, ("results", "threshold_ms"))
        results = _whole(query.text("results"), "results", DEFAULT_RESULTS)
        threshold = _number(query.text("threshold_ms"), "threshold_ms")
        return json(
            await platform.monitor_analysis(
                monitor_id, limit=results, threshold_ms=threshold
            )
        )

    @api.get("/monitors/<monitor_id:str>/baselines")
    @requires("monitors:read")
    @documented(
        Operation(
            "What the monitor's shard knows of its usual behaviour",
            ANALYTICS,
            {200: schemas.Analysis},
            errors=(404,),
        )
    )
    async def baselines(request: Request, monitor_id: str) -> HTTPResponse:
        Query(request, ())
        return json(await platform.monitor_baselines(monitor_id))

    @api.get("/analytics/failing-together")
    @requires("monitors:read")
    @documented(
        Operation(
            "Monitors that failed together, each group with its likely root",
            ANALYTICS,
            {200: FAILING_TOGETHER},
            params=(
                SINCE,
                UNTIL,
                Param("bucket", {"type": "string"}, "the time step (60s, 5m)"),
            ),
        )
    )
    async def failing_together(request: Request) -> HTTPResponse:
        query = Query(request, ("since", "until", "bucket"))
        until = query.time("until")
        until = time.time() if until is None else until
        since = query.time("since")
        since = until - DEFAULT_SPAN if since is None else since
        if not 0 < until - since <= MAX_SPAN:
            raise BadRequest.parameter(
                "since", "must be before until, by at most 31 days"
            )
        bucket = _seconds(query.text("bucket"), "bucket", 60.0)
        groups = await platform.failing_together(
            since=since, until=until, bucket=bucket
        )
        return json({"since": since, "until": until, "groups": groups})

    @api.get("/slos/<slo_id:str>/status")
    @requires("monitors:read")
    @documented(
        Operation(
            "An SLO's error budget and the burn-rate alerts firing now",
            ANALYTICS,
            {200: {"type": "object"}},
            errors=(404,),
        )
    )
    async def slo_status(request: Request, slo_id: str) -> HTTPResponse:
        Query(request, ())
        return json(await platform.slo_status(slo_id))

    return api


def _whole(text: str | None, name: str, default: int) -> int:
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= MAX_RESULTS:
        raise BadRequest.parameter(
            name, f"must be a whole number from 1 to {MAX_RESULTS}, got {text!r}"
        )
    return int(text)


def _number(text: str | None, name: str) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise BadRequest.parameter(name, f"must be a number above 0, got {text!r}")
    return value


def _seconds(text: str | None, name: str, default: float) -> float:
    if text is None:
        return default
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise BadRequest.parameter(name, str(exc)) from None
    if not 1 <= seconds <= 86_400:
        raise BadRequest.parameter(name, "must be between 1s and 24h")
    return seconds
