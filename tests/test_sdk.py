"""The SDK's clients against the real gateway at ``gateway_url``.

Each test makes monitors with ids of its own and deletes them afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sdk import (
    AsyncClient,
    Client,
    Conflict,
    ConnectionFailed,
    InvalidMonitor,
    NotFound,
    ServerError,
    UpcastError,
)
from tests import gateway_monitors
from tests.broken_platform import broken_gateway
from tests.gateway_monitors import WAIT, definition
from tests.waiting import eventually
from web.redact import REDACTED


def new_id(prefix: str = "sdk") -> str:
    return gateway_monitors.new_id(prefix)


@pytest.fixture
def client(gateway_url: str, api_key: str) -> Iterator[Client]:
    with Client(gateway_url, api_key=api_key, timeout=WAIT) as opened:
        yield opened


@pytest.fixture
async def async_client(gateway_url: str, api_key: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(gateway_url, api_key=api_key, timeout=WAIT) as opened:
        yield opened


@pytest.fixture
def made(gateway_url: str, api_key: str) -> Iterator[list[str]]:
    """Ids of monitors a test made; each is deleted when the test ends."""
    ids: list[str] = []
    yield ids
    with Client(gateway_url, api_key=api_key) as cleaner:
        for monitor_id in ids:
            with contextlib.suppress(NotFound):
                cleaner.delete_monitor(monitor_id)


def unreachable_url() -> str:
    """An address where nothing listens: a port just freed by the system."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- the blocking client ----------------------------------------------------


def test_the_blocking_client_manages_a_monitor_from_start_to_end(
    client: Client, gateway_url: str
) -> None:
    monitor_id = new_id()

    created = client.create_monitor(definition(gateway_url, monitor_id))
    fetched = client.get_monitor(monitor_id)
    updated = client.update_monitor(monitor_id, {"description": "edge API"})
    replaced = client.replace_monitor(
        monitor_id, definition(gateway_url, monitor_id, interval=5, timeout=2)
    )
    paused = client.pause(monitor_id)
    listed = client.list_monitors(state="paused")
    resumed = client.resume(monitor_id)
    client.delete_monitor(monitor_id)

    assert created["id"] == fetched["id"] == monitor_id
    assert updated["description"] == "edge API"
    assert replaced["interval"] == 5
    assert replaced["description"] == ""
    assert paused["id"] == resumed["id"] == monitor_id
    assert monitor_id in {m["id"] for m in listed}
    with pytest.raises(NotFound):
        client.get_monitor(monitor_id)


def test_the_blocking_client_reads_results_status_and_events(
    client: Client, made: list[str], gateway_url: str
) -> None:
    monitor_id = new_id()
    client.create_monitor(definition(gateway_url, monitor_id))
    made.append(monitor_id)

    with client.subscribe([monitor_id]) as updates:
        first = updates.next_update(timeout=WAIT)
        while first["type"] != "result":
            first = updates.next_update(timeout=WAIT)
    results = client.results(monitor_id, since=first["data"]["started_at"] - 1)
    status = {entry["id"] for entry in client.status()}
    events = client.events(monitor=monitor_id)

    assert first["data"]["monitor_id"] == monitor_id
    assert results
    assert all(r["monitor_id"] == monitor_id for r in results)
    assert monitor_id in status
    assert all(event["monitor_id"] == monitor_id for event in events)


def test_the_blocking_client_reads_the_engine_figures_of_each_shard(
    client: Client,
) -> None:
    shards = client.engine()

    assert sorted(shard["shard"] for shard in shards) == ["shard-0", "shard-1"]
    assert all(shard["checks_done"] >= 0 for shard in shards)


def test_a_rejected_definition_names_every_bad_field(
    client: Client, gateway_url: str
) -> None:
    with pytest.raises(InvalidMonitor) as caught:
        client.create_monitor(definition(gateway_url, new_id(), interval=0, retries=-1))

    fields = dict(caught.value.fields)
    assert fields["interval"] == "must be between 1s and 24h, got 0s"
    assert "retries" in fields
    assert caught.value.status == 422
    assert not caught.value.retryable


