"""The engine benchmark: checks per CPU-second, lateness and memory per monitor.

Every figure comes from one run on one machine, so the ratios between them
(the engine against wrk, against aiohttp) hold even when the machine is
noisy. The target runs as a separate process; CPU time is the engine
process's own (``time.process_time``), so the target's work is not counted.

Sections, in order:

1. http: HTTP checks with a fresh connection each, through the scheduler,
   with more monitors due than one core can run (saturated).
2. aiohttp: the same requests from aiohttp's client, a connection each.
3. wrk: wrk with ``Connection: close`` against the same target, when
   installed; its CPU time comes from the kernel's accounting of the child.
4. tcp: TCP connect checks through the scheduler, saturated.
5. fleet: 100,000 HTTP monitors on realistic intervals (not saturated):
   memory per monitor, and how late checks start.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from bench import report
from bench.report import step
from bench.targets import Target, add_target_and_output, run_benchmark, run_wrk
from engine.model import Monitor, monitor_from_dict
from engine.result import CheckResult
from engine.scheduler import Scheduler

SUMMARY = "checks per CPU-second, scheduler lateness, memory per monitor"

TARGETS = {
    "http_checks_per_cpu_second": 6000.0,
    "http_share_of_wrk": 0.5,
    "tcp_checks_per_cpu_second": 10000.0,
    "lateness_p99_ms": 20.0,
    "memory_per_monitor_bytes": 1536.0,
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="measured time of each throughput section (default: 10)",
    )
    parser.add_argument(
        "--saturating-monitors",
        type=int,
        default=20000,
        help="monitors due every second in the throughput sections; more than "
        "one core can check, so the engine runs flat out (default: 20000)",
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        default=256,
        help="the scheduler's cap on concurrent checks (default: 256)",
    )
    parser.add_argument(
        "--fleet",
        type=int,
        default=100_000,
        help="monitors in the lateness and memory section (default: 100000)",
    )
    parser.add_argument(
        "--fleet-seconds",
        type=float,
        default=20.0,
        help="measured time of the lateness section (default: 20)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["http", "aiohttp", "wrk", "tcp", "fleet"],
        help="run only these sections",
    )
    add_target_and_output(parser, "engine")


@dataclass
class Throughput:
    """Checks finished over a measured window and the CPU time they took."""

    checks: int
    seconds: float
    cpu_seconds: float
    target_cpu_seconds: float
    system_share: float
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.checks / self.seconds if self.seconds else 0.0

    @property
    def per_cpu_second(self) -> float:
        return self.checks / self.cpu_seconds if self.cpu_seconds else 0.0

    @property
    def per_system_cpu_second(self) -> float:
        """Checks per CPU-second of client and target together."""
        total = self.cpu_seconds + self.target_cpu_seconds
        return self.checks / total if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "checks": self.checks,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "target_cpu_seconds": round(self.target_cpu_seconds, 3),
            "kernel_share_of_cpu": round(self.system_share, 3),
            "checks_per_second": round(self.per_second, 1),
            "checks_per_cpu_second": round(self.per_cpu_second, 1),
            "checks_per_system_cpu_second": round(self.per_system_cpu_second, 1),
            "failures": self.failures,
        }


class Tally:
    """Counts results as the scheduler reports them."""

    def __init__(self, keep_lateness: bool = False) -> None:
        self.checks = 0
        self.failures: Counter[str] = Counter()
        self.keep_lateness = keep_lateness
        self.lateness: list[float] = []

    def __call__(self, result: CheckResult) -> None:
        self.checks += 1
        if not result.ok:
            self.failures[str(result.reason)] += 1
        if self.keep_lateness:
            self.lateness.append(result.lateness_ms)


def http_monitor(index: int, url: str, interval: float) -> Monitor:
    return monitor_from_dict(
        {
            "id": f"http-{index}",
            "name": f"HTTP {index}",
            "kind": "http",
            "target": f"{url}m/{index}",
            "interval": interval,
            "timeout": min(5.0, interval),
        }
    )


def tcp_monitor(index: int, host: str, port: int) -> Monitor:
    return monitor_from_dict(
        {
            "id": f"tcp-{index}",
            "name": f"TCP {index}",
            "kind": "tcp",
            "target": f"{host}:{port}",
            "interval": 1,
            "timeout": 1,
        }
    )


async def saturate(
    monitors: list[Monitor], seconds: float, max_in_flight: int, target: Target
) -> Throughput:
    """Run monitors due every second, flat out, and count one measured window."""
    tally = Tally()
    scheduler = Scheduler(max_in_flight=max_in_flight, on_result=tally)
    for monitor in monitors:
        scheduler.add(monitor)
    await scheduler.start()
    try:
        # The first second spreads first runs; measure from steady state.
        await asyncio.sleep(1.5)
        checks, failures = tally.checks, Counter(tally.failures)
        usage, wall = os.times(), time.perf_counter()
        served = target.cpu_seconds()
        await asyncio.sleep(seconds)
        done = tally.checks - checks
        user, kernel = cpu_since(usage)
        wall = time.perf_counter() - wall
        served = target.cpu_seconds() - served
        failed = dict(tally.failures - failures)
    finally:
        await scheduler.close(timeout=5)
    return Throughput(done, wall, user + kernel, served, share(kernel, user), failed)


async def aiohttp_baseline(
    target: Target, seconds: float, concurrency: int
) -> Throughput:
    """aiohttp's client, one connection per request, as many as it can."""
    connector = aiohttp.TCPConnector(force_close=True, limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=5)
    done = 0
    failures: Counter[str] = Counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        stop_at = 0.0

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop_at:
                try:
                    async with session.get(target.url) as response:
                        await response.read()
                        if response.status != 200:
                            failures["status"] += 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    failures[type(exc).__name__] += 1
                done += 1

        stop_at = time.perf_counter() + seconds
        usage, wall = os.times(), time.perf_counter()
        served = target.cpu_seconds()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        user, kernel = cpu_since(usage)
        wall = time.perf_counter() - wall
        served = target.cpu_seconds() - served
    return Throughput(
        done, wall, user + kernel, served, share(kernel, user), dict(failures)
    )


