"""What a check reports: observations, failures with their reason, results."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack


class Reason(enum.StrEnum):
    """Why a check failed; each failure names exactly one."""

    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    STATUS = "status"
    ASSERTION = "assertion"
    PROTOCOL = "protocol"
    SIZE = "size"
    MISSED = "missed"
    PERMISSION = "permission"
    INTERNAL = "internal"


class MonitorState(enum.StrEnum):
    """Where a monitor stands.

    The shards decide UNKNOWN, UP, PENDING (failing, retrying before DOWN),
    DOWN and PAUSED from checks. DEGRADED (working, but slow or unusual)
    comes from analytics, and MAINTENANCE from the alerting layer while a
    maintenance window covers the monitor; both are told over the checked
    state, never instead of it in the stored results.
    """

    UNKNOWN = "unknown"
    UP = "up"
    PENDING = "pending"
    DOWN = "down"
    PAUSED = "paused"
    DEGRADED = "degraded"
    MAINTENANCE = "maintenance"


class CheckFailure(Exception):
    """A check found its target unhealthy.

    ``retryable`` says whether trying again soon can give a different answer:
    a refused connection can, a certificate that expired yesterday cannot.
    """

    def __init__(
        self,
        reason: Reason,
        message: str,
        *,
        retryable: bool = True,
        phases: Mapping[str, float] | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
        self.retryable = retryable
        self.phases = dict(phases or {})
        self.details = dict(details or {})


@dataclass(slots=True)
class Observation:
    """What a successful check saw.

    ``latency_ms`` is the figure kept in the monitor's latency history;
    ``phases`` breaks it down (dns, connect, tls, first_byte, total).
    """

    latency_ms: float
    phases: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    message: str = ""


@dataclass(slots=True)
class CheckResult:
    """One finished check of one monitor, as the scheduler emits it.

    ``previous_state`` is set only on a result that changed the monitor's
    state, and says what the state was before; receivers find the state
    changes in a batch without remembering every monitor's state themselves.
    ``priority`` is the monitor's (``critical``, ``normal`` or ``low``), for
    whoever must choose which results to keep when it cannot keep them all.
    """

    monitor_id: str
    started_at: float
    ok: bool
    latency_ms: float
    state: MonitorState
    reason: Reason | None = None
    message: str = ""
    retryable: bool = False
    attempt: int = 0
    lateness_ms: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    previous_state: MonitorState | None = None
    priority: str = "normal"

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor_id": self.monitor_id,
            "started_at": self.started_at,
            "ok": self.ok,
            "latency_ms": self.latency_ms,
            "state": str(self.state),
            "reason": None if self.reason is None else str(self.reason),
            "message": self.message,
            "retryable": self.retryable,
            "attempt": self.attempt,
            "lateness_ms": self.lateness_ms,
            "phases": self.phases,
            "details": self.details,
            "previous_state": None
            if self.previous_state is None
            else str(self.previous_state),
            "priority": self.priority,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        reason = data.get("reason")
        previous = data.get("previous_state")
        return cls(
            monitor_id=data["monitor_id"],
            started_at=data["started_at"],
            ok=data["ok"],
            latency_ms=data["latency_ms"],
            state=MonitorState(data["state"]),
            reason=None if reason is None else Reason(reason),
            message=data.get("message", ""),
            retryable=data.get("retryable", False),
            attempt=data.get("attempt", 0),
            lateness_ms=data.get("lateness_ms", 0.0),
            phases=dict(data.get("phases", {})),
            details=dict(data.get("details", {})),
            previous_state=None if previous is None else MonitorState(previous),
            priority=data.get("priority", "normal"),
        )


def pack_results(results: list[CheckResult]) -> bytes:
    """A batch of results as one msgpack message, for shipping between processes."""
    message: bytes = msgpack.packb(
        [result.to_dict() for result in results], use_bin_type=True
    )
    return message


def unpack_results(message: bytes) -> list[CheckResult]:
    return [CheckResult.from_dict(item) for item in msgpack.unpackb(message, raw=False)]
