"""The alerting benchmark: an outage through the engine, and the outbox delivered.

1. outage: ``--monitors`` monitors in ``--groups`` regions all go DOWN within
   ``--spread`` seconds (on the engine's own clock, not the wall's), under
   one route that groups by region. Then time passes to the end of the
   group wait, the monitors recover, and time passes again. Figures: the
   engine's CPU time per state change and per tick with every incident
   open, the notifications made (the target: one firing and one resolved
   per region, whatever the number of monitors), and the engine's memory
   per monitor.
2. delivery: ``--notifications`` notifications queued in a SQLite outbox and
   delivered by the ``Dispatcher`` to a local webhook receiver, which fails
   ``--failure-rate`` of its requests with a 503. Figures: deliveries per
   second of wall time, and how many the receiver got twice or never (the
   target: none).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import uvloop
from aiohttp import web

from alerting.engine import AlertEngine, Notice
from alerting.rules import route_from_dict
from bench import report
from bench.report import progress, step
from engine.events import StateChange
from engine.result import MonitorState, Reason
from notify.backoff import RetryPolicy
from notify.channels import Channel, channel_from_config
from notify.dispatch import Dispatcher, enqueue
from notify.message import Notification
from store import open_store

SUMMARY = "an outage through the alerting engine, and the outbox delivered"

TARGETS = {
    "notifications_per_region": 2.0,
    "deliveries_lost_or_doubled": 0.0,
}

START = 1_800_000_000.0
GROUP_WAIT = 30.0
GROUP_INTERVAL = 60.0
STEADY_TICKS = 60
"""Ticks measured once every incident has been told, nothing else to send."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--monitors", type=int, default=10_000, help="monitors that fail together"
    )
    parser.add_argument(
        "--groups", type=int, default=50, help="regions they are grouped in"
    )
    parser.add_argument(
        "--spread",
        type=float,
        default=10.0,
        help="seconds over which they fail (default: 10)",
    )
    parser.add_argument(
        "--notifications",
        type=int,
        default=2000,
        help="notifications the delivery section sends (default: 2000)",
    )
    parser.add_argument(
        "--failure-rate",
        type=float,
        default=0.3,
        help="share of requests the receiver refuses (default: 0.3)",
    )
    report.add_output(parser, "alerting")


def definitions(monitors: int, groups: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"m-{number:06d}",
            "name": f"Service {number}",
            "kind": "http",
            "target": f"http://service-{number}.example/health",
            "tags": [f"region:r{number % groups:03d}"],
            "depends_on": [],
            "options": {},
        }
        for number in range(monitors)
    ]


def regional_engine(monitors: int, groups: int) -> AlertEngine:
    engine = AlertEngine()
    engine.set_monitors(definitions(monitors, groups))
    engine.configure(
        routes=[
            route_from_dict(
                {
                    "id": "regions",
                    "group_by": ["tag:region"],
                    "channels": ["ops"],
                    "group_wait": GROUP_WAIT,
                    "group_interval": GROUP_INTERVAL,
                }
            )
        ]
    )
    return engine


def all_change(
    monitors: int, after: MonitorState, at: float, spread: float
) -> list[StateChange]:
    """Every monitor changing to ``after``, one after another over ``spread``."""
    before = MonitorState.UP if after == MonitorState.DOWN else MonitorState.DOWN
    reason = Reason.CONNECT if after == MonitorState.DOWN else None
    gap = spread / monitors
    return [
        StateChange(f"m-{n:06d}", at + n * gap, before, after, reason, "")
        for n in range(monitors)
    ]


def memory(monitors: int, groups: int, spread: float) -> tuple[float, float]:
    """Bytes the engine holds per monitor, and more per open incident."""
    tracemalloc.start()
    engine = regional_engine(monitors, groups)
    known = tracemalloc.get_traced_memory()[0]
    for change in all_change(monitors, MonitorState.DOWN, START, spread):
        engine.observe(change)
    failing = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return known / monitors, (failing - known) / monitors


def outage(monitors: int, groups: int, spread: float) -> dict[str, Any]:
    """Every monitor down and back, through the engine; its cost and its words."""
    engine = regional_engine(monitors, groups)
    notices: list[Notice] = []
    failing = all_change(monitors, MonitorState.DOWN, START, spread)
    started = time.process_time()
    for change in failing:
        notices.extend(engine.observe(change).notices)
    observe_seconds = time.process_time() - started

    ticks = 0
    tick_seconds = 0.0
    at = START
    while at <= START + spread + GROUP_WAIT + 1:
        began = time.process_time()
        notices.extend(engine.tick(at).notices)
        tick_seconds += time.process_time() - began
        ticks += 1
        at += 1.0
    firing = len(notices)
    steady_began = time.process_time()
    for _ in range(STEADY_TICKS):
        notices.extend(engine.tick(at).notices)
        at += 1.0
    steady_seconds = time.process_time() - steady_began

    recovering = all_change(monitors, MonitorState.UP, at, spread)
    for change in recovering:
        notices.extend(engine.observe(change).notices)
    end = at + spread + GROUP_INTERVAL + 1
    while at <= end:
        notices.extend(engine.tick(at).notices)
        at += 1.0

    per_monitor, per_incident = memory(monitors, groups, spread)
    return {
        "monitors": monitors,
        "regions": groups,
        "state_changes": 2 * monitors,
        "observe_us_per_change": observe_seconds / monitors * 1e6,
        "tick_ms_while_grouping": tick_seconds / ticks * 1e3,
        "tick_ms_with_all_told": steady_seconds / STEADY_TICKS * 1e3,
        "firing_notifications": firing,
        "notifications": len(notices),
        "notifications_per_region": len(notices) / groups,
        "largest_notification_members": max(
            (len(n.event.members) for n in notices), default=0
        ),
        "memory_per_monitor_bytes": per_monitor,
        "memory_per_open_incident_bytes": per_incident,
    }


