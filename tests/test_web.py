"""The web gateway answering real HTTP and socket.io clients.

Most tests talk to the gateway at ``gateway_url``, which serves the real
platform (``platform_handle``). Each test makes monitors with ids of its own
and deletes them afterwards, so tests share one gateway safely. Failures the
real platform cannot be made to show (not ready, crashing) are served by a
small stand-in platform on a gateway of their own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from prometheus_client.parser import text_string_to_metric_families

from actors.platform import Platform
from engine.errors import FieldError
from tests import gateway_monitors
from tests.broken_platform import BrokenPlatform, broken_gateway
from tests.gateway_monitors import WAIT, definition
from web.errors import INTERNAL_MESSAGE
from web.live import LiveHub
from web.metrics import render
from web.redact import (
    REDACTED,
    is_secret_header,
    is_secret_option,
    redact_monitor,
    redact_options,
    restore_secrets,
)


def new_id(prefix: str = "web") -> str:
    return gateway_monitors.new_id(prefix)


async def create(
    http: httpx.AsyncClient, made: list[str], body: Mapping[str, Any]
) -> dict[str, Any]:
    response = await http.post("/api/v1/monitors", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    made.append(created["id"])
    return created


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert error["status"] == response.status_code
    return error


# -- health -----------------------------------------------------------------


async def test_healthz_says_the_process_is_alive(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_answers_200_when_the_platform_is_ready(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/readyz")

    assert response.status_code == 200


async def test_readyz_answers_503_when_the_platform_is_not_ready(
    broken: httpx.AsyncClient,
) -> None:
    response = await broken.get("/readyz")

    assert response.status_code == 503
    assert error_of(response)["message"] == "the platform is not ready"


# -- creating and reading ---------------------------------------------------


async def test_creating_a_monitor_answers_201_with_its_location(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    monitor_id = new_id()
    response = await http.post(
        "/api/v1/monitors", json=definition(gateway_url, monitor_id)
    )
    made.append(monitor_id)

    assert response.status_code == 201
    assert response.headers["location"] == f"/api/v1/monitors/{monitor_id}"
    assert response.json()["id"] == monitor_id
    fetched = await http.get(response.headers["location"])
    assert fetched.json()["target"] == f"{gateway_url}/healthz"


async def test_an_invalid_monitor_is_refused_with_every_bad_field_named(
    http: httpx.AsyncClient, gateway_url: str
) -> None:
    body = definition(gateway_url, new_id(), interval=0, retries=99)

    response = await http.post("/api/v1/monitors", json=body)

    assert response.status_code == 422
    fields = {f["field"]: f["problem"] for f in error_of(response)["fields"]}
    assert fields["interval"] == "must be between 1s and 24h, got 0s"
    assert "retries" in fields


async def test_creating_a_monitor_whose_id_exists_answers_409(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    body = definition(gateway_url, new_id())
    await create(http, made, body)

    response = await http.post("/api/v1/monitors", json=body)

    assert response.status_code == 409
    assert body["id"] in error_of(response)["message"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "is not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got an array"),
        (b"", "must be a JSON object, got nothing"),
    ],
)
async def test_a_body_that_is_not_a_json_object_answers_400(
    http: httpx.AsyncClient, body: bytes, problem: str
) -> None:
    response = await http.post(
        "/api/v1/monitors", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    error = error_of(response)
    assert error["fields"][0]["field"] == "body"
    assert problem in error["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", ""),
        ("PATCH", ""),
        ("PUT", ""),
        ("DELETE", ""),
        ("POST", "/pause"),
        ("POST", "/resume"),
        ("GET", "/results"),
    ],
)
async def test_an_unknown_monitor_answers_404(
    http: httpx.AsyncClient, method: str, path: str
) -> None:
    body = {"description": "x"} if method in ("PATCH", "PUT") else None
    monitor_id = new_id("missing")

    response = await http.request(
        method, f"/api/v1/monitors/{monitor_id}{path}", json=body
    )

    assert response.status_code == 404
    assert monitor_id in error_of(response)["message"]


async def test_an_unknown_route_answers_404_in_json(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert error_of(response)["message"] == "no such resource: GET /api/v1/nothing-here"


async def test_a_wrong_method_answers_405_in_json(http: httpx.AsyncClient) -> None:
    response = await http.delete("/api/v1/status")

    assert response.status_code == 405
    assert error_of(response)["status"] == 405


# -- listing ----------------------------------------------------------------


async def test_monitors_are_listed_by_tag_state_enabled_and_name(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    tag = new_id("tag")
    first = await create(
        http, made, definition(gateway_url, new_id(), tags=[tag], name=f"Alpha {tag}")
    )
    second = await create(
        http, made, definition(gateway_url, new_id(), tags=[tag], name=f"Beta {tag}")
    )
    await http.post(f"/api/v1/monitors/{second['id']}/pause")

    async def listed(**params: str) -> set[str]:
        response = await http.get("/api/v1/monitors", params={"tag": tag, **params})
        assert response.status_code == 200, response.text
        return {m["id"] for m in response.json()["monitors"]}

    assert await listed() == {first["id"], second["id"]}
    assert await listed(kind="http") == {first["id"], second["id"]}
    assert await listed(kind="dns") == set()
    assert await listed(q="Alpha") == {first["id"]}
    assert await listed(state="paused") == {second["id"]}
    assert await listed(enabled="true") >= {first["id"]}


@pytest.mark.parametrize(
    ("query", "parameter", "problem"),
    [
        ("state=weird", "state", "must be one of unknown, up, pending, down, paused"),
        ("enabled=maybe", "enabled", "must be true or false, got 'maybe'"),
        ("tags=x", "tags", "is not a known parameter"),
        ("tag=a&tag=b", "tag", "must be given at most once"),
    ],
)
async def test_a_bad_list_filter_answers_400_naming_it(
    http: httpx.AsyncClient, query: str, parameter: str, problem: str
) -> None:
    response = await http.get(f"/api/v1/monitors?{query}")

    assert response.status_code == 400
    error = error_of(response)
    assert error["message"].startswith(f"{parameter}: ")
    assert problem in error["message"]
    assert error["fields"][0]["field"] == parameter


async def test_status_lists_every_monitor(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    created = await create(http, made, definition(gateway_url, new_id()))

    response = await http.get("/api/v1/status")

    assert response.status_code == 200
    entries = {entry["id"]: entry for entry in response.json()["status"]}
    assert entries[created["id"]]["name"] == created["name"]


async def test_engine_lists_each_shard_and_actor_with_its_figures(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/api/v1/engine")

    assert response.status_code == 200
    shards = response.json()["shards"]
    actors = response.json()["actors"]
    assert sorted(shard["shard"] for shard in shards) == ["shard-0", "shard-1"]
    for shard in shards:
        assert {
            "monitors",
            "checks_per_second",
            "lateness_p50_ms",
            "lateness_p99_ms",
            "in_flight",
            "memory_bytes",
            "node",
        } <= shard.keys()
        assert shard["memory_bytes"] > 0
        assert len(shard["lateness_counts"]) == len(shard["lateness_buckets"]) + 1
    assert response.json()["storage"]["spool"]["records"] == 0
    roles = {actor["role"] for actor in actors}
    assert roles == {"coordinator", "storage", "alert", "hub", "shard-0", "shard-1"}
    assert all(actor["pid"] > 0 and actor["memory_bytes"] > 0 for actor in actors)


def test_metrics_show_the_analytics_copy_when_there_is_one() -> None:
    spool = {"records": 0, "bytes": 0, "dropped": {"normal": 0}}
    analytics = {
        "configured": True,
        "copied": {"monitors": 2, "rollups": 30, "events": 4},
        "last_copy_at": 1_800_000_000.5,
        "last_error": None,
    }

    text = render([], {"spool": spool, "analytics": analytics})
    without = render(
        [], {"spool": spool, "analytics": {**analytics, "configured": False}}
    )

    families = {f.name: f for f in text_string_to_metric_families(text)}
    copied = families["upcast_analytics_copied_rows"].samples
    assert {s.labels["feed"]: s.value for s in copied} == {
        "monitors": 2,
        "rollups": 30,
        "events": 4,
    }
    last = families["upcast_analytics_last_copy_timestamp_seconds"].samples[0]
    assert last.value == 1_800_000_000.5
    assert "upcast_analytics" not in without


async def test_metrics_are_prometheus_text_with_a_lateness_histogram_per_shard(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {
        family.name: family for family in text_string_to_metric_families(response.text)
    }
    assert families["upcast_shard_lateness_seconds"].type == "histogram"
    assert families["upcast_shard_checks"].type == "counter"
    for name in (
        "upcast_shard_monitors",
        "upcast_shard_checks_per_second",
        "upcast_shard_checks_in_flight",
        "upcast_shard_lateness_p99_seconds",
        "upcast_shard_memory_bytes",
    ):
        shards = {sample.labels["shard"] for sample in families[name].samples}
        assert shards == {"shard-0", "shard-1"}, name
    buckets = [
        sample
        for sample in families["upcast_shard_lateness_seconds"].samples
        if sample.name.endswith("_bucket") and sample.labels["shard"] == "shard-0"
    ]
    assert buckets[-1].labels["le"] == "+Inf"
    counts = [sample.value for sample in buckets]
    assert counts == sorted(counts)
    assert families["upcast_spool_records"].samples[0].value == 0
    dropped = families["upcast_spool_dropped"].samples
    assert {sample.labels["priority"] for sample in dropped} == {
        "critical",
        "normal",
        "low",
    }


async def test_apply_creates_updates_and_leaves_alone_in_one_request(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    ids = [new_id() for _ in range(3)]
    made.extend(ids)
    wanted = [definition(gateway_url, monitor_id) for monitor_id in ids]

    first = await http.post("/api/v1/apply", json={"monitors": wanted})
    wanted[2]["description"] = "changed"
    second = await http.post("/api/v1/apply", json={"monitors": wanted})

    assert first.status_code == 200, first.text
    assert first.json()["created"] == 3
    assert second.json()["unchanged"] == 2
    assert second.json()["monitors"][2] == {"id": ids[2], "outcome": "updated"}
    shown = await http.get(f"/api/v1/monitors/{ids[2]}")
    assert shown.json()["description"] == "changed"


async def test_apply_with_one_bad_definition_changes_nothing(
    http: httpx.AsyncClient, gateway_url: str
) -> None:
    good, bad = new_id(), new_id()
    body = {
        "monitors": [
            definition(gateway_url, good),
            definition(gateway_url, bad, interval="0s"),
        ]
    }

    response = await http.post("/api/v1/apply", json=body)

    assert response.status_code == 422
    fields = response.json()["error"]["fields"]
    assert fields == [
        {
            "field": "monitors[1].interval",
            "problem": "must be between 1s and 24h, got 0s",
        }
    ]
    assert (await http.get(f"/api/v1/monitors/{good}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"monitors": "all of them"}, "monitors"),
        ({"monitors": [], "extra": 1}, "extra"),
        ({"monitors": [42]}, "monitors[0]"),
    ],
)
async def test_apply_refuses_a_body_of_the_wrong_shape(
    http: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await http.post("/api/v1/apply", json=body)

    assert response.status_code in (400, 422)
    assert response.json()["error"]["fields"][0]["field"] == field


# -- changing ---------------------------------------------------------------


async def test_patch_changes_only_the_given_fields(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    created = await create(
        http, made, definition(gateway_url, new_id(), description="before")
    )

    response = await http.patch(
        f"/api/v1/monitors/{created['id']}", json={"interval": "30s"}
    )

    assert response.status_code == 200, response.text
    assert response.json()["interval"] == 30
    assert response.json()["description"] == "before"


async def test_patch_with_a_bad_value_names_the_field(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    created = await create(http, made, definition(gateway_url, new_id()))

    response = await http.patch(
        f"/api/v1/monitors/{created['id']}", json={"priority": "urgent"}
    )

    assert response.status_code == 422
    assert error_of(response)["fields"][0]["field"] == "priority"


async def test_put_replaces_the_whole_definition(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    monitor_id = new_id()
    await create(http, made, definition(gateway_url, monitor_id, description="old"))
    replacement = definition(gateway_url, monitor_id)
    del replacement["id"]

    response = await http.put(f"/api/v1/monitors/{monitor_id}", json=replacement)

    assert response.status_code == 200, response.text
    assert response.json()["id"] == monitor_id
    assert response.json()["description"] == ""


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_a_body_naming_another_id_is_refused(
    http: httpx.AsyncClient, made: list[str], gateway_url: str, method: str
) -> None:
    monitor_id = new_id()
    await create(http, made, definition(gateway_url, monitor_id))

    response = await http.request(
        method,
        f"/api/v1/monitors/{monitor_id}",
        json=definition(gateway_url, "someone-else"),
    )

    assert response.status_code == 422
    assert error_of(response)["fields"][0]["field"] == "id"


async def test_delete_answers_204_and_the_monitor_is_gone(
    http: httpx.AsyncClient, gateway_url: str
) -> None:
    monitor_id = new_id()
    await create(http, [], definition(gateway_url, monitor_id))

    response = await http.delete(f"/api/v1/monitors/{monitor_id}")

    assert response.status_code == 204
    assert response.content == b""
    assert (await http.get(f"/api/v1/monitors/{monitor_id}")).status_code == 404


async def test_pause_and_resume_answer_with_the_monitor(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    created = await create(http, made, definition(gateway_url, new_id()))
    path = f"/api/v1/monitors/{created['id']}"

    paused = await http.post(f"{path}/pause")
    paused_list = await http.get("/api/v1/monitors", params={"state": "paused"})
    resumed = await http.post(f"{path}/resume")

    assert paused.status_code == 200
    assert paused.json()["id"] == created["id"]
    assert created["id"] in {m["id"] for m in paused_list.json()["monitors"]}
    assert resumed.status_code == 200


# -- results and events -----------------------------------------------------


async def wait_for_results(
    http: httpx.AsyncClient, monitor_id: str, count: int
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + WAIT
    while True:
        response = await http.get(f"/api/v1/monitors/{monitor_id}/results")
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["results"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_results_are_returned_newest_first_within_a_window(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    created = await create(http, made, definition(gateway_url, new_id()))
    found = await wait_for_results(http, created["id"], 2)
    assert len(found) >= 2
    newest, older = found[0]["started_at"], found[1]["started_at"]

    limited = await http.get(
        f"/api/v1/monitors/{created['id']}/results", params={"limit": 1}
    )
    windowed = await http.get(
        f"/api/v1/monitors/{created['id']}/results",
        params={"since": older - 0.01, "until": older + 0.01},
    )

    assert newest >= older
    assert all(r["monitor_id"] == created["id"] for r in found)
    assert [r["started_at"] for r in limited.json()["results"]] == [newest]
    assert [r["started_at"] for r in windowed.json()["results"]] == [older]


async def test_results_accept_iso_8601_times(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    created = await create(http, made, definition(gateway_url, new_id()))
    assert await wait_for_results(http, created["id"], 1)

    future = await http.get(
        f"/api/v1/monitors/{created['id']}/results",
        params={"since": "2999-01-01T00:00:00Z"},
    )
    past = await http.get(
        f"/api/v1/monitors/{created['id']}/results",
        params={"since": "2000-01-01T00:00:00+00:00"},
    )

    assert future.json()["results"] == []
    assert past.json()["results"]


@pytest.mark.parametrize(
    ("query", "parameter", "problem"),
    [
        ("limit=x", "limit", "must be a whole number between 1 and 1000, got 'x'"),
        ("limit=0", "limit", "must be a whole number between 1 and 1000, got '0'"),
        ("limit=1001", "limit", "between 1 and 1000, got '1001'"),
        ("since=yesterday", "since", "must be unix seconds or an ISO 8601 time"),
        ("until=nan", "until", "must be unix seconds or an ISO 8601 time"),
        ("since=200&until=100", "until", "must not be before since"),
    ],
)
async def test_a_bad_results_parameter_answers_400_naming_it(
    http: httpx.AsyncClient,
    made: list[str],
    gateway_url: str,
    query: str,
    parameter: str,
    problem: str,
) -> None:
    created = await create(http, made, definition(gateway_url, new_id()))

    response = await http.get(f"/api/v1/monitors/{created['id']}/results?{query}")

    assert response.status_code == 400
    message = error_of(response)["message"]
    assert message.startswith(f"{parameter}: ")
    assert problem in message


async def test_reports_give_uptime_per_day_and_a_summary_from_rollups(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    created = await create(
        http, made, definition(gateway_url, new_id(), tags=["reported"])
    )
    found = await wait_for_results(http, created["id"], 2)

    by_monitor = await http.get(
        "/api/v1/reports/uptime",
        params={"period": "day", "monitors": created["id"]},
    )
    by_tag = await http.get(
        "/api/v1/reports/uptime", params={"by": "tag", "tags": "reported"}
    )
    summary = await http.get(
        "/api/v1/reports/summary", params={"monitors": created["id"]}
    )

    # A test that runs across midnight (UTC) sees two days.
    rows = by_monitor.json()["rows"]
    assert {row["key"] for row in rows} == {created["id"]}
    assert sum(row["checks"] for row in rows) >= len(found)
    assert all(row["uptime"] == 1.0 for row in rows)
    assert all(row["period_start"] % 86_400 == 0 for row in rows)
    assert {row["key"] for row in by_tag.json()["rows"]} == {"reported"}
    [monitor] = summary.json()["monitors"]
    assert monitor["monitor_id"] == created["id"]
    assert monitor["uptime"] == 1.0
    assert monitor["p95"] is not None


@pytest.mark.parametrize(
    ("query", "parameter", "problem"),
    [
        ("period=year", "period", "must be one of day, week, month, got 'year'"),
        ("by=kind", "by", "must be one of monitor, tag, got 'kind'"),
        ("since=200&until=100", "until", "must not be before since"),
        ("monitors=,", "monitors", "must list 1 to 1000 names"),
        ("colour=red", "colour", "is not a known parameter"),
    ],
)
async def test_a_bad_report_parameter_answers_400_naming_it(
    http: httpx.AsyncClient, query: str, parameter: str, problem: str
) -> None:
    response = await http.get(f"/api/v1/reports/uptime?{query}")

    assert response.status_code == 400
    message = error_of(response)["message"]
    assert message.startswith(f"{parameter}: ")
    assert problem in message


async def test_events_of_a_monitor_are_listed_after_an_event_id(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    created = await create(http, made, definition(gateway_url, new_id()))
    await http.post(f"/api/v1/monitors/{created['id']}/pause")

    first = await http.get("/api/v1/events", params={"monitor": created["id"]})
    events = first.json()["events"]
    assert events
    assert all(event["monitor_id"] == created["id"] for event in events)
    later = await http.get(
        "/api/v1/events", params={"monitor": created["id"], "after": events[0]["id"]}
    )

    assert [e["id"] for e in later.json()["events"]] == [e["id"] for e in events[1:]]


async def test_a_bad_events_limit_answers_400(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/events?limit=-3")

    assert response.status_code == 400
    assert error_of(response)["fields"][0]["field"] == "limit"


# -- secrets ----------------------------------------------------------------


def with_secrets(gateway_url: str, monitor_id: str) -> dict[str, Any]:
    return definition(
        gateway_url,
        monitor_id,
        options={
            "basic_auth": {"username": "ops", "password": "hunter2"},
            "headers": {"X-Api-Key": "k-123", "Cookie": "sid=abc", "X-Trace": "on"},
        },
    )


async def test_secret_options_are_never_returned(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    monitor_id = new_id()
    created = await create(http, made, with_secrets(gateway_url, monitor_id))
    fetched = (await http.get(f"/api/v1/monitors/{monitor_id}")).json()
    listed = (await http.get("/api/v1/monitors", params={"q": monitor_id})).json()

    for shown in (created, fetched, listed["monitors"][0]):
        options = shown["options"]
        assert options["basic_auth"] == {"username": "ops", "password": REDACTED}
        assert options["headers"] == {
            "X-Api-Key": REDACTED,
            "Cookie": REDACTED,
            "X-Trace": "on",
        }


async def test_patch_sending_the_placeholder_back_keeps_the_stored_secret(
    http: httpx.AsyncClient,
    made: list[str],
    gateway_url: str,
    platform_handle: Platform,
) -> None:
    monitor_id = new_id()
    shown = await create(http, made, with_secrets(gateway_url, monitor_id))
    options = shown["options"]
    options["headers"]["X-Trace"] = "off"

    response = await http.patch(
        f"/api/v1/monitors/{monitor_id}", json={"options": options}
    )

    assert response.status_code == 200, response.text
    stored = (await platform_handle.get_monitor(monitor_id))["options"]
    assert stored["basic_auth"]["password"] == "hunter2"
    assert stored["headers"] == {
        "X-Api-Key": "k-123",
        "Cookie": "sid=abc",
        "X-Trace": "off",
    }


async def test_a_new_monitor_carrying_the_placeholder_is_refused(
    http: httpx.AsyncClient, gateway_url: str
) -> None:
    body = definition(gateway_url, new_id(), options={"bearer_token": REDACTED})

    response = await http.post("/api/v1/monitors", json=body)

    assert response.status_code == 422
    assert error_of(response)["fields"][0]["field"] == "options.bearer_token"


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("password", True),
        ("bearer_token", True),
        ("client_secret", True),
        ("API-Key", True),
        ("username", False),
        ("method", False),
        ("expect_status", False),
    ],
)
def test_option_keys_naming_secrets_are_recognised(key: str, secret: bool) -> None:
    assert is_secret_option(key) is secret


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("Authorization", True),
        ("proxy-authorization", True),
        ("Cookie", True),
        ("X-Api-Key", True),
        ("X-Auth-Token", True),
        ("Accept", False),
        ("User-Agent", False),
        ("Host", False),
    ],
)
def test_headers_carrying_credentials_are_recognised(name: str, secret: bool) -> None:
    assert is_secret_header(name) is secret


def test_redaction_reaches_nested_options_and_leaves_the_rest() -> None:
    options = {
        "bearer_token": "t0k3n",
        "json": {"login": {"user": "a", "password": "p"}, "items": [{"token": "x"}]},
        "headers": {"Authorization": "Bearer x", "Accept": "*/*"},
        "keyword": "password",
        "api_token": "",
    }

    shown = redact_options(options)

    assert shown == {
        "bearer_token": REDACTED,
        "json": {
            "login": {"user": "a", "password": REDACTED},
            "items": [{"token": REDACTED}],
        },
        "headers": {"Authorization": REDACTED, "Accept": "*/*"},
        "keyword": "password",
        "api_token": "",
    }
    assert options["bearer_token"] == "t0k3n"


def test_redacting_a_monitor_keeps_every_other_field() -> None:
    monitor = {"id": "a", "status": {"state": "up"}, "options": {"token": "x"}}

    assert redact_monitor(monitor) == {
        "id": "a",
        "status": {"state": "up"},
        "options": {"token": REDACTED},
    }


def test_restoring_secrets_puts_stored_values_where_placeholders_are() -> None:
    stored = {"options": {"basic_auth": {"username": "a", "password": "p"}}}
    sent = {"options": {"basic_auth": {"username": "b", "password": REDACTED}}}

    restored, errors = restore_secrets(sent, stored)

    assert errors == []
    assert restored == {"options": {"basic_auth": {"username": "b", "password": "p"}}}


def test_restoring_a_placeholder_with_nothing_stored_names_the_field() -> None:
    sent = {"options": {"headers": {"X-Api-Key": REDACTED}}}

    _, errors = restore_secrets(sent, {"options": {}})

    assert errors == [
        FieldError(
            "options.headers.X-Api-Key",
            "is the redacted placeholder; send the real value",
        )
    ]


# -- failures the real platform does not show -------------------------------


@pytest.fixture
async def broken(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a gateway whose platform fails every call, signed in."""
    async with (
        broken_gateway(tmp_path) as (url, api_key),
        httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {api_key}"}
        ) as client,
    ):
        yield client