def cpu_since(before: os.times_result) -> tuple[float, float]:
    """User and kernel CPU seconds of this process since ``before``."""
    now = os.times()
    return now.user - before.user, now.system - before.system


def share(part: float, rest: float) -> float:
    return part / (part + rest) if part + rest else 0.0


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def fleet(
    url: str, count: int, seconds: float, max_in_flight: int
) -> dict[str, Any]:
    """Memory per monitor and lateness for a large fleet that is not saturated.

    Intervals are spread from 30 s to 120 s (about 1,100 checks a second for
    100,000 monitors), so the shard has headroom and lateness measures the
    scheduler, not a queue.
    """
    gc.collect()
    before = rss_bytes()
    intervals = np.linspace(30, 120, 10)
    monitors = [http_monitor(i, url, float(intervals[i % 10])) for i in range(count)]
    tally = Tally(keep_lateness=True)
    scheduler = Scheduler(max_in_flight=max_in_flight, on_result=tally)
    for monitor in monitors:
        scheduler.add(monitor)
    del monitors
    gc.collect()
    per_monitor = (rss_bytes() - before) / count

    await scheduler.start()
    try:
        await asyncio.sleep(2)
        tally.lateness.clear()
        checks = tally.checks
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        done = tally.checks - checks
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        lateness = np.asarray(tally.lateness)
        stats = scheduler.stats()
    finally:
        await scheduler.close(timeout=5)
    p50, p99, worst = (
        (float(v) for v in np.percentile(lateness, (50, 99, 100)))
        if lateness.size
        else (0.0, 0.0, 0.0)
    )
    return {
        "monitors": count,
        "memory_per_monitor_bytes": round(per_monitor, 1),
        "checks": done,
        "checks_per_second": round(done / wall, 1),
        "cpu_share": round(cpu / wall, 3),
        "lateness_p50_ms": round(p50, 3),
        "lateness_p99_ms": round(p99, 3),
        "lateness_max_ms": round(worst, 3),
        "overruns": stats.overruns,
        "failures": dict(tally.failures),
    }