async def delivery(count: int, failure_rate: float) -> dict[str, Any]:
    """Notifications through the outbox to a receiver that often refuses."""
    accepted: Counter[str] = Counter()
    rng = random.Random(6)
    requests = 0

    async def receive(request: web.Request) -> web.Response:
        nonlocal requests
        requests += 1
        await request.read()
        if rng.random() < failure_rate:
            return web.Response(status=503)
        accepted[request.headers["X-Upcast-Key"]] += 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    channel = channel_from_config({"kind": "webhook", "url": url})
    try:
        with tempfile.TemporaryDirectory(prefix="upcast-bench-alerting-") as folder:
            seconds = await _deliver_all(folder, channel, count, accepted)
    finally:
        await channel.close()
        await runner.cleanup()
    doubled = sum(1 for times in accepted.values() if times > 1)
    return {
        "notifications": count,
        "requests": requests,
        "failure_rate": failure_rate,
        "seconds": seconds,
        "deliveries_per_second": count / seconds if seconds else None,
        "doubled": doubled,
        "lost": count - len(accepted),
        "deliveries_lost_or_doubled": doubled + count - len(accepted),
    }


async def _deliver_all(
    folder: str, channel: Channel, count: int, accepted: Counter[str]
) -> float:
    """Queue ``count`` notifications and deliver them; the seconds it took."""
    async with open_store(f"sqlite://{Path(folder) / 'upcast.db'}") as store:
        now = time.time()
        notifications = [
            Notification(
                key=f"n-{number:06d}",
                incident=f"i-{number:06d}",
                status="firing",
                title=f"Service {number} is down",
                text="connection refused",
                at=now,
            )
            for number in range(count)
        ]
        await enqueue(store, "ops", notifications)
        dispatcher = Dispatcher(
            store,
            {"ops": channel},
            policy=RetryPolicy(
                first_delay=0.05, factor=2.0, max_delay=0.5, max_attempts=50
            ),
            batch=200,
        )
        began = time.perf_counter()
        while len(accepted) < count:
            if not await dispatcher.run_once():
                await asyncio.sleep(0.02)
            if time.perf_counter() - began > 600:
                break
        return time.perf_counter() - began


def verdicts(figures: dict[str, Any]) -> list[report.Row]:
    outage_figures = figures["outage"]
    sent = figures["delivery"]
    per_region = outage_figures["notifications_per_region"]
    wrong = sent["deliveries_lost_or_doubled"]
    return [
        report.row("state changes", outage_figures["state_changes"]),
        report.row(
            "engine µs per state change", outage_figures["observe_us_per_change"]
        ),
        report.row(
            "engine tick ms, mean over group wait and send",
            outage_figures["tick_ms_while_grouping"],
        ),
        report.row(
            "engine tick ms, every incident told",
            outage_figures["tick_ms_with_all_told"],
        ),
        report.row("notifications made", outage_figures["notifications"]),
        report.row(
            "notifications per region (firing + resolved)",
            per_region,
            "= 2",
            per_region == TARGETS["notifications_per_region"],
        ),
        report.row(
            "most monitors in one notification",
            outage_figures["largest_notification_members"],
        ),
        report.row(
            "engine bytes per monitor", outage_figures["memory_per_monitor_bytes"]
        ),
        report.row(
            "bytes per open incident", outage_figures["memory_per_open_incident_bytes"]
        ),
        report.row(
            "deliveries per second (receiver failing)", sent["deliveries_per_second"]
        ),
        report.row("deliveries lost or doubled", wrong, "= 0", wrong == 0),
    ]


def run(args: argparse.Namespace) -> int:
    step(f"outage: {args.monitors:,} monitors in {args.groups} regions")
    figures: dict[str, Any] = {
        "outage": outage(args.monitors, args.groups, args.spread)
    }
    step(
        f"delivery: {args.notifications:,} notifications, "
        f"{args.failure_rate:.0%} of requests refused"
    )
    figures["delivery"] = uvloop.run(delivery(args.notifications, args.failure_rate))
    progress(f"{figures['delivery']['requests']:,} requests made")
    report.print_table(verdicts(figures))
    report.write_json(
        args.json,
        "alerting",
        settings={
            "monitors": args.monitors,
            "groups": args.groups,
            "spread": args.spread,
            "notifications": args.notifications,
            "failure_rate": args.failure_rate,
        },
        targets=TARGETS,
        figures=figures,
    )
    return 0
