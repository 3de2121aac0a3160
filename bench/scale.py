"""The scale benchmark: a large fleet on one machine, loaded, run and reloaded.

``upcast serve`` runs as a user starts it (its own process tree: the command
with the gateway, Ray's services, one process per actor), with its store in a
temporary folder. Steps:

1. Start a target: nginx when installed, else the built-in uvloop server.
2. Write the fleet to a JSON monitor file, start ``upcast serve`` and read
   the memory of the empty platform.
3. Run ``upcast apply`` on the file, as a user would, and time it until
   every shard runs its share.
4. Let the checks run for ``--warmup`` seconds, then measure a window of
   ``--seconds``: checks per second, how late checks started (from the
   histogram each shard keeps), CPU per check and memory of every process.
5. Stop the platform as Ctrl-C does and start it again on the same store,
   timing how long the shards take to load the fleet back.

Memory is the proportional set size (PSS) of each process, so pages that
Ray's processes share are counted once, not once per process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import report
from bench.processes import CpuReading, cpu_between, tree_cpu, tree_pss_by_name
from bench.report import step
from bench.serving import ServeProcess
from bench.targets import Target, add_target_and_output, run_benchmark
from sdk.client import AsyncClient

SUMMARY = "a million monitors on one machine: load, lateness, memory, reload"

TARGETS = {
    "lateness_p99_ms": 1000.0,
    "memory_bytes": 4 * 1024**3,
    "apply_seconds": 60.0,
    "reload_seconds": 60.0,
}

LOAD_TIMEOUT = 900.0
POLL = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--monitors",
        type=int,
        default=1_000_000,
        help="monitors in the fleet (default: 1000000)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=300.0,
        help="seconds between two checks of a monitor (default: 300)",
    )
    parser.add_argument(
        "--kind",
        choices=["http", "tcp"],
        default="http",
        help="what every monitor checks: an HTTP GET or a TCP connect (default: http)",
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=2,
        help="shard actors the platform runs (default: 2)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=30.0,
        help="seconds of checking between loading and measuring (default: 30)",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=120.0,
        help="length of the measured window (default: 120)",
    )
    parser.add_argument(
        "--no-reload",
        action="store_true",
        help="skip restarting the platform to time loading from the store",
    )
    add_target_and_output(parser, "scale")


@dataclass
class Snapshot:
    """What the shards and the process tree had done at one moment."""

    at: float
    checks: int
    lateness_counts: list[int]
    cpu: CpuReading


def monitor_definition(
    index: int, kind: str, target: Target, interval: float
) -> dict[str, Any]:
    return {
        "id": f"scale-{index:07d}",
        "name": f"scale {index}",
        "kind": kind,
        "target": target.url if kind == "http" else f"{target.host}:{target.port}",
        "interval": interval,
        "timeout": min(interval, 5.0),
        "tags": ["scale"],
    }


def write_fleet(path: Path, args: argparse.Namespace, target: Target) -> None:
    monitors = [
        monitor_definition(index, args.kind, target, args.interval)
        for index in range(args.monitors)
    ]
    path.write_text(json.dumps({"monitors": monitors}), encoding="utf-8")


async def shard_figures(client: AsyncClient) -> list[dict[str, Any]]:
    return await client.engine()


async def wait_until_running(client: AsyncClient, expected: int, began: float) -> float:
    """Seconds from ``began`` until the shards run ``expected`` monitors."""
    deadline = time.monotonic() + LOAD_TIMEOUT
    while time.monotonic() < deadline:
        shards = await shard_figures(client)
        if sum(s["monitors"] for s in shards) >= expected and all(
            s["booted"] for s in shards
        ):
            return time.monotonic() - began
        await asyncio.sleep(POLL)
    raise RuntimeError(f"the shards did not run {expected:,} monitors in time")


async def snapshot(client: AsyncClient, serve: ServeProcess) -> Snapshot:
    shards = await shard_figures(client)
    counts = [0] * len(shards[0]["lateness_counts"])
    for shard in shards:
        for index, count in enumerate(shard["lateness_counts"]):
            counts[index] += count
    return Snapshot(
        at=time.monotonic(),
        checks=sum(s["checks_done"] for s in shards),
        lateness_counts=counts,
        cpu=tree_cpu(serve.process.pid),
    )


def percentile(bounds: list[float], counts: list[int], fraction: float) -> float:
    """A percentile of a histogram, interpolated within its bucket, in seconds.

    ``counts`` has one entry per bound plus one beyond the last; a percentile
    that falls there is reported as the last bound.
    """
    total = sum(counts)
    if total == 0:
        return 0.0
    wanted = fraction * total
    running = 0
    lower = 0.0
    for bound, count in zip(bounds, counts, strict=False):
        if count and running + count >= wanted:
            return lower + (bound - lower) * (wanted - running) / count
        running += count
        lower = bound
    return bounds[-1]


def apply_file(path: Path, url: str, api_key: str) -> tuple[float, list[str]]:
    """Run ``upcast apply`` on the file; its seconds and what it printed."""
    began = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "sdk.cli", "apply", str(path), "--url", url],
        capture_output=True,
        text=True,
        timeout=LOAD_TIMEOUT,
        check=False,
        env={**os.environ, "UPCAST_API_KEY": api_key},
    )
    if completed.returncode != 0:
        raise RuntimeError(f"upcast apply failed: {completed.stderr[-2000:]}")
    lines = (completed.stdout + completed.stderr).replace("\r", "\n").splitlines()
    return time.monotonic() - began, [line for line in lines if line.strip()]


async def measure(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="upcast-bench-scale-"))
    data_dir = folder / "data"
    fleet = folder / "fleet.json"
    step(f"writing {args.monitors:,} {args.kind} monitors to {fleet}")
    write_fleet(fleet, args, target)
    figures: dict[str, Any] = {"monitors": args.monitors}
    serve = ServeProcess(data_dir, args.shards)
    try:
        step(f"starting upcast serve ({args.shards} shards)")
        figures["start_empty_seconds"] = round(serve.wait_until_serving(), 2)
        empty = tree_pss_by_name(serve.process.pid)
        figures["empty_platform_memory_bytes"] = sum(empty.values())

        step(f"upcast apply {fleet.name}")
        applied_in, printed = await asyncio.to_thread(
            apply_file, fleet, serve.url, serve.api_key
        )
        async with AsyncClient(serve.url, api_key=serve.api_key, timeout=120) as client:
            running_in = await wait_until_running(
                client, args.monitors, time.monotonic() - applied_in
            )
            figures["apply_command_seconds"] = round(applied_in, 1)
            figures["apply_seconds"] = round(running_in, 1)
            figures["apply_output"] = printed[-6:]
            step(f"applied in {applied_in:.1f}s, all running after {running_in:.1f}s")

            step(f"warming up for {args.warmup:g}s")
            await asyncio.sleep(args.warmup)
            step(f"measuring for {args.seconds:g}s")
            before = await snapshot(client, serve)
            target_cpu_before = target.cpu_seconds()
            await asyncio.sleep(args.seconds)
            after = await snapshot(client, serve)
            target_cpu = target.cpu_seconds() - target_cpu_before
            memory = tree_pss_by_name(serve.process.pid)
            bounds = (await shard_figures(client))[0]["lateness_buckets"]
        figures.update(window_figures(args, before, after, bounds, memory, target_cpu))
        figures["stop_seconds"] = round(serve.stop(), 1)

        if not args.no_reload:
            step("starting upcast serve again on the same store")
            serve = ServeProcess(data_dir, args.shards)
            served_in = serve.wait_until_serving()
            async with AsyncClient(
                serve.url, api_key=serve.api_key, timeout=120
            ) as client:
                loaded_in = await wait_until_running(client, args.monitors, serve.began)
            figures["reload_seconds"] = round(loaded_in, 1)
            figures["reload_serving_seconds"] = round(served_in, 1)
            step(f"reloaded {args.monitors:,} monitors in {loaded_in:.1f}s")
            serve.stop()
    finally:
        serve.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return figures


def window_figures(
    args: argparse.Namespace,
    before: Snapshot,
    after: Snapshot,
    bounds: list[float],
    memory: dict[str, int],
    target_cpu: float,
) -> dict[str, Any]:
    seconds = after.at - before.at
    checks = after.checks - before.checks
    counts = [
        b - a
        for a, b in zip(before.lateness_counts, after.lateness_counts, strict=True)
    ]
    cpu_by_name = cpu_between(before.cpu, after.cpu)
    cpu = sum(cpu_by_name.values())
    total_memory = sum(memory.values())
    return {
        "window_seconds": round(seconds, 1),
        "checks": checks,
        "checks_per_second": round(checks / seconds, 1),
        "expected_checks_per_second": round(args.monitors / args.interval, 1),
        "lateness_p50_ms": round(percentile(bounds, counts, 0.50) * 1000, 2),
        "lateness_p99_ms": round(percentile(bounds, counts, 0.99) * 1000, 2),
        "lateness_counts": counts,
        "lateness_buckets": bounds,
        "platform_cpu_cores_busy": round(cpu / seconds, 2),
        "platform_cpu_per_check_us": round(cpu / checks * 1e6, 1) if checks else None,
        "target_cpu_per_check_us": round(target_cpu / checks * 1e6, 1)
        if checks
        else None,
        "memory_bytes": total_memory,
        "memory_per_monitor_bytes": round(total_memory / args.monitors, 1),
        "cpu_seconds_by_process": {
            name: round(value, 2)
            for name, value in sorted(cpu_by_name.items(), key=lambda i: -i[1])
        },
        "memory_bytes_by_process": dict(
            sorted(memory.items(), key=lambda item: -item[1])
        ),
    }


def verdicts(figures: dict[str, Any]) -> list[report.Row]:
    row = report.row
    p99 = figures["lateness_p99_ms"]
    memory = figures["memory_bytes"]
    apply_seconds = figures["apply_seconds"]
    reload_seconds = figures.get("reload_seconds")
    rows = [
        row("monitors", figures["monitors"]),
        row("platform start, empty, s", figures["start_empty_seconds"]),
        row(
            "upcast apply until all run, s",
            apply_seconds,
            f"< {TARGETS['apply_seconds']:g}",
            apply_seconds < TARGETS["apply_seconds"],
        ),
        row("  of which the apply command, s", figures["apply_command_seconds"]),
        row("checks / s", figures["checks_per_second"]),
        row("checks / s due", figures["expected_checks_per_second"]),
        row("lateness p50, ms", figures["lateness_p50_ms"]),
        row(
            "lateness p99, ms",
            p99,
            f"< {TARGETS['lateness_p99_ms']:g}",
            p99 < TARGETS["lateness_p99_ms"],
        ),
        row("platform cores busy", figures["platform_cpu_cores_busy"]),
        row("platform CPU per check, µs", figures["platform_cpu_per_check_us"]),
        row("target CPU per check, µs", figures["target_cpu_per_check_us"]),
        row(
            "memory of every process, MB",
            memory / 1e6,
            f"< {TARGETS['memory_bytes'] / 1e6:,.0f}",
            memory < TARGETS["memory_bytes"],
        ),
        row(
            "  of the empty platform, MB", figures["empty_platform_memory_bytes"] / 1e6
        ),
        row("memory per monitor, bytes", figures["memory_per_monitor_bytes"]),
    ]
    if reload_seconds is not None:
        rows.append(
            row(
                "restart: loading the store, s",
                reload_seconds,
                f"< {TARGETS['reload_seconds']:g}",
                reload_seconds < TARGETS["reload_seconds"],
            )
        )
    rows.append(row("stop (writing what is pending), s", figures["stop_seconds"]))
    for name, seconds in figures["cpu_seconds_by_process"].items():
        if seconds >= 0.5:
            rows.append(row(f"  CPU s of {name}", seconds))
    for name, size in figures["memory_bytes_by_process"].items():
        if size >= 20e6:
            rows.append(row(f"  MB of {name}", size / 1e6))
    return rows


def run(args: argparse.Namespace) -> int:
    return run_benchmark(
        "scale",
        args.target,
        lambda target: measure(args, target),
        verdicts,
        path=args.json,
        settings={
            "monitors": args.monitors,
            "interval": args.interval,
            "kind": args.kind,
            "shards": args.shards,
            "warmup": args.warmup,
            "seconds": args.seconds,
            "reload": not args.no_reload,
        },
        targets=TARGETS,
    )