async def measure(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    wanted = set(args.only or ["http", "aiohttp", "wrk", "tcp", "fleet"])
    figures: dict[str, Any] = {}
    if "http" in wanted:
        step("http checks through the scheduler")
        monitors = [
            http_monitor(i, target.url, 1.0) for i in range(args.saturating_monitors)
        ]
        figures["http"] = (
            await saturate(monitors, args.seconds, args.max_in_flight, target)
        ).as_dict()
    if "aiohttp" in wanted:
        step("aiohttp client baseline")
        result = await aiohttp_baseline(target, args.seconds, args.max_in_flight)
        figures["aiohttp"] = result.as_dict()
    if "wrk" in wanted:
        step("wrk with Connection: close")
        served = target.cpu_seconds()
        wrk = await asyncio.to_thread(run_wrk, target.url, args.seconds)
        served = target.cpu_seconds() - served
        figures["wrk"] = (
            None
            if wrk is None
            else {
                "requests": wrk.requests,
                "seconds": wrk.seconds,
                "cpu_seconds": round(wrk.cpu_seconds, 3),
                "target_cpu_seconds": round(served, 3),
                "requests_per_cpu_second": round(wrk.per_cpu_second, 1),
                "requests_per_system_cpu_second": round(
                    wrk.requests / (wrk.cpu_seconds + served), 1
                ),
            }
        )
    if "tcp" in wanted:
        step("tcp connect checks through the scheduler")
        monitors = [
            tcp_monitor(i, target.host, target.port)
            for i in range(args.saturating_monitors)
        ]
        figures["tcp"] = (
            await saturate(monitors, args.seconds, args.max_in_flight, target)
        ).as_dict()
    if "fleet" in wanted:
        step(f"fleet of {args.fleet} monitors: memory and lateness")
        figures["fleet"] = await fleet(
            target.url, args.fleet, args.fleet_seconds, args.max_in_flight
        )
    return figures


def verdicts(figures: dict[str, Any]) -> list[report.Row]:
    """Rows of (figure, value, target, met) for the printed table."""
    rows: list[report.Row] = []

    def row(name: str, value: float | None, goal: str, met: bool | None) -> None:
        rows.append(report.row(name, value, goal, met))

    http = figures.get("http")
    wrk = figures.get("wrk")
    if http:
        rate = http["checks_per_cpu_second"]
        goal = TARGETS["http_checks_per_cpu_second"]
        row(
            "http checks / CPU-s (fresh connection)",
            rate,
            f">= {goal:,.0f}",
            rate >= goal,
        )
        row("http checks / s (wall)", http["checks_per_second"], "", None)
    if wrk:
        row(
            "wrk requests / CPU-s (Connection: close)",
            wrk["requests_per_cpu_second"],
            "",
            None,
        )
    if http and wrk:
        share = http["checks_per_cpu_second"] / wrk["requests_per_cpu_second"]
        figures["http_share_of_wrk"] = round(share, 3)
        goal = TARGETS["http_share_of_wrk"]
        row("http engine / wrk, per client CPU-s", share, f">= {goal}", share >= goal)
        system = (
            http["checks_per_system_cpu_second"] / wrk["requests_per_system_cpu_second"]
        )
        figures["http_share_of_wrk_system"] = round(system, 3)
        row("  the same, counting the target's CPU too", system, "", None)
    if figures.get("aiohttp"):
        rate = figures["aiohttp"]["checks_per_cpu_second"]
        row("aiohttp requests / CPU-s (baseline)", rate, "", None)
        if http:
            figures["http_over_aiohttp"] = round(
                http["checks_per_cpu_second"] / rate, 2
            )
            row(
                "http engine / aiohttp, per CPU-s",
                figures["http_over_aiohttp"],
                "",
                None,
            )
    if figures.get("tcp"):
        rate = figures["tcp"]["checks_per_cpu_second"]
        goal = TARGETS["tcp_checks_per_cpu_second"]
        row("tcp connect checks / CPU-s", rate, f">= {goal:,.0f}", rate >= goal)
    fleet_figures = figures.get("fleet")
    if fleet_figures:
        count = fleet_figures["monitors"]
        p99 = fleet_figures["lateness_p99_ms"]
        goal = TARGETS["lateness_p99_ms"]
        row(
            f"lateness p50 ms ({count:,} monitors)",
            fleet_figures["lateness_p50_ms"],
            "",
            None,
        )
        row(f"lateness p99 ms ({count:,} monitors)", p99, f"< {goal:g}", p99 < goal)
        row("fleet checks / s", fleet_figures["checks_per_second"], "", None)
        memory = fleet_figures["memory_per_monitor_bytes"]
        goal = TARGETS["memory_per_monitor_bytes"]
        row("memory per monitor, bytes", memory, f"<= {goal:,.0f}", memory <= goal)
    return rows


def run(args: argparse.Namespace) -> int:
    return run_benchmark(
        "engine",
        args.target,
        lambda target: measure(args, target),
        verdicts,
        path=args.json,
        settings={
            "seconds": args.seconds,
            "saturating_monitors": args.saturating_monitors,
            "max_in_flight": args.max_in_flight,
            "fleet": args.fleet,
            "fleet_seconds": args.fleet_seconds,
        },
        targets=TARGETS,
    )
