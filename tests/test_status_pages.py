"""Status pages: kept like settings, read by anyone, showing nothing private.

The pages' monitors check the session's gateway itself: its ``/healthz``
answers (up), a path it does not serve answers 404 (down).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from alerting.status_pages import overall_state, status_page_from_dict
from engine.errors import ValidationError
from sdk import AsyncClient
from tests.gateway_monitors import WAIT, definition, new_id
from tests.waiting import eventually


@pytest.fixture
async def anyone(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no credentials at all."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=WAIT) as client:
        yield client


@pytest.fixture
async def pages(http: httpx.AsyncClient) -> AsyncIterator[list[str]]:
    """Ids of status pages a test made; each is deleted when the test ends."""
    ids: list[str] = []
    yield ids
    for page_id in ids:
        await http.delete(f"/api/v1/status-pages/{page_id}")


async def state_of(http: httpx.AsyncClient, monitor_id: str) -> str | None:
    answer = await http.get(f"/api/v1/monitors/{monitor_id}")
    state: str | None = (answer.json().get("status") or {}).get("state")
    return state


async def make_page(
    http: httpx.AsyncClient, pages: list[str], **fields: Any
) -> dict[str, Any]:
    page_id = new_id("page")
    answer = await http.post(
        "/api/v1/status-pages", json={"id": page_id, "title": "Our status", **fields}
    )
    assert answer.status_code == 201, answer.text
    pages.append(page_id)
    made: dict[str, Any] = answer.json()
    return made


async def test_anyone_reads_a_page_with_its_monitors_states_and_no_targets(
    http: httpx.AsyncClient,
    anyone: httpx.AsyncClient,
    gateway_url: str,
    made: list[str],
    pages: list[str],
) -> None:
    up, down, tag = new_id("page-up"), new_id("page-down"), new_id("shown")
    secret_path = f"/missing-{new_id('path')}"
    for body in (
        definition(gateway_url, up, name="Public API", description="runbook: x"),
        definition(gateway_url, down, name="Billing", target=gateway_url + secret_path),
    ):
        body["tags"] = [tag, "private-tag"]
        assert (await http.post("/api/v1/monitors", json=body)).status_code == 201
        made.append(body["id"])
    page = await make_page(
        http, pages, monitors=[up], tags=[tag], description="All of it"
    )

    async def shown_settled() -> dict[str, Any] | None:
        answer = await anyone.get(f"/api/v1/public/status-pages/{page['id']}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        states = {monitor["id"]: monitor["state"] for monitor in found["monitors"]}
        open_ones = [i for i in found["incidents"] if i["monitor_id"] == down]
        settled = states == {up: "up", down: "down"} and open_ones
        return found if settled else None

    shown = await eventually(shown_settled, within=3 * WAIT)
    raw = (await anyone.get(f"/api/v1/public/status-pages/{page['id']}")).text

    assert page == {
        "id": page["id"],
        "title": "Our status",
        "description": "All of it",
        "monitors": [up],
        "tags": [tag],
        "show_latency": True,
    }
    assert shown["title"] == "Our status"
    assert shown["overall"] == "degraded"
    assert [monitor["id"] for monitor in shown["monitors"]] == [up, down]
    first = shown["monitors"][0]
    assert set(first) == {"id", "name", "state", "latency_ms", "uptime"}
    assert first["name"] == "Public API"
    assert isinstance(first["latency_ms"], float)
    assert set(first["uptime"]) == {"24h", "30d"}
    [incident] = [i for i in shown["incidents"] if i["monitor_id"] == down]
    assert set(incident) == {
        "monitor_id",
        "status",
        "opened_at",
        "updated_at",
        "resolved_at",
    }
    assert incident["status"] == "open"
    for private in (gateway_url, secret_path, "healthz", "private-tag", tag, "runbook"):
        assert private not in raw


async def test_a_page_that_hides_latency_shows_none(
    http: httpx.AsyncClient,
    anyone: httpx.AsyncClient,
    gateway_url: str,
    made: list[str],
    pages: list[str],
) -> None:
    monitor_id = new_id("quiet")
    body = definition(gateway_url, monitor_id)
    assert (await http.post("/api/v1/monitors", json=body)).status_code == 201
    made.append(monitor_id)
    page = await make_page(http, pages, monitors=[monitor_id], show_latency=False)

    async with AsyncClient(gateway_url, api_key="", timeout=WAIT) as client:
        shown_page = await client.public_status_page(page["id"])

    [shown] = shown_page["monitors"]
    assert shown["id"] == monitor_id
    assert "latency_ms" not in shown


@pytest.mark.parametrize("page_id", ["no-such-page", "Not_A_Slug", "x" * 300])
async def test_an_unknown_page_is_not_found_with_the_usual_error(
    anyone: httpx.AsyncClient, page_id: str
) -> None:
    answer = await anyone.get(f"/api/v1/public/status-pages/{page_id}")

    assert answer.status_code == 404
    assert answer.json()["error"]["status"] == 404


async def test_a_bad_page_is_refused_naming_every_bad_field(
    http: httpx.AsyncClient,
) -> None:
    body = {
        "id": "Not A Slug",
        "title": " ",
        "monitors": ["fine", ""],
        "tags": "prod",
        "show_latency": "yes",
        "colour": "teal",
    }

    answer = await http.post("/api/v1/status-pages", json=body)

    assert answer.status_code == 422, answer.text
    fields = {field["field"] for field in answer.json()["error"]["fields"]}
    assert fields == {"id", "title", "monitors[1]", "tags", "show_latency", "colour"}


async def test_a_page_of_more_than_500_monitors_is_refused(
    http: httpx.AsyncClient,
) -> None:
    body = {
        "id": new_id("huge"),
        "title": "Everything",
        "monitors": [f"m-{number}" for number in range(501)],
    }

    answer = await http.put(f"/api/v1/status-pages/{body['id']}", json=body)

    assert answer.status_code == 422
    assert [f["field"] for f in answer.json()["error"]["fields"]] == ["monitors"]


async def test_a_viewer_key_reads_pages_but_cannot_make_one(
    http: httpx.AsyncClient, anyone: httpx.AsyncClient, pages: list[str]
) -> None:
    made_key = await http.post(
        "/api/v1/keys", json={"name": new_id("viewer"), "scopes": ["monitors:read"]}
    )
    assert made_key.status_code == 201, made_key.text
    as_viewer = {"Authorization": f"Bearer {made_key.json()['key']}"}
    page = await make_page(http, pages)

    created = await anyone.post(
        "/api/v1/status-pages",
        json={"id": new_id("page"), "title": "Mine"},
        headers=as_viewer,
    )
    listed = await anyone.get("/api/v1/status-pages?limit=1000", headers=as_viewer)
    read = await anyone.get(f"/api/v1/status-pages/{page['id']}", headers=as_viewer)
    await http.delete(f"/api/v1/keys/{made_key.json()['id']}")

    assert created.status_code == 403
    assert "monitors:write" in created.json()["error"]["message"]
    assert page["id"] in [found["id"] for found in listed.json()["status_pages"]]
    assert read.status_code == 200


async def test_a_page_is_replaced_and_deleted_through_its_address(
    http: httpx.AsyncClient, pages: list[str]
) -> None:
    page = await make_page(http, pages, tags=["a"])

    replaced = await http.put(
        f"/api/v1/status-pages/{page['id']}",
        json={"title": "Renamed", "monitors": ["x"]},
    )
    deleted = await http.delete(f"/api/v1/status-pages/{page['id']}")
    gone = await http.get(f"/api/v1/status-pages/{page['id']}")

    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["title"] == "Renamed"
    assert replaced.json()["tags"] == []
    assert deleted.status_code == 204
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("states", "overall"),
    [
        ([], "unknown"),
        (["paused", "unknown"], "unknown"),
        (["up", "up", "paused"], "up"),
        (["up", "maintenance"], "maintenance"),
        (["up", "pending"], "degraded"),
        (["up", "down", "maintenance"], "degraded"),
        (["degraded"], "degraded"),
        (["down", "down", "paused"], "down"),
    ],
)
def test_the_overall_state_sums_up_the_monitors_checked(
    states: list[str], overall: str
) -> None:
    assert overall_state(states) == overall


def test_a_page_definition_gets_its_defaults_and_drops_repeats() -> None:
    page = status_page_from_dict(
        {"id": "shop", "title": "Shop", "monitors": ["a", "b", "a"], "tags": None}
    )

    assert page.to_dict() == {
        "id": "shop",
        "title": "Shop",
        "description": "",
        "monitors": ["a", "b"],
        "tags": [],
        "show_latency": True,
    }


def test_a_page_without_a_title_names_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        status_page_from_dict({"id": "shop"})

    assert [error.field for error in raised.value.errors] == ["title"]
