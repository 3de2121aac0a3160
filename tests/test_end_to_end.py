"""The whole platform as a user meets it: SDK, REST, Socket.io, push pings."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from sdk import AsyncClient
from tests.tcp_target import TcpTarget

WAIT = 15.0


async def next_matching(
    updates: AsyncIterator[dict[str, Any]], kind: str, **data: Any
) -> dict[str, Any]:
    """The next live update of ``kind`` whose data holds every given item."""
    deadline = time.monotonic() + WAIT
    while True:
        left = deadline - time.monotonic()
        update = await asyncio.wait_for(anext(updates), max(left, 0.01))
        if update["type"] == kind and all(
            update["data"].get(key) == value for key, value in data.items()
        ):
            return update


async def test_a_target_that_stops_goes_down_live_and_recovers(
    gateway_url: str, api_key: str
) -> None:
    with TcpTarget() as target:
        async with AsyncClient(gateway_url, api_key=api_key) as client:
            report = await client.apply(
                [
                    {
                        "id": "e2e-db",
                        "name": "Database port",
                        "kind": "tcp",
                        "target": target.address,
                        "interval": 1,
                        "timeout": 1,
                    }
                ]
            )
            assert report.created == ["e2e-db"]
            try:
                async with client.subscribe(["e2e-db"]) as updates:
                    first = await next_matching(updates, "result", monitor_id="e2e-db")
                    target.stop()
                    down = await next_matching(updates, "result", state="down")
                    target.start()
                    recovered = await next_matching(updates, "event", type="recovered")

                stored = await client.results("e2e-db", limit=1000)
                events = await client.events(monitor="e2e-db", limit=1000)
            finally:
                await client.delete_monitor("e2e-db")

    assert first["data"]["ok"] is True
    assert down["data"]["reason"] == "connect"
    assert recovered["data"]["monitor_id"] == "e2e-db"
    assert {r["started_at"] for r in stored} >= {
        first["data"]["started_at"],
        down["data"]["started_at"],
    }
    types = [e["type"] for e in events]
    assert [t for t in types if not t.startswith("incident_")][-1] == "recovered"
    assert types.index("incident_opened") < types.index("incident_resolved")


async def test_a_job_reports_through_its_push_url(
    gateway_url: str, api_key: str
) -> None:
    async with AsyncClient(gateway_url, api_key=api_key) as client:
        await client.create_monitor(
            {
                "id": "e2e-backup",
                "name": "Nightly backup",
                "kind": "push",
                "interval": 1,
                "options": {"grace": "1s"},
            }
        )
        try:
            async with httpx.AsyncClient(base_url=gateway_url) as http:
                known = await http.get("/push/e2e-backup")
                stranger = await http.get("/push/nobody-uses-this")
                garbled = await http.get("/push/e2e-backup?ms=soon")
                async with client.subscribe(["e2e-backup"]) as updates:
                    failed = await http.post(
                        "/push/e2e-backup/fail", content=b"disk full"
                    )
                    down = await next_matching(updates, "result", state="down")
        finally:
            await client.delete_monitor("e2e-backup")

    assert (known.status_code, stranger.status_code) == (200, 404)
    assert garbled.status_code == 400
    assert "ms must be a number" in garbled.text
    assert failed.status_code == 200
    assert down["data"]["reason"] == "assertion"
    assert "disk full" in down["data"]["message"]


async def test_a_job_checked_daily_is_judged_as_soon_as_it_pings(
    gateway_url: str, api_key: str
) -> None:
    async with AsyncClient(gateway_url, api_key=api_key) as client:
        await client.create_monitor(
            {
                "id": "e2e-daily",
                "name": "Daily export",
                "kind": "push",
                "interval": "24h",
            }
        )
        try:
            async with (
                httpx.AsyncClient(base_url=gateway_url) as http,
                client.subscribe(["e2e-daily"]) as updates,
            ):
                await http.get("/push/e2e-daily")
                up = await next_matching(updates, "result", state="up")
                await http.get("/push/e2e-daily/fail?msg=quota")
                down = await next_matching(updates, "result", state="down")
        finally:
            await client.delete_monitor("e2e-daily")

    assert up["data"]["ok"] is True
    assert down["data"]["reason"] == "assertion"
    assert "quota" in down["data"]["message"]
