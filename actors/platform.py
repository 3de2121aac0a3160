"""The running platform as the gateway and commands see it.

``Platform`` is the one interface between the web gateway and the actors:
every call goes to the Coordinator, Storage or Event hub actor behind it.
Monitors travel as dictionaries in the shared schema (``Monitor.to_dict``),
with their current status under ``"status"`` where noted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Protocol

from store.accounts import AccountBackend


class MonitorNotFound(KeyError):
    """No monitor has this id."""

    def __init__(self, monitor_id: str) -> None:
        super().__init__(monitor_id)
        self.monitor_id = monitor_id

    def __str__(self) -> str:
        return f"no monitor has the id {self.monitor_id!r}"

    def __reduce__(self) -> tuple[type[MonitorNotFound], tuple[str]]:
        return (MonitorNotFound, (self.monitor_id,))


class MonitorExists(ValueError):
    """A monitor with this id exists already."""

    def __init__(self, monitor_id: str) -> None:
        super().__init__(f"a monitor with the id {monitor_id!r} exists already")
        self.monitor_id = monitor_id

    def __reduce__(self) -> tuple[type[MonitorExists], tuple[str]]:
        return (MonitorExists, (self.monitor_id,))


class ShardNotFound(KeyError):
    """No shard has this name."""

    def __init__(self, shard: str) -> None:
        super().__init__(shard)
        self.shard = shard

    def __str__(self) -> str:
        return f"no shard is named {self.shard!r}"

    def __reduce__(self) -> tuple[type[ShardNotFound], tuple[str]]:
        return (ShardNotFound, (self.shard,))


class AlertingPlatform(Protocol):
    """Incidents, alert settings and deliveries (``actors.alerting_calls``).

    Unknown incidents raise ``alerting.engine.IncidentNotFound``, unknown
    settings ``alerting.settings.SettingNotFound``; bad settings raise
    ``ValidationError`` naming every field.
    """

    async def incidents(self, query: Mapping[str, Any]) -> list[dict[str, Any]]: ...

    async def incident(
        self, incident_id: str, *, limit: int = 1000
    ) -> dict[str, Any]: ...

    async def acknowledge_incident(
        self,
        incident_id: str,
        *,
        by: str,
        lasting: float | None = None,
        note: str = "",
    ) -> dict[str, Any]: ...

    async def resolve_incident(
        self, incident_id: str, *, by: str, note: str = ""
    ) -> dict[str, Any]: ...

    async def note_incident(
        self, incident_id: str, *, by: str, text: str
    ) -> dict[str, Any]: ...

    async def list_settings(self, kind: str) -> list[dict[str, Any]]: ...

    async def get_setting(self, kind: str, setting_id: str) -> dict[str, Any]: ...

    async def put_setting(
        self, kind: str, body: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bool]: ...

    async def delete_setting(self, kind: str, setting_id: str) -> None: ...

    async def send_test(self, channel_id: str) -> dict[str, Any]: ...

    async def deliveries(
        self, *, channel_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]: ...

    async def outbox(self, query: Mapping[str, Any]) -> list[dict[str, Any]]: ...

    async def requeue(self, entry_id: int) -> bool: ...

    async def alerting_overlay(self) -> dict[str, dict[str, Any]]:
        """What alerting adds to monitors' statuses, by monitor id.

        Only monitors with something to add are named: ``maintenance`` (the
        window's id) while one holds them, ``incident`` and ``cause`` while
        an incident is open.
        """


class AnalyticsPlatform(Protocol):
    """Analyses of stored data (``actors.analytics_calls``)."""

    async def monitor_analysis(
        self, monitor_id: str, *, limit: int = 2000, threshold_ms: float | None = None
    ) -> dict[str, Any]: ...

    async def monitor_baselines(self, monitor_id: str) -> dict[str, Any]: ...

    async def failing_together(
        self, *, since: float, until: float, bucket: float = 60.0
    ) -> list[dict[str, Any]]: ...

    async def slo_status(self, slo_id: str) -> dict[str, Any]: ...


class Platform(AlertingPlatform, AnalyticsPlatform, Protocol):
    """What the gateway can ask of the platform.

    Bad definitions raise ``engine.errors.ValidationError`` (every problem,
    each naming its field); unknown ids raise ``MonitorNotFound``; creating
    an id that exists raises ``MonitorExists``.
    """

    def account_backend(self) -> AccountBackend:
        """Where the gateway keeps accounts: the platform's store."""

    async def create_monitor(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        """Validate, store and start a monitor; returns its stored definition."""

    async def update_monitor(
        self, monitor_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Apply some fields to a monitor (the others stay); returns the result."""

    async def replace_monitor(
        self, monitor_id: str, definition: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Replace a monitor's whole definition; returns the result."""

    async def delete_monitor(self, monitor_id: str) -> None:
        """Stop and forget a monitor; its stored results stay until retention."""

    async def pause_monitor(self, monitor_id: str) -> dict[str, Any]: ...

    async def resume_monitor(self, monitor_id: str) -> dict[str, Any]: ...

    async def get_monitor(self, monitor_id: str) -> dict[str, Any]:
        """The definition with its current ``status``."""

    async def list_monitors(
        self,
        *,
        tag: str | None = None,
        kind: str | None = None,
        state: str | None = None,
        enabled: bool | None = None,
        search: str | None = None,
    ) -> list[dict[str, Any]]:
        """Definitions with their ``status``, filtered; ``search`` matches names."""

    async def status(self) -> list[dict[str, Any]]:
        """The current status of every monitor.

        Each entry: ``id``, ``name``, ``state``, ``last_check_at``,
        ``last_ok``, ``last_latency_ms``, ``last_reason``, ``last_message``.
        """

    async def results(
        self,
        monitor_id: str,
        *,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """A monitor's stored results (``CheckResult.to_dict``), newest first."""

    async def events(
        self,
        *,
        after: str | None = None,
        monitor_id: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Stored events (``Event.to_dict``), oldest first, after an event id."""

    def live(
        self, results: Callable[[], bool] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Live updates as they happen, for pushing to browsers.

        Each item is ``{"type": "result", "data": CheckResult.to_dict()}`` or
        ``{"type": "event", "data": Event.to_dict()}``. ``results`` is asked
        before each read whether results are wanted at all; while it says no
        (nobody is watching), only events come.
        """

    async def record_ping(
        self,
        token: str,
        *,
        ok: bool = True,
        message: str = "",
        duration_ms: float | None = None,
    ) -> bool:
        """Hand a push monitor's ping to its shard; False for an unknown token."""

    async def ready(self) -> bool:
        """Whether every actor answers."""

    async def engine_stats(self) -> list[dict[str, Any]]:
        """One entry per shard: monitors, checks done and per second, lateness.

        Each entry also says where the shard runs (``node``, ``pid``), its
        memory, whether it has loaded its monitors, and a histogram of how
        late its checks started (``lateness_buckets`` and ``lateness_counts``).
        """

    async def storage_stats(self) -> dict[str, Any]:
        """The store's own figures: ``spool`` with ``batches``, ``records``,
        ``bytes``, ``max_bytes`` and ``dropped`` by priority; ``analytics``
        with ``configured``, rows ``copied`` per feed, ``last_copy_at`` and
        ``last_error``."""

    async def uptime_report(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Rows of ``Store.uptime_report`` for these arguments, as mappings."""

    async def rollup_summaries(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        """Summaries of ``Store.rollup_summaries`` for these arguments."""

    async def actors(self) -> list[dict[str, Any]]:
        """Every actor: ``role``, ``kind``, ``node``, ``pid``, ``memory_bytes``."""

    async def apply_monitors(
        self, definitions: Sequence[Mapping[str, Any]] | bytes
    ) -> list[list[str]]:
        """Create or replace many monitors; ``[outcome, id]`` for each, in order.

        ``definitions`` may also be the JSON text of ``{"monitors": [...]}``,
        which crosses to the actors as one string. The outcome is
        ``created``, ``updated`` or ``unchanged``. If any definition is bad,
        nothing changes and the ``ValidationError`` names every problem as
        ``monitors[i].field``.
        """

    async def add_shard(self) -> dict[str, Any]:
        """Start a shard and move its share of monitors to it.

        Returns ``{"shard": name, "moved": count}``.
        """

    async def remove_shard(self, name: str) -> dict[str, Any]:
        """Move a shard's monitors to the others and stop it (``ShardNotFound``)."""
