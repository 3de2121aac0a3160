"""Monitors for tests that talk to the gateway: unique ids, aimed at itself."""

from __future__ import annotations

import uuid
from typing import Any

WAIT = 10.0
"""Seconds to wait for something the platform does on its own schedule."""


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def definition(gateway_url: str, monitor_id: str, **fields: Any) -> dict[str, Any]:
    """A monitor checking the gateway's own liveness every second."""
    base: dict[str, Any] = {
        "id": monitor_id,
        "name": f"Gateway health {monitor_id}",
        "kind": "http",
        "target": f"{gateway_url}/healthz",
        "interval": 1,
        "timeout": 1,
    }
    base.update(fields)
    return base
