"""What the gateway says of itself through the SDK: reference, engine, presence."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from sdk import Client, NotFound
from tests.gateway_monitors import WAIT, new_id


@pytest.fixture
def client(gateway_url: str, api_key: str) -> Iterator[Client]:
    with Client(gateway_url, api_key=api_key, timeout=WAIT) as opened:
        yield opened


def test_the_reference_page_and_its_style_come_as_text(client: Client) -> None:
    page = client.docs()
    style = client.docs_style()

    assert page.startswith("<!doctype html>")
    assert "/api/v1/docs/style.css" in page
    assert "body {" in style


def test_the_openapi_document_names_its_version(client: Client) -> None:
    document = client.openapi()

    assert document["openapi"].startswith("3.")
    assert "/api/v1/monitors" in document["paths"]


def test_the_engine_overview_holds_shards_actors_and_storage(client: Client) -> None:
    overview = client.engine_overview()

    assert {"shards", "actors", "storage"} <= overview.keys()
    assert [s["shard"] for s in overview["shards"]] == [
        s["shard"] for s in client.engine()
    ]


def test_a_channel_tells_its_latest_deliveries(client: Client) -> None:
    channel_id = new_id("deliveries")
    client.put_setting(
        "channels",
        {"id": channel_id, "kind": "webhook", "url": "http://127.0.0.1:9/hook"},
    )
    try:
        client.send_test(channel_id)
        deliveries = client.deliveries(channel_id, limit=5)
    finally:
        client.delete_setting("channels", channel_id)

    assert isinstance(deliveries, list)
    assert len(deliveries) <= 5
    with pytest.raises(NotFound):
        client.deliveries(channel_id)


def test_presence_lists_who_follows_live_updates(client: Client) -> None:
    me = client.me()["user"]

    with client.subscribe([new_id("unwatched")]):
        deadline = time.monotonic() + WAIT
        watching = client.presence()
        while me["id"] not in [w["user_id"] for w in watching]:
            assert time.monotonic() < deadline, watching
            time.sleep(0.1)
            watching = client.presence()

    [entry] = [w for w in watching if w["user_id"] == me["id"]]
    assert entry["name"] == me["name"]
    assert entry["connections"] >= 1
    assert entry["since"] <= time.time()
