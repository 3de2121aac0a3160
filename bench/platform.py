"""The platform benchmark: checks through the whole running platform.

``upcast serve`` runs as its own process tree (the command with its gateway,
Ray's services, one process per actor) with its store in a temporary folder,
exactly as a user starts it. Steps:

1. Start a target: nginx when installed, else the built-in uvloop server.
2. Start ``upcast serve`` on a free port and wait for it to print its URL.
3. Create the HTTP monitors through the SDK.
4. Follow the gateway's socket.io feed (room ``all``) from this process and
   let the platform warm up.
5. Measure a window: every check started inside it counts. For each result
   that reaches the client, its delivery latency is the time from the check
   finishing (its start plus its latency) to the client receiving it. After
   the window the client keeps listening a while for stragglers.
6. Read the shards' own figures from ``/api/v1/engine``, the CPU time and
   memory of the whole process tree, then stop the platform with SIGINT
   (which writes every pending result) and count the results stored from
   the window.

The end-to-end rate is the number of checks from the window that were both
stored and delivered to the client, per second of window.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import socketio

from bench import report
from bench.processes import cpu_between, tree_cpu, tree_rss_bytes
from bench.report import step
from bench.serving import ServeProcess
from bench.targets import Target, add_target_and_output, run_benchmark
from sdk.client import AsyncClient

SUMMARY = "checks through the running platform to a socket.io client"

TARGETS = {"delivery_p99_ms": 500.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--monitors",
        type=int,
        default=1000,
        help="HTTP monitors to run (default: 1000)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="seconds between two checks of a monitor (default: 1)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=20.0,
        help="length of the measured window (default: 20)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=5.0,
        help="seconds of checking before the window opens (default: 5)",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=3.0,
        help="seconds the client keeps listening after the window for results "
        "checked inside it (default: 3)",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=2,
        help="shard actors the platform runs (default: 2)",
    )
    add_target_and_output(parser, "platform")


@dataclass
class Window:
    """The checks started between ``opens`` and ``closes`` (wall-clock seconds)."""

    opens: float
    closes: float

    def holds(self, started_at: float) -> bool:
        return self.opens <= started_at < self.closes


@dataclass
class Delivered:
    """What the socket.io client saw of the window's checks."""

    window: Window | None = None
    latencies_ms: list[float] = field(default_factory=list)
    keys: set[tuple[str, float]] = field(default_factory=set)
    events: int = 0

    def result(self, data: Any) -> None:
        received = time.time()
        window = self.window
        if window is None or not window.holds(data["started_at"]):
            return
        finished = data["started_at"] + data["latency_ms"] / 1000.0
        self.latencies_ms.append((received - finished) * 1000.0)
        self.keys.add((data["monitor_id"], data["started_at"]))


class Platform:
    """``upcast serve`` in a child process, with its own data folder."""

    def __init__(self, shards: int) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="upcast-bench-platform-")
        self.data_dir = Path(self._folder.name)
        self.serve = ServeProcess(self.data_dir, shards)
        self.url = ""
        self.api_key = self.serve.api_key
        self.process = self.serve.process

    def wait_until_serving(self) -> float:
        started_in = self.serve.wait_until_serving()
        self.url = self.serve.url
        return started_in

    def stop(self) -> None:
        self.serve.stop()

    def stored(self, window: Window) -> set[tuple[str, float]]:
        """Keys of the results stored from ``window``; read once stopped."""
        database = sqlite3.connect(self.data_dir / "upcast.db")
        try:
            rows = database.execute(
                "SELECT monitor_id, started_at FROM results "
                "WHERE started_at >= ? AND started_at < ?",
                (window.opens, window.closes),
            ).fetchall()
        finally:
            database.close()
        return {(monitor_id, started_at) for monitor_id, started_at in rows}

    def remove(self) -> None:
        """Stop the platform if the benchmark failed midway, then delete its data.

        SIGINT comes first even then: killing the command outright would
        leave Ray's processes behind.
        """
        try:
            self.stop()
        finally:
            self._folder.cleanup()


def monitor_definition(index: int, url: str, interval: float) -> dict[str, Any]:
    return {
        "id": f"bench-{index:06d}",
        "name": f"bench {index}",
        "kind": "http",
        "target": url,
        "interval": f"{interval:g}s",
        "timeout": f"{min(interval, 5.0):g}s",
        "tags": ["bench"],
    }


async def engine_totals(client: AsyncClient) -> tuple[int, int]:
    """Checks done and monitors owned, summed over the shards."""
    shards = await client.engine()
    return sum(s["checks_done"] for s in shards), sum(s["monitors"] for s in shards)


