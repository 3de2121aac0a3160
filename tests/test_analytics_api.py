"""Analyses through the running gateway, of monitors checking real local targets."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import httpx

from sdk.client import AsyncClient
from tests.gateway_monitors import WAIT, new_id
from tests.tcp_target import TcpTarget
from tests.waiting import eventually
from tests.webhook_inbox import running_inbox


def tcp(monitor_id: str, target: TcpTarget, **fields: Any) -> dict[str, Any]:
    return {
        "id": monitor_id,
        "name": f"Service {monitor_id}",
        "kind": "tcp",
        "target": target.address,
        "interval": 1,
        "timeout": 1,
        **fields,
    }


async def state(http: httpx.AsyncClient, monitor_id: str) -> str:
    shown: str = (await http.get(f"/api/v1/monitors/{monitor_id}")).json()["status"][
        "state"
    ]
    return shown


async def test_a_monitor_analysis_scores_its_latest_results(
    http: httpx.AsyncClient, gateway_url: str, api_key: str
) -> None:
    with TcpTarget() as target:
        monitor_id = new_id("analysed")
        await http.post("/api/v1/monitors", json=tcp(monitor_id, target))
        try:

            async def enough() -> dict[str, Any] | None:
                answer = await http.get(f"/api/v1/monitors/{monitor_id}/analysis")
                found: dict[str, Any] = answer.json()
                return found if found["results"] >= 3 else None

            analysis = await eventually(enough, within=WAIT)
            stored = (await http.get(f"/api/v1/monitors/{monitor_id}/results")).json()[
                "results"
            ]
            refused = await http.get(
                f"/api/v1/monitors/{monitor_id}/analysis", params={"threshold_ms": "x"}
            )
            async with AsyncClient(gateway_url, api_key=api_key) as client:
                baselines = await client.baselines(monitor_id)
                few = await client.analysis(monitor_id, results=2)
        finally:
            await http.delete(f"/api/v1/monitors/{monitor_id}")
        unknown = await http.get("/api/v1/monitors/no-such-monitor/analysis")
        no_baselines = await http.get("/api/v1/monitors/no-such-monitor/baselines")

    assert analysis["monitor_id"] == monitor_id
    # Every passing result is stored with the score its shard gave it.
    assert all(0 <= r["details"]["anomaly_score"] <= 1 for r in stored if r["ok"])
    assert analysis["success_ratio"] == 1.0
    assert all(0 <= entry["score"] <= 1 for entry in analysis["anomalies"])
    assert analysis["latency"]["p50"] is not None
    assert refused.status_code == 400
    assert unknown.status_code == 404
    assert few["results"] == 2
    # The shard's rolling figures and hour-of-week buckets: the buckets hold
    # the results so far, and a new monitor's are not trusted yet.
    assert baselines["monitor_id"] == monitor_id
    assert baselines["count"] >= 3
    assert baselines["success_10"] == 1.0
    assert baselines["ewma_mean"] > 0
    assert baselines["ring"]["median_ms"] > 0
    now = baselines["now"]
    assert sum(hour["samples"] for hour in baselines["hours"]) >= 3
    assert 0 <= now["hour_of_week"] < 168
    assert now["usual_ms"] is None
    assert now["season"].endswith(":00 UTC")
    assert len(baselines["hours"]) == 168
    assert baselines["degraded"] is False
    assert baselines["degraded_reason"] is None
    assert no_baselines.status_code == 404


async def test_breaking_the_root_of_a_tree_names_it_and_holds_the_rest(
    http: httpx.AsyncClient,
) -> None:
    """A router with a database behind it and two services on the database."""
    since = time.time()
    names = {part: new_id(part) for part in ("router", "db", "api", "web")}
    parents = {"db": "router", "api": "db", "web": "db"}
    with TcpTarget() as router, TcpTarget() as rest:
        try:
            for part, monitor_id in names.items():
                target = router if part == "router" else rest
                extra: dict[str, Any] = {}
                if part in parents:
                    # Behind the router, checks notice a little later.
                    extra = {
                        "depends_on": [names[parents[part]]],
                        "retries": 2,
                        "retry_interval": 1,
                    }
                answer = await http.post(
                    "/api/v1/monitors", json=tcp(monitor_id, target, **extra)
                )
                assert answer.status_code == 201, answer.text
            await _all_are(http, names.values(), "up")

            router.stop()
            rest.stop()
            await _all_are(http, names.values(), "down")
            # Down together for a few one-second buckets.
            await eventually(lambda: _slept(since, 12), within=WAIT + 15)
            groups = (
                await http.get(
                    "/api/v1/analytics/failing-together",
                    params={"since": str(since), "bucket": "1s"},
                )
            ).json()["groups"]
            incidents = {
                part: (
                    await http.get(
                        "/api/v1/incidents",
                        params={"monitor": monitor_id, "status": "open"},
                    )
                ).json()["incidents"][0]
                for part, monitor_id in names.items()
            }
        finally:
            for monitor_id in names.values():
                await http.delete(f"/api/v1/monitors/{monitor_id}")

    [group] = [g for g in groups if names["router"] in g["monitors"]]
    assert sorted(group["monitors"]) == sorted(names.values())
    assert group["root"] == names["router"]
    assert names["router"] in group["explanation"]
    assert incidents["router"]["held"] is None
    for part in ("db", "api", "web"):
        assert incidents[part]["held"] == "dependency"
        assert incidents[part]["cause"] == names["router"]


async def _all_are(
    http: httpx.AsyncClient, monitor_ids: Iterable[str], wanted: str
) -> None:
    async def reached() -> bool:
        for monitor_id in monitor_ids:
            if await state(http, monitor_id) != wanted:
                return False
        return True

    await eventually(reached, within=WAIT)


async def _slept(since: float, seconds: float) -> bool:
    return time.time() - since >= seconds


async def test_an_slo_is_configured_and_its_budget_follows_its_monitor(
    http: httpx.AsyncClient,
) -> None:
    slo_id = new_id("slo")
    with TcpTarget() as target:
        monitor_id = new_id("budgeted")
        await http.post("/api/v1/monitors", json=tcp(monitor_id, target))
        try:
            created = await http.post(
                "/api/v1/slos",
                json={
                    "id": slo_id,
                    "monitors": [monitor_id],
                    "objective": {"kind": "availability", "target": 99},
                    "window": "1h",
                },
            )
            await _all_are(http, [monitor_id], "up")
            target.stop()
            await _all_are(http, [monitor_id], "down")

            async def spent() -> dict[str, Any] | None:
                answer = await http.get(f"/api/v1/slos/{slo_id}/status")
                shown: dict[str, Any] = answer.json()
                return shown if shown["budget"]["remaining"] < 1 else None

            status = await eventually(spent, within=WAIT)
        finally:
            await http.delete(f"/api/v1/monitors/{monitor_id}")
            await http.delete(f"/api/v1/slos/{slo_id}")
    bad = await http.post(
        "/api/v1/slos", json={"id": new_id("slo"), "monitors": ["x"], "objective": {}}
    )
    unknown = await http.get("/api/v1/slos/no-such-slo/status")

    assert created.status_code == 201, created.text
    assert status["monitors"] == [monitor_id]
    assert status["budget"]["total"] > status["budget"]["good"]
    assert bad.status_code == 422
    assert unknown.status_code == 404


async def test_an_slo_burning_its_budget_fast_is_told_as_an_incident(
    http: httpx.AsyncClient,
) -> None:
    slo_id = new_id("slo")
    monitor_id = new_id("failing")
    made: list[str] = []
    async with running_inbox() as inbox:
        try:
            for collection, body in (
                (
                    "channels",
                    {
                        "id": new_id("hook"),
                        "kind": "webhook",
                        "url": f"{inbox.url}/budget",
                    },
                ),
                (
                    "slos",
                    {
                        "id": slo_id,
                        "monitors": [monitor_id],
                        "objective": {"kind": "availability", "target": 99},
                        "window": "7d",
                    },
                ),
            ):
                answer = await http.post(f"/api/v1/{collection}", json=body)
                assert answer.status_code == 201, answer.text
                made.append(f"/api/v1/{collection}/{body['id']}")
            route = {
                "id": new_id("route"),
                "kinds": ["slo"],
                "channels": [made[0].rsplit("/", 1)[1]],
                "group_wait": 0,
            }
            assert (await http.post("/api/v1/routes", json=route)).status_code == 201
            made.insert(0, f"/api/v1/routes/{route['id']}")
            with TcpTarget() as target:
                failing = tcp(monitor_id, target)
            # Nothing listens there any more: every check fails.
            await http.post("/api/v1/monitors", json=failing)
            made.insert(0, f"/api/v1/monitors/{monitor_id}")

            async def told() -> list[dict[str, Any]]:
                return inbox.about("/budget", f"slo:{slo_id}", "firing")

            [notification] = await eventually(told, within=3 * WAIT)
        finally:
            for path in made:
                await http.delete(path)

    assert "error budget burning" in notification["text"]
    assert notification["severity"] == "critical"