def test_creating_an_existing_id_raises_conflict(
    client: Client, made: list[str], gateway_url: str
) -> None:
    body = definition(gateway_url, new_id())
    client.create_monitor(body)
    made.append(body["id"])

    with pytest.raises(Conflict):
        client.create_monitor(body)


def test_a_bad_query_parameter_raises_an_upcast_error_naming_it(
    client: Client,
) -> None:
    with pytest.raises(UpcastError, match=r"^state: must be one of"):
        client.list_monitors(state="sideways")


def test_secrets_come_back_redacted(
    client: Client, made: list[str], gateway_url: str
) -> None:
    body = definition(gateway_url, new_id(), options={"bearer_token": "s3cr3t"})

    created = client.create_monitor(body)
    made.append(body["id"])

    assert created["options"] == {"bearer_token": REDACTED}


def test_an_unreachable_gateway_raises_connection_failed() -> None:
    with (
        Client(unreachable_url(), timeout=2) as lost,
        pytest.raises(ConnectionFailed) as caught,
    ):
        lost.status()

    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.retryable


# -- the asyncio client -----------------------------------------------------


async def test_the_async_client_manages_a_monitor_from_start_to_end(
    async_client: AsyncClient, gateway_url: str
) -> None:
    monitor_id = new_id()

    created = await async_client.create_monitor(definition(gateway_url, monitor_id))
    updated = await async_client.update_monitor(monitor_id, {"retries": 2})
    replaced = await async_client.replace_monitor(
        monitor_id, definition(gateway_url, monitor_id, tags=["edge"])
    )
    paused = await async_client.pause(monitor_id)
    resumed = await async_client.resume(monitor_id)
    listed = await async_client.list_monitors(tag="edge", q=monitor_id)
    await async_client.delete_monitor(monitor_id)

    assert created["id"] == monitor_id
    assert updated["retries"] == 2
    assert replaced["retries"] == 0
    assert replaced["tags"] == ["edge"]
    assert paused["id"] == resumed["id"] == monitor_id
    assert [m["id"] for m in listed] == [monitor_id]
    with pytest.raises(NotFound):
        await async_client.delete_monitor(monitor_id)


async def test_the_async_client_follows_one_monitor_live(
    async_client: AsyncClient, made: list[str], gateway_url: str
) -> None:
    watched, other = new_id(), new_id()

    async with async_client.subscribe([watched]) as updates:
        await async_client.create_monitor(definition(gateway_url, other))
        await async_client.create_monitor(definition(gateway_url, watched))
        made.extend([other, watched])
        seen: list[dict[str, Any]] = []
        while not any(update["type"] == "result" for update in seen):
            seen.append(await asyncio.wait_for(anext(updates), WAIT))

    assert {update["data"]["monitor_id"] for update in seen} == {watched}


async def test_the_async_client_reads_the_engine_figures(
    async_client: AsyncClient,
) -> None:
    shards = await async_client.engine()

    assert {"monitors", "in_flight", "lateness_p50_ms"} <= shards[0].keys()


async def test_results_can_be_asked_for_by_datetime(
    async_client: AsyncClient, made: list[str], gateway_url: str
) -> None:
    monitor_id = new_id()
    await async_client.create_monitor(definition(gateway_url, monitor_id))
    made.append(monitor_id)
    later = datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC)

    found = await async_client.results(monitor_id, since=later, limit=5)

    assert found == []