async def test_an_unexpected_failure_answers_500_without_its_details(
    broken: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="web.errors")
    response = await broken.get("/api/v1/monitors")

    assert response.status_code == 500
    assert error_of(response)["message"] == INTERNAL_MESSAGE
    assert "hunter2" not in response.text
    logged = [r for r in caplog.records if r.name == "web.errors"]
    assert logged
    assert logged[0].exc_info is not None


# -- live updates -----------------------------------------------------------


class LiveClient:
    """A real socket.io client recording what it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

        async def on_result(data: dict[str, Any]) -> None:
            await self.received.put(("result", data))

        async def on_event(data: dict[str, Any]) -> None:
            await self.received.put(("event", data))

        self.sio.on("result", on_result)
        self.sio.on("event", on_event)

    async def next_about(self, monitor_id: str, kind: str) -> dict[str, Any]:
        """The next update of ``kind`` about ``monitor_id``, skipping others."""
        deadline = time.monotonic() + WAIT
        while True:
            remaining = deadline - time.monotonic()
            got_kind, data = await asyncio.wait_for(self.received.get(), remaining)
            if got_kind == kind and data.get("monitor_id") == monitor_id:
                return data

    def monitors_seen(self) -> set[str]:
        seen: set[str] = set()
        while not self.received.empty():
            seen.add(str(self.received.get_nowait()[1].get("monitor_id")))
        return seen


class LiveClients(list[LiveClient]):
    """The live clients a test connected, and the key they connect with."""

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key


@pytest.fixture
async def live_clients(api_key: str) -> AsyncIterator[LiveClients]:
    clients = LiveClients(api_key)
    yield clients
    for client in clients:
        await client.sio.disconnect()


async def connect(
    clients: LiveClients, gateway_url: str, monitors: str | None = None
) -> LiveClient:
    client = LiveClient()
    url = gateway_url if monitors is None else f"{gateway_url}?monitors={monitors}"
    await client.sio.connect(
        url,
        transports=["websocket"],
        wait_timeout=WAIT,
        auth={"token": clients.api_key},
    )
    clients.append(client)
    return client


async def test_a_live_client_in_room_all_gets_results_and_events(
    http: httpx.AsyncClient,
    made: list[str],
    gateway_url: str,
    live_clients: LiveClients,
) -> None:
    everything = await connect(live_clients, gateway_url)
    monitor_id = new_id()

    await create(http, made, definition(gateway_url, monitor_id))
    event = await everything.next_about(monitor_id, "event")
    result = await everything.next_about(monitor_id, "result")

    assert event["type"]
    assert event["id"]
    assert result["ok"] is True
    assert {"started_at", "latency_ms", "state"} <= result.keys()


async def test_a_client_connected_for_one_monitor_gets_only_that_monitor(
    http: httpx.AsyncClient,
    made: list[str],
    gateway_url: str,
    live_clients: LiveClients,
) -> None:
    watched, other = new_id(), new_id()
    narrow = await connect(live_clients, gateway_url, monitors=watched)

    await create(http, made, definition(gateway_url, other))
    await create(http, made, definition(gateway_url, watched))
    await narrow.next_about(watched, "result")
    await narrow.next_about(watched, "result")

    assert narrow.monitors_seen() <= {watched}


async def test_subscribe_and_unsubscribe_join_and_leave_a_monitor_room(
    http: httpx.AsyncClient,
    made: list[str],
    gateway_url: str,
    live_clients: LiveClients,
) -> None:
    monitor_id = new_id()
    placeholder = new_id()
    client = await connect(live_clients, gateway_url, monitors=placeholder)
    await create(http, made, definition(gateway_url, monitor_id))

    joined = await client.sio.call("subscribe", {"monitor": monitor_id}, timeout=WAIT)
    await client.next_about(monitor_id, "result")
    left = await client.sio.call("unsubscribe", {"monitor": monitor_id}, timeout=WAIT)
    await asyncio.sleep(0.2)
    client.monitors_seen()
    await asyncio.sleep(2.5)

    assert joined == {"room": f"monitor:{monitor_id}"}
    assert left == {"room": f"monitor:{monitor_id}"}
    assert monitor_id not in client.monitors_seen()


async def test_subscribing_without_a_monitor_id_is_answered_with_an_error(
    gateway_url: str, live_clients: LiveClients
) -> None:
    client = await connect(live_clients, gateway_url)

    answer = await client.sio.call("subscribe", {"monitor": "../etc"}, timeout=WAIT)

    assert answer == {"error": "monitor: must be a monitor id"}


async def test_connecting_for_a_malformed_monitor_id_is_refused(
    gateway_url: str, api_key: str
) -> None:
    client = LiveClient()
    refusals: list[Any] = []

    async def on_refused(data: Any) -> None:
        refusals.append(data)

    client.sio.on("connect_error", on_refused)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.sio.connect(
            f"{gateway_url}?monitors=ok,bad%20id",
            transports=["websocket"],
            wait_timeout=WAIT,
            auth={"token": api_key},
        )

    assert refusals == [{"message": "monitors: 'bad id' is not a monitor id"}]


class RecordingServer:
    """Stands in for socket.io: records emits, which wait until released."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, Any]]] = []
        self.release = asyncio.Event()

    def on(self, event: str, handler: Any) -> None:
        pass

    async def emit(self, event: str, data: dict[str, Any], **kwargs: Any) -> None:
        await self.release.wait()
        self.emitted.append((event, data))

    async def shutdown(self) -> None:
        pass


