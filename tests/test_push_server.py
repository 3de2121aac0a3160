"""The push server answering real HTTP pings and feeding push checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from engine.checks import CheckSpec
from engine.checks.push import PushCheck
from engine.heartbeats import Heartbeats
from engine.push_server import PushServer
from engine.result import CheckFailure, Reason


@pytest.fixture
def book() -> Heartbeats:
    return Heartbeats()


@pytest.fixture
async def server(book: Heartbeats) -> AsyncIterator[PushServer]:
    async with PushServer(book, port=0) as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def ping(
    client: aiohttp.ClientSession,
    url: str,
    method: str = "GET",
    **kwargs: Any,
) -> tuple[int, str]:
    async with client.request(method, url, **kwargs) as response:
        return response.status, await response.text()


async def run_as_scheduled(
    check: PushCheck, book: Heartbeats
) -> tuple[CheckFailure, int]:
    """Run the check whenever it asks to be run, as the scheduler would.

    Returns the first failure and how many runs passed before it.
    """
    for passes in range(20):
        try:
            await check.run()
        except CheckFailure as failure:
            return failure, passes
        due = check.next_due(book.now())
        assert due is not None
        await asyncio.sleep(max(due - book.now(), 0))
    raise AssertionError("the check never failed")


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
async def test_a_ping_by_any_method_is_recorded_as_success(
    server: PushServer, client: aiohttp.ClientSession, book: Heartbeats, method: str
) -> None:
    status, text = await ping(client, f"{server.url}/cron-job", method)

    assert status == 200
    assert text == ("" if method == "HEAD" else "OK")
    recorded = book.last("cron-job")
    assert recorded is not None
    assert recorded.ok


@pytest.mark.parametrize(
    ("path", "ok", "message"),
    [
        ("/job/fail", False, ""),
        ("/job/down?msg=disk+full", False, "disk full"),
        ("/job?status=down&msg=exit%201", False, "exit 1"),
        ("/job?status=up&msg=done", True, "done"),
        ("/job/ok", True, ""),
    ],
)
async def test_the_path_and_query_say_whether_the_job_failed(
    server: PushServer,
    client: aiohttp.ClientSession,
    book: Heartbeats,
    path: str,
    ok: bool,
    message: str,
) -> None:
    status, _ = await ping(client, server.url + path)

    recorded = book.last("job")
    assert status == 200
    assert recorded is not None
    assert (recorded.ok, recorded.message) == (ok, message)


async def test_a_post_body_becomes_the_message(
    server: PushServer, client: aiohttp.ClientSession, book: Heartbeats
) -> None:
    await ping(client, f"{server.url}/job/fail", "POST", data="rsync: exit 23\n")

    recorded = book.last("job")
    assert recorded is not None
    assert recorded.message == "rsync: exit 23"


async def test_the_jobs_own_duration_is_kept(
    server: PushServer, client: aiohttp.ClientSession, book: Heartbeats
) -> None:
    await ping(client, f"{server.url}/job?ms=1520.5")

    recorded = book.last("job")
    assert recorded is not None
    assert recorded.duration_ms == 1520.5


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/job?ms=fast", 400),
        ("/job?ms=-1", 400),
        ("/job?status=maybe", 400),
        ("/job/sideways", 400),
        ("/bad%20token", 404),
    ],
)
async def test_a_ping_that_cannot_be_understood_is_refused_and_not_recorded(
    server: PushServer,
    client: aiohttp.ClientSession,
    book: Heartbeats,
    path: str,
    status: int,
) -> None:
    answered, _ = await ping(client, server.url + path)

    assert answered == status
    assert len(book) == 0


async def test_tokens_no_monitor_uses_get_not_found(
    book: Heartbeats, client: aiohttp.ClientSession
) -> None:
    async with PushServer(book, port=0, known={"known"}.__contains__) as server:
        unknown, _ = await ping(client, f"{server.url}/stranger")
        known, _ = await ping(client, f"{server.url}/known")

    assert (unknown, known) == (404, 200)
    assert "stranger" not in book


async def test_a_stopped_server_no_longer_listens(
    book: Heartbeats, client: aiohttp.ClientSession
) -> None:
    server = PushServer(book, port=0)
    await server.start()
    url = f"{server.url}/job"
    await server.stop()

    with pytest.raises(aiohttp.ClientConnectionError):
        await ping(client, url)


async def test_a_check_passes_after_a_ping_and_misses_right_after_its_window(
    server: PushServer, client: aiohttp.ClientSession, book: Heartbeats
) -> None:
    spec = CheckSpec("job", "job", {"grace": "200ms"}, interval=0.3, timeout=1.0)
    check = PushCheck.prepare(spec, book=book)
    await ping(client, f"{server.url}/job")
    pinged = book.now()

    failure, passes = await run_as_scheduled(check, book)

    missed_after = book.now() - pinged
    assert passes >= 2
    assert 0.5 <= missed_after < 0.6
    assert failure.reason is Reason.MISSED
    assert "expected every 300ms plus 200ms grace" in failure.message


async def test_the_health_route_answers_while_the_server_runs(
    server: PushServer, client: aiohttp.ClientSession
) -> None:
    async with client.get(f"http://127.0.0.1:{server.port}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok", "tokens_seen": 0}


async def test_each_recorded_ping_is_told_by_its_token(
    book: Heartbeats, client: aiohttp.ClientSession
) -> None:
    told: list[str] = []
    known = {"backup", "export"}.__contains__
    async with PushServer(book, port=0, known=known, on_ping=told.append) as running:
        await ping(client, f"{running.url}/backup")
        await ping(client, f"{running.url}/export/fail")
        await ping(client, f"{running.url}/stranger")

    assert told == ["backup", "export"]
