"""A stand-in platform that is never ready and fails every call.

It shows the gateway's behaviour in the failures the real platform cannot be
made to produce on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from store import open_store
from store.accounts import AccountBackend
from web.accounts import Accounts
from web.app import create_app
from web.server import start_gateway


class BrokenPlatform:
    """A platform that is never ready and fails every call with internals."""

    failure = "connection to db-primary:5432 refused (password=hunter2)"

    def _fail(self) -> RuntimeError:
        return RuntimeError(self.failure)

    def account_backend(self) -> AccountBackend:
        raise self._fail()

    async def alerting_overlay(self) -> dict[str, dict[str, Any]]:
        raise self._fail()

    async def create_monitor(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        raise self._fail()

    async def update_monitor(
        self, monitor_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        raise self._fail()

    async def replace_monitor(
        self, monitor_id: str, definition: Mapping[str, Any]
    ) -> dict[str, Any]:
        raise self._fail()

    async def delete_monitor(self, monitor_id: str) -> None:
        raise self._fail()

    async def pause_monitor(self, monitor_id: str) -> dict[str, Any]:
        raise self._fail()

    async def resume_monitor(self, monitor_id: str) -> dict[str, Any]:
        raise self._fail()

    async def get_monitor(self, monitor_id: str) -> dict[str, Any]:
        raise self._fail()

    async def list_monitors(
        self,
        *,
        tag: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        enabled: bool | None = None,
        search: str | None = None,
    ) -> list[dict[str, Any]]:
        raise self._fail()

    async def status(self) -> list[dict[str, Any]]:
        raise self._fail()

    async def results(
        self,
        monitor_id: str,
        *,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        raise self._fail()

    async def events(
        self,
        *,
        after: str | None = None,
        monitor_id: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        raise self._fail()

    async def live(
        self, results: Callable[[], bool] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        await asyncio.Event().wait()
        yield {}

    async def record_ping(
        self,
        token: str,
        *,
        ok: bool = True,
        message: str = "",
        duration_ms: float | None = None,
    ) -> bool:
        raise self._fail()

    async def ready(self) -> bool:
        return False

    async def engine_stats(self) -> list[dict[str, Any]]:
        raise self._fail()

    async def storage_stats(self) -> dict[str, Any]:
        raise self._fail()

    async def uptime_report(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        raise self._fail()

    async def rollup_summaries(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        raise self._fail()

    async def actors(self) -> list[dict[str, Any]]:
        raise self._fail()

    async def apply_monitors(
        self, definitions: Sequence[Mapping[str, Any]] | bytes
    ) -> list[list[str]]:
        raise self._fail()

    async def add_shard(self) -> dict[str, Any]:
        raise self._fail()

    async def remove_shard(self, name: str) -> dict[str, Any]:
        raise self._fail()

    async def incidents(self, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        raise self._fail()

    async def incident(self, incident_id: str, *, limit: int = 1000) -> dict[str, Any]:
        raise self._fail()

    async def acknowledge_incident(
        self,
        incident_id: str,
        *,
        by: str,
        lasting: float | None = None,
        note: str = "",
    ) -> dict[str, Any]:
        raise self._fail()

    async def resolve_incident(
        self, incident_id: str, *, by: str, note: str = ""
    ) -> dict[str, Any]:
        raise self._fail()

    async def note_incident(
        self, incident_id: str, *, by: str, text: str
    ) -> dict[str, Any]:
        raise self._fail()

    async def list_settings(self, kind: str) -> list[dict[str, Any]]:
        raise self._fail()

    async def get_setting(self, kind: str, setting_id: str) -> dict[str, Any]:
        raise self._fail()

    async def put_setting(
        self, kind: str, body: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        raise self._fail()

    async def delete_setting(self, kind: str, setting_id: str) -> None:
        raise self._fail()

    async def send_test(self, channel_id: str) -> dict[str, Any]:
        raise self._fail()

    async def deliveries(
        self, *, channel_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        raise self._fail()

    async def outbox(self, query: Mapping[str, Any]) -> list[dict[str, Any]]:
        raise self._fail()

    async def requeue(self, entry_id: int) -> bool:
        raise self._fail()

    async def monitor_analysis(
        self, monitor_id: str, *, limit: int = 2000, threshold_ms: float | None = None
    ) -> dict[str, Any]:
        raise self._fail()

    async def monitor_baselines(self, monitor_id: str) -> dict[str, Any]:
        raise self._fail()

    async def failing_together(
        self, *, since: float, until: float, bucket: float = 60.0
    ) -> list[dict[str, Any]]:
        raise self._fail()

    async def slo_status(self, slo_id: str) -> dict[str, Any]:
        raise self._fail()


@contextlib.asynccontextmanager
async def broken_gateway(folder: Path) -> AsyncIterator[tuple[str, str]]:
    """A gateway in front of a ``BrokenPlatform``: its URL and an owner's API key.

    Its accounts are kept in a real SQLite store in ``folder``, so requests
    pass authentication and reach the broken platform.
    """
    async with open_store(f"sqlite://{folder / 'accounts.db'}") as store:
        accounts = Accounts(store)
        _, api_key = await accounts.create_owner(
            "broken-owner", "amber-kettle-orbit-17", key_name="tests"
        )
        assert api_key is not None
        app = create_app(
            BrokenPlatform(),
            name=f"upcast-broken-{secrets.token_hex(4)}",
            accounts=accounts,
        )
        running = await start_gateway(app)
        try:
            yield running.url, api_key
        finally:
            await running.stop()
