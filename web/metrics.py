"""The platform's own figures in Prometheus' text exposition format.

Served at ``/metrics`` so a Prometheus server can scrape Upcast like any
other service. Every series is per shard, labelled with the shard's name
and the address of the node it runs on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# (name, type, help, how to read the value from a shard's figures)
_SERIES: tuple[tuple[str, str, str, Callable[[Mapping[str, Any]], float]], ...] = (
    (
        "upcast_shard_monitors",
        "gauge",
        "Monitors the shard runs.",
        lambda s: s["monitors"],
    ),
    (
        "upcast_shard_loaded",
        "gauge",
        "1 once the shard has loaded the monitors it owns, else 0.",
        lambda s: 1 if s["booted"] else 0,
    ),
    (
        "upcast_shard_checks_total",
        "counter",
        "Checks finished since the shard started.",
        lambda s: s["checks_done"],
    ),
    (
        "upcast_shard_check_failures_total",
        "counter",
        "Checks that failed since the shard started.",
        lambda s: s["checks_failed"],
    ),
    (
        "upcast_shard_checks_per_second",
        "gauge",
        "Checks finished per second over the last few seconds.",
        lambda s: s["checks_per_second"],
    ),
    (
        "upcast_shard_checks_in_flight",
        "gauge",
        "Checks running now.",
        lambda s: s["in_flight"],
    ),
    (
        "upcast_shard_checks_waiting",
        "gauge",
        "Checks due but waiting for a place among those in flight.",
        lambda s: s["ready"],
    ),
    (
        "upcast_shard_lateness_p50_seconds",
        "gauge",
        "Median lateness of the last few thousand checks.",
        lambda s: s["lateness_p50_ms"] / 1000,
    ),
    (
        "upcast_shard_lateness_p99_seconds",
        "gauge",
        "99th percentile lateness of the last few thousand checks.",
        lambda s: s["lateness_p99_ms"] / 1000,
    ),
    (
        "upcast_shard_overruns_total",
        "counter",
        "Beats skipped because a check ran past the monitor's next one.",
        lambda s: s["overruns"],
    ),
    (
        "upcast_shard_abandoned_checks_total",
        "counter",
        "Checks that ignored cancellation and were given up on.",
        lambda s: s["abandoned"],
    ),
    (
        "upcast_shard_undelivered_results",
        "gauge",
        "Results handed to the shard's batcher and not yet delivered.",
        lambda s: s["undelivered"],
    ),
    (
        "upcast_shard_memory_bytes",
        "gauge",
        "Resident memory of the shard's process.",
        lambda s: s["memory_bytes"],
    ),
    (
        "upcast_shard_start_time_seconds",
        "gauge",
        "When the shard's process started, in unix seconds.",
        lambda s: s["started_at"],
    ),
)

_LATENESS = "upcast_shard_lateness_seconds"


def render(
    shards: Iterable[Mapping[str, Any]], storage: Mapping[str, Any] | None = None
) -> str:
    """The exposition text for the shards' figures (``engine_stats``) and the
    store's (``storage_stats``)."""
    shards = list(shards)
    lines: list[str] = []
    for name, kind, help_text, read in _SERIES:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for shard in shards:
            lines.append(f"{name}{_labels(shard)} {_number(read(shard))}")
    lines.append(f"# HELP {_LATENESS} How long after its due time each check started.")
    lines.append(f"# TYPE {_LATENESS} histogram")
    for shard in shards:
        lines.extend(_histogram(shard))
    if storage is not None:
        lines.extend(_spool(storage["spool"]))
        analytics = storage.get("analytics")
        if analytics is not None and analytics["configured"]:
            lines.extend(_analytics(analytics))
    return "\n".join(lines) + "\n"


def _analytics(analytics: Mapping[str, Any]) -> list[str]:
    name = "upcast_analytics_copied_rows_total"
    lines = [
        f"# HELP {name} Rows copied to the analytics store, by feed.",
        f"# TYPE {name} counter",
    ]
    for feed, count in analytics["copied"].items():
        lines.append(f'{name}{{feed="{_escape(feed)}"}} {_number(count)}')
    if analytics["last_copy_at"] is not None:
        name = "upcast_analytics_last_copy_timestamp_seconds"
        lines.append(f"# HELP {name} When the last copy to analytics ended.")
        lines.append(f"# TYPE {name} gauge")
        lines.append(f"{name} {_number(analytics['last_copy_at'])}")
    return lines


def _spool(spool: Mapping[str, Any]) -> list[str]:
    lines = []
    for name, key, help_text in (
        (
            "upcast_spool_records",
            "records",
            "Results and changes waiting in the spool.",
        ),
        ("upcast_spool_bytes", "bytes", "Bytes the spool takes on disk."),
    ):
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} gauge")
        lines.append(f"{name} {_number(spool[key])}")
    name = "upcast_spool_dropped_total"
    lines.append(f"# HELP {name} Records the full spool gave up, by priority.")
    lines.append(f"# TYPE {name} counter")
    for priority, count in spool["dropped"].items():
        lines.append(f'{name}{{priority="{_escape(priority)}"}} {_number(count)}')
    return lines


def _histogram(shard: Mapping[str, Any]) -> list[str]:
    bounds: list[float] = shard["lateness_buckets"]
    counts: list[int] = shard["lateness_counts"]
    lines = []
    running = 0
    for bound, count in zip([*bounds, math.inf], counts, strict=True):
        running += count
        le = "+Inf" if math.isinf(bound) else _number(bound)
        lines.append(f"{_LATENESS}_bucket{_labels(shard, le=le)} {running}")
    lines.append(f"{_LATENESS}_sum{_labels(shard)} {_number(shard['lateness_sum'])}")
    lines.append(f"{_LATENESS}_count{_labels(shard)} {running}")
    return lines


def _labels(shard: Mapping[str, Any], **extra: str) -> str:
    pairs = {"shard": str(shard["shard"]), "node": str(shard.get("node") or "")}
    pairs.update(extra)
    inside = ",".join(f'{key}="{_escape(value)}"' for key, value in pairs.items())
    return "{" + inside + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