def test_the_blocking_client_reads_uptime_and_summary_reports(
    client: Client, made: list[str], gateway_url: str
) -> None:
    monitor_id = new_id()
    client.create_monitor(definition(gateway_url, monitor_id, tags=["sdk-report"]))
    made.append(monitor_id)
    long_ago = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)

    deadline = time.monotonic() + WAIT
    by_tag = client.uptime_report("month", by="tag", tags=["sdk-report"])
    while not by_tag and time.monotonic() < deadline:
        time.sleep(0.1)
        by_tag = client.uptime_report("month", by="tag", tags=["sdk-report"])
    nothing_then = client.uptime_report(
        "week", since=long_ago, until=long_ago, monitors=[monitor_id]
    )
    summary = client.summary(monitors=[monitor_id])

    assert {row["key"] for row in by_tag} == {"sdk-report"}
    assert nothing_then == []
    assert [entry["monitor_id"] for entry in summary] == [monitor_id]


async def test_the_async_client_reads_uptime_per_monitor(
    async_client: AsyncClient, made: list[str], gateway_url: str
) -> None:
    monitor_id = new_id()
    await async_client.create_monitor(definition(gateway_url, monitor_id))
    made.append(monitor_id)

    async def reported() -> list[dict[str, Any]] | None:
        rows = await async_client.uptime_report(monitors=[monitor_id])
        return rows or None

    rows = await eventually(reported)

    assert {row["key"] for row in rows} == {monitor_id}


async def test_an_unreachable_gateway_raises_connection_failed_when_async() -> None:
    async with AsyncClient(unreachable_url(), timeout=2) as lost:
        with pytest.raises(ConnectionFailed):
            await lost.get_monitor("anything")


async def test_a_failing_gateway_raises_a_retryable_server_error(
    tmp_path: Path,
) -> None:
    async with (
        broken_gateway(tmp_path) as (url, api_key),
        AsyncClient(url, api_key=api_key) as failing,
    ):
        with pytest.raises(ServerError) as caught:
            await failing.status()

    assert caught.value.status == 500
    assert caught.value.retryable
    assert "hunter2" not in caught.value.message


# -- apply ------------------------------------------------------------------


def test_apply_creates_updates_and_leaves_alone_and_can_run_again(
    client: Client, made: list[str], gateway_url: str
) -> None:
    ids = [new_id() for _ in range(4)]
    made.extend(ids)
    wanted = [definition(gateway_url, monitor_id) for monitor_id in ids]
    calls: list[tuple[int, int]] = []

    first = client.apply(
        wanted, progress=lambda done, total: calls.append((done, total))
    )
    again = client.apply(wanted)
    wanted[1] = definition(gateway_url, ids[1], description="changed")
    third = client.apply(wanted)

    assert first.created == ids
    assert (first.updated, first.unchanged) == ([], [])
    assert calls[-1] == (4, 4)
    assert again.unchanged == ids
    assert not again.changed
    assert third.updated == [ids[1]]
    assert third.unchanged == [ids[0], ids[2], ids[3]]
    assert client.get_monitor(ids[1])["description"] == "changed"


async def test_async_apply_is_idempotent_with_secrets_and_durations(
    async_client: AsyncClient, made: list[str], gateway_url: str
) -> None:
    ids = [new_id() for _ in range(30)]
    made.extend(ids)
    wanted = [
        definition(
            gateway_url,
            monitor_id,
            interval="1m",
            timeout="2s",
            options={"basic_auth": {"username": "ops", "password": "p"}},
        )
        for monitor_id in ids
    ]
    progress: list[tuple[int, int]] = []

    first = await async_client.apply(
        wanted, progress=lambda done, total: progress.append((done, total))
    )
    again = await async_client.apply(wanted)

    assert sorted(first.created) == sorted(ids)
    assert again.unchanged == ids
    assert progress[0] == (0, 30)
    assert progress[-1] == (30, 30)


def test_apply_refuses_duplicate_ids_before_sending_anything(
    client: Client, gateway_url: str
) -> None:
    monitor_id = new_id()
    twice = [definition(gateway_url, monitor_id), definition(gateway_url, monitor_id)]

    with pytest.raises(InvalidMonitor) as caught:
        client.apply(twice)

    assert caught.value.fields == [
        ("definitions[1].id", f"{monitor_id!r} is already used by definitions[0]")
    ]
    with pytest.raises(NotFound):
        client.get_monitor(monitor_id)
