"""What the API answers with, as models for its OpenAPI document.

These models describe answers; the handlers build the answers from the
platform's own dictionaries. Resources that carry open-ended parts (a
monitor's options, an event's data, a setting's fields) allow fields
beyond those listed, and say which fields are always there.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic

State = Literal["unknown", "up", "pending", "down", "paused", "degraded", "maintenance"]
"""Every ``engine.result.MonitorState`` (a test holds the two together)."""


class Open(pydantic.BaseModel):
    """A resource with the fields listed and possibly more."""

    model_config = pydantic.ConfigDict(extra="allow")


class MonitorStatus(Open):
    """A monitor's state and its last check, as its shard and alerting see them."""

    state: State
    last_check_at: float | None = None
    last_ok: bool | None = None
    last_latency_ms: float | None = None
    last_reason: str | None = None
    last_message: str = ""


class Monitor(Open):
    """A monitor's definition, secrets shown as ``********``, with its status."""

    id: str
    name: str
    kind: str
    target: str
    interval: float
    timeout: float
    retries: int
    retry_interval: float
    tags: list[str]
    priority: Literal["critical", "normal", "low"]
    enabled: bool
    description: str
    options: dict[str, Any]
    depends_on: list[str] = []
    status: MonitorStatus | None = None


class StatusEntry(MonitorStatus):
    """One monitor's status in the status list."""

    id: str
    name: str


class Result(Open):
    """One check: when, how it went, how long it took and why it failed."""

    monitor_id: str
    started_at: float
    ok: bool
    latency_ms: float
    state: State
    reason: str | None
    message: str
    phases: dict[str, Any]
    details: dict[str, Any]


class Event(Open):
    """Something that happened to a monitor or an incident."""

    id: str
    at: float
    type: str
    monitor_id: str | None
    data: dict[str, Any]


class Incident(Open):
    """An incident as alerting keeps it."""

    id: str
    monitor_id: str
    status: Literal["open", "acknowledged", "resolved"]
    opened_at: float
    updated_at: float
    resolved_at: float | None = None


class TimelineEntry(pydantic.BaseModel):
    incident_id: str
    entry_id: str
    at: float
    kind: str
    data: dict[str, Any]


class IncidentWithTimeline(Incident):
    timeline: list[TimelineEntry]


class Setting(Open):
    """An alert setting: a channel, route, policy, window or SLO, by its id."""

    id: str


class Delivery(Open):
    """One attempt to deliver a notification."""


class OutboxEntry(Open):
    """A notification waiting to be delivered, or given up on."""

    id: int


class ApplyOutcome(pydantic.BaseModel):
    id: str
    outcome: Literal["created", "updated", "unchanged"]


class ApplyAnswer(pydantic.BaseModel):
    created: int
    updated: int
    unchanged: int
    monitors: list[ApplyOutcome]


class BulkItem(pydantic.BaseModel):
    """What one item of a bulk request came to."""

    index: int
    id: str | None
    status: int
    monitor: Monitor | None = None
    error: dict[str, Any] | None = None


class BulkAnswer(pydantic.BaseModel):
    succeeded: int
    failed: int
    items: list[BulkItem]


class Engine(Open):
    shards: list[dict[str, Any]]
    actors: list[dict[str, Any]]
    storage: dict[str, Any]


class ShardChange(Open):
    shard: str
    moved: int


class Report(Open):
    """A report's rows; their fields depend on the report."""


class Analysis(Open):
    monitor_id: str


class User(pydantic.BaseModel):
    id: str
    name: str
    role: Literal["viewer", "editor", "admin", "owner"]
    teams: list[str]
    disabled: bool
    created_at: float
    updated_at: float


class Session(pydantic.BaseModel):
    id: str
    user_id: str
    created_at: float
    last_seen_at: float
    expires_at: float
    user_agent: str
    address: str
    revoked_at: float | None
    revoked_reason: str
    current: bool = False


class ApiKey(pydantic.BaseModel):
    id: str
    user_id: str
    name: str
    scopes: list[str]
    created_at: float
    expires_at: float | None
    last_used_at: float | None
    revoked_at: float | None


class NewApiKey(ApiKey):
    key: str = pydantic.Field(description="the key itself, shown this once")


class TokenPair(pydantic.BaseModel):
    token_type: Literal["Bearer"]
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    session_id: str
    user: User


class Me(pydantic.BaseModel):
    user: User
    scopes: list[str]
    via: str
    session_id: str | None


class Activity(pydantic.BaseModel):
    id: int
    at: float
    actor: str
    action: str
    target: str
    via: str
    address: str
    details: dict[str, Any]


class Revoked(pydantic.BaseModel):
    revoked: int


class Requeued(pydantic.BaseModel):
    requeued: int


class StatusPage(pydantic.BaseModel):
    """A status page's definition: what its public address shows."""

    id: str
    title: str
    description: str
    monitors: list[str]
    tags: list[str]
    show_latency: bool


class PublicUptime(pydantic.BaseModel):
    """The share of checks that passed, None without checks."""

    model_config = pydantic.ConfigDict(populate_by_name=True)

    last_day: float | None = pydantic.Field(alias="24h")
    last_30_days: float | None = pydantic.Field(alias="30d")


class PublicMonitor(pydantic.BaseModel):
    """One monitor as a status page shows it: no target, options or tags."""

    id: str
    name: str
    state: State
    latency_ms: float | None = pydantic.Field(
        default=None, description="the last check's, when the page shows latency"
    )
    uptime: PublicUptime


class PublicIncident(pydantic.BaseModel):
    monitor_id: str
    status: Literal["open", "acknowledged", "resolved"]
    opened_at: float
    updated_at: float
    resolved_at: float | None


class PublicStatusPage(pydantic.BaseModel):
    """What anyone may read of a status page, signed in or not."""

    id: str
    title: str
    description: str
    at: float = pydantic.Field(description="when this answer was made")
    overall: State
    monitors: list[PublicMonitor]
    incidents: list[PublicIncident]


class Preferences(pydantic.BaseModel):
    """A user's saved preferences: whatever object the dashboard keeps."""

    preferences: dict[str, Any]