class Burst(BrokenPlatform):
    """A feed of many results at once, with events among them."""

    def __init__(self, results: int, events: int) -> None:
        self.items: list[dict[str, Any]] = [
            {"type": "result", "data": {"monitor_id": "m", "n": n}}
            for n in range(results)
        ]
        for n in range(events):
            self.items.insert(n * 7, {"type": "event", "data": {"id": f"e{n}"}})
        self.sent = asyncio.Event()

    async def get_monitor(self, monitor_id: str) -> dict[str, Any]:
        return {"id": monitor_id, "tags": []}

    async def list_monitors(self, **filters: Any) -> list[dict[str, Any]]:
        return [{"id": "m", "tags": []}]

    async def live(
        self, results: Callable[[], bool] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        for item in self.items:
            yield item
        self.sent.set()
        await asyncio.Event().wait()


async def test_a_slow_emitter_drops_results_but_never_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="web.live")
    sio = RecordingServer()
    feed = Burst(results=200, events=5)
    hub = LiveHub(sio, feed, max_pending_results=10, drop_log_every=60.0)

    hub.start()
    await asyncio.wait_for(feed.sent.wait(), WAIT)
    drop_lines_while_running = len(caplog.records)
    sio.release.set()
    for _ in range(100):
        await asyncio.sleep(0.01)
    await hub.stop()

    events = [data["id"] for kind, data in sio.emitted if kind == "event"]
    results = [data for kind, data in sio.emitted if kind == "result"]
    assert events == [f"e{n}" for n in range(5)]
    assert len(results) <= 11
    assert hub.dropped == 200 - len(results)
    assert drop_lines_while_running == 1