async def measure(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    platform = Platform(args.shards)
    try:
        step(f"starting upcast serve ({args.shards} shards)")
        started_in = platform.wait_until_serving()
        step(f"serving at {platform.url} after {started_in:.1f}s")

        definitions = [
            monitor_definition(index, target.url, args.interval)
            for index in range(args.monitors)
        ]
        async with AsyncClient(platform.url, api_key=platform.api_key) as client:
            began = time.monotonic()
            await client.apply(definitions)
            applied_in = time.monotonic() - began
            step(f"{args.monitors:,} monitors created in {applied_in:.1f}s")

            delivered = Delivered()
            listener = socketio.AsyncClient(reconnection=False)
            listener.on("result", delivered.result)
            await listener.connect(
                platform.url,
                transports=["websocket"],
                auth={"token": platform.api_key},
            )
            try:
                step(f"warming up for {args.warmup:g}s")
                await asyncio.sleep(args.warmup)

                step(f"measuring for {args.seconds:g}s")
                done_before, _ = await engine_totals(client)
                cpu_before = tree_cpu(platform.process.pid)
                window = Window(time.time(), time.time() + args.seconds)
                delivered.window = window
                await asyncio.sleep(args.seconds)
                cpu_by_name = cpu_between(cpu_before, tree_cpu(platform.process.pid))
                done_after, owned = await engine_totals(client)
                memory = tree_rss_bytes(platform.process.pid)
                await asyncio.sleep(args.drain)
            finally:
                await listener.disconnect()

        step("stopping the platform and counting what it stored")
        platform.stop()
        stored = platform.stored(window)
    finally:
        platform.remove()

    checks = done_after - done_before
    cpu = sum(cpu_by_name.values())
    complete = stored & delivered.keys
    latencies = np.array(delivered.latencies_ms or [np.nan])
    return {
        "monitors": owned,
        "interval_seconds": args.interval,
        "window_seconds": args.seconds,
        "start_seconds": round(started_in, 2),
        "apply_seconds": round(applied_in, 2),
        "engine_checks_per_second": round(checks / args.seconds, 1),
        "stored_per_second": round(len(stored) / args.seconds, 1),
        "delivered_per_second": round(len(delivered.keys) / args.seconds, 1),
        "end_to_end_checks_per_second": round(len(complete) / args.seconds, 1),
        "stored_not_delivered": len(stored - delivered.keys),
        "delivered_not_stored": len(delivered.keys - stored),
        "delivery_p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "delivery_p99_ms": round(float(np.percentile(latencies, 99)), 1),
        "delivery_max_ms": round(float(np.max(latencies)), 1),
        "cpu_seconds_per_check": cpu / checks if checks else None,
        "cpu_cores_busy": round(cpu / args.seconds, 2),
        "memory_bytes": memory,
        "cpu_seconds_by_process": {
            name: round(seconds, 2)
            for name, seconds in sorted(cpu_by_name.items(), key=lambda i: -i[1])
        },
    }


def verdicts(figures: dict[str, Any]) -> list[report.Row]:
    row = report.row
    p99 = figures["delivery_p99_ms"]
    goal = TARGETS["delivery_p99_ms"]
    per_check = figures["cpu_seconds_per_check"]
    return [
        row("monitors", figures["monitors"]),
        row("platform start, s", figures["start_seconds"]),
        row("creating the monitors, s", figures["apply_seconds"]),
        row("engine checks / s", figures["engine_checks_per_second"]),
        row("stored results / s", figures["stored_per_second"]),
        row("delivered to socket.io / s", figures["delivered_per_second"]),
        row("end-to-end checks / s", figures["end_to_end_checks_per_second"]),
        row("stored but not delivered", figures["stored_not_delivered"]),
        row("check finished -> client, p50 ms", figures["delivery_p50_ms"]),
        row("check finished -> client, p99 ms", p99, f"< {goal:g}", p99 < goal),
        row("check finished -> client, max ms", figures["delivery_max_ms"]),
        row(
            "platform CPU per check, µs",
            None if per_check is None else per_check * 1e6,
        ),
        row("platform cores busy", figures["cpu_cores_busy"]),
        row("platform memory, MB", figures["memory_bytes"] / 1e6),
        *(
            row(f"  CPU s of {name}", seconds)
            for name, seconds in figures["cpu_seconds_by_process"].items()
            if seconds >= 0.05
        ),
    ]


def run(args: argparse.Namespace) -> int:
    return run_benchmark(
        "platform",
        args.target,
        lambda target: measure(args, target),
        verdicts,
        path=args.json,
        settings={
            "monitors": args.monitors,
            "interval": args.interval,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "drain": args.drain,
            "shards": args.shards,
        },
        targets=TARGETS,
    )
