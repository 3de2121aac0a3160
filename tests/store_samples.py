"""Rows for storage tests: definitions as the model writes them, results, events."""

from __future__ import annotations

from typing import Any

from engine.events import MONITOR_CREATED, Event
from engine.model import monitor_from_dict
from engine.result import CheckResult, MonitorState, Reason
from store.base import SECONDS_PER_DAY

DAY = SECONDS_PER_DAY


def definition(monitor_id: str, **fields: Any) -> dict[str, Any]:
    """A definition as the monitor model writes it, so round trips are real."""
    data: dict[str, Any] = {
        "id": monitor_id,
        "name": f"Monitor {monitor_id}",
        "kind": "http",
        "target": f"https://{monitor_id}.example.com/health",
    }
    data.update(fields)
    return monitor_from_dict(data).to_dict()


def result(
    monitor_id: str = "api", started_at: float = 1000.0, **fields: Any
) -> CheckResult:
    data: dict[str, Any] = {
        "monitor_id": monitor_id,
        "started_at": started_at,
        "ok": True,
        "latency_ms": 12.5,
        "state": MonitorState.UP,
    }
    data.update(fields)
    return CheckResult(**data)


def failed(monitor_id: str, at: float) -> CheckResult:
    """A result of a check that could not connect."""
    return result(
        monitor_id,
        at,
        ok=False,
        latency_ms=1000.0,
        state=MonitorState.DOWN,
        reason=Reason.CONNECT,
    )


def event(at: float, sequence: int, monitor_id: str | None = "api") -> Event:
    return Event(
        id=f"{int(at * 1_000_000):014x}-0000-{sequence:08x}",
        at=at,
        type=MONITOR_CREATED,
        monitor_id=monitor_id,
        data={"sequence": sequence},
    )
