"""The API benchmark: lists under load, and results to a live client.

``upcast serve`` runs as a user starts it, with the ``api`` rate limit off
(one client sends the whole load). Steps:

1. Start a target (the built-in uvloop server) and ``upcast serve``.
2. Apply ``--monitors`` TCP monitors against the target, in parts, with an
   interval that makes ``--results`` results a second.
3. Wait until the gateway lists every monitor, then follow its socket.io
   feed from this process.
4. From a second process, send GET requests at a fixed ``--rate`` for
   ``--seconds``: half to ``/api/v1/monitors``, half to ``/api/v1/status``,
   each a page of ``--page`` items starting at a random monitor (a cursor),
   every fourth one sorted by name. Each latency counts from the moment the
   request was due, not from when it could be sent, so a gateway that falls
   behind is seen falling behind.
5. Meanwhile, for each result the socket.io client receives, the time from
   the check finishing to the client receiving it.
6. Stop the platform with SIGINT.

Targets: p95 under 50 ms at 1,000 requests a second on the list and status
endpoints with 100,000 monitors; results to a socket.io client p99 under
500 ms at 1,000 results a second.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import numpy as np
import socketio

from bench import report
from bench.processes import cpu_between, tree_cpu
from bench.report import progress, step
from bench.serving import ServeProcess
from bench.targets import Target, add_target_and_output, run_benchmark
from web.paging import encode_cursor

SUMMARY = "list and status requests under load, and results to a live client"

TARGETS = {"list_p95_ms": 50.0, "status_p95_ms": 50.0, "delivery_p99_ms": 500.0}

APPLY_PART = 5000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--monitors", type=int, default=100_000, help="monitors (default: 100,000)"
    )
    parser.add_argument(
        "--results",
        type=float,
        default=1000.0,
        help="results a second the monitors make (default: 1,000)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=1000.0,
        help="requests a second sent to the list endpoints (default: 1,000)",
    )
    parser.add_argument(
        "--seconds", type=float, default=20.0, help="measured seconds (default: 20)"
    )
    parser.add_argument(
        "--warmup", type=float, default=5.0, help="seconds before (default: 5)"
    )
    parser.add_argument(
        "--page", type=int, default=100, help="items a page holds (default: 100)"
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=64,
        help="connections the load is sent over (default: 64)",
    )
    parser.add_argument(
        "--shards", type=int, default=2, help="shard actors (default: 2)"
    )
    add_target_and_output(parser, "api")


def monitor_ids(count: int) -> list[str]:
    return [f"api-{index:07d}" for index in range(count)]


async def apply_monitors(
    http: httpx.AsyncClient, ids: list[str], address: str, interval: float
) -> None:
    """Create the monitors in parts, saying how far it got."""
    for start in range(0, len(ids), APPLY_PART):
        part = [
            {
                "id": monitor_id,
                "name": f"Service {monitor_id}",
                "kind": "tcp",
                "target": address,
                "interval": interval,
                "timeout": min(5.0, interval),
                "tags": ["bench", f"group-{index % 50}"],
            }
            for index, monitor_id in enumerate(ids[start : start + APPLY_PART], start)
        ]
        answer = await http.post("/api/v1/apply", json={"monitors": part})
        if answer.status_code != 200:
            raise RuntimeError(f"applying failed: {answer.text[:500]}")
        progress(f"applied {min(start + APPLY_PART, len(ids)):,} of {len(ids):,}")


async def wait_until_listed(http: httpx.AsyncClient, last_id: str) -> float:
    """Seconds until the gateway's lists hold the last monitor applied."""
    began = time.monotonic()
    while time.monotonic() - began < 600:
        answer = await http.get("/api/v1/monitors", params={"sort": "-id", "limit": 1})
        listed = answer.json().get("monitors", [])
        if listed and listed[0]["id"] == last_id:
            return time.monotonic() - began
        await asyncio.sleep(0.5)
    raise RuntimeError("the gateway did not list every monitor within 10 minutes")


def send_load(
    url: str,
    api_key: str,
    ids: list[str],
    rate: float,
    seconds: float,
    page: int,
    connections: int,
    answers: Any,
) -> None:
    """The load generator's process: sends, times, and puts its figures."""
    began = time.process_time()
    figures = asyncio.run(load(url, api_key, ids, rate, seconds, page, connections))
    figures["cpu_seconds"] = time.process_time() - began
    answers.put(figures)


async def load(
    url: str,
    api_key: str,
    ids: list[str],
    rate: float,
    seconds: float,
    page: int,
    connections: int,
) -> dict[str, Any]:
    """Requests at ``rate`` for ``seconds``; latencies by endpoint, from when due."""
    chooser = random.Random(7)
    latencies: dict[str, list[float]] = {"monitors": [], "status": []}
    failures = 0
    connector = aiohttp.TCPConnector(limit=connections)
    # As browsers ask, so the gateway picks brotli.
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Accept-Encoding": "gzip, deflate, br",
    }
    async with aiohttp.ClientSession(
        base_url=url, connector=connector, headers=headers
    ) as session:

        async def one(number: int, due: float) -> None:
            nonlocal failures
            endpoint = "monitors" if number % 2 == 0 else "status"
            params: dict[str, str] = {"limit": str(page)}
            if number % 4 == 3:
                params["sort"] = "name"
                after = chooser.choice(ids)
                params["cursor"] = encode_cursor([f"service {after}", after])
            else:
                params["cursor"] = encode_cursor([chooser.choice(ids)])
            try:
                async with session.get(f"/api/v1/{endpoint}", params=params) as got:
                    await got.read()
                    ok = got.status == 200
            except aiohttp.ClientError:
                ok = False
            if ok:
                latencies[endpoint].append(time.monotonic() - due)
            else:
                failures += 1

        began = time.monotonic()
        total = int(rate * seconds)
        pending: set[asyncio.Task[None]] = set()
        for number in range(total):
            due = began + number / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(number, due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending)
        elapsed = time.monotonic() - began
    return {
        "sent": total,
        "failures": failures,
        "elapsed": elapsed,
        "latencies": latencies,
    }


class Deliveries:
    """Delays from a check finishing to this process receiving its result."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.counting = False

    async def result(self, data: Any) -> None:
        if not self.counting or not isinstance(data, dict):
            return
        finished = float(data["started_at"]) + float(data["latency_ms"]) / 1000
        self.delays.append(time.time() - finished)


def quantiles_ms(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    array = np.asarray(values) * 1000
    p50, p95, p99 = np.percentile(array, [50, 95, 99])
    return {
        "p50": round(float(p50), 1),
        "p95": round(float(p95), 1),
        "p99": round(float(p99), 1),
        "max": round(float(array.max()), 1),
    }


async def measure(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    folder = tempfile.TemporaryDirectory(prefix="upcast-bench-api-")
    serve = ServeProcess(
        Path(folder.name),
        args.shards,
        extra=["--rate-limit", "api=off"],
    )
    figures: dict[str, Any] = {"monitors": args.monitors}
    try:
        step(f"starting upcast serve ({args.shards} shards)")
        serve.wait_until_serving()
        ids = monitor_ids(args.monitors)
        interval = max(1.0, args.monitors / args.results)
        headers = {"Authorization": f"Bearer {serve.api_key}"}
        async with httpx.AsyncClient(
            base_url=serve.url, headers=headers, timeout=300
        ) as http:
            step(f"applying {args.monitors:,} monitors every {interval:g}s")
            began = time.monotonic()
            await apply_monitors(http, ids, f"{target.host}:{target.port}", interval)
            figures["apply_seconds"] = round(time.monotonic() - began, 1)
            figures["listed_after_seconds"] = round(
                await wait_until_listed(http, ids[-1]), 1
            )

        deliveries = Deliveries()
        listener = socketio.AsyncClient(reconnection=False)
        listener.on("result", deliveries.result)
        await listener.connect(
            serve.url, transports=["websocket"], auth={"token": serve.api_key}
        )
        try:
            step(f"warming up for {args.warmup:g}s")
            await asyncio.sleep(args.warmup)
            step(f"{args.rate:g} requests a second for {args.seconds:g}s")
            deliveries.counting = True
            cpu_before = tree_cpu(serve.process.pid)
            answers: Any = multiprocessing.get_context("spawn").Queue()
            sender = multiprocessing.get_context("spawn").Process(
                target=send_load,
                args=(
                    serve.url,
                    serve.api_key,
                    ids,
                    args.rate,
                    args.seconds,
                    args.page,
                    args.connections,
                    answers,
                ),
            )
            sender.start()
            sent = await asyncio.to_thread(answers.get)
            await asyncio.to_thread(sender.join)
            cpu = cpu_between(cpu_before, tree_cpu(serve.process.pid))
            deliveries.counting = False
        finally:
            await listener.disconnect()
    finally:
        serve.stop()
        folder.cleanup()

    elapsed = sent["elapsed"]
    lists = quantiles_ms(sent["latencies"]["monitors"])
    statuses = quantiles_ms(sent["latencies"]["status"])
    delivered = quantiles_ms(deliveries.delays)
    figures.update(
        {
            "requests_sent": sent["sent"],
            "requests_failed": sent["failures"],
            "requests_per_second": round(sent["sent"] / elapsed, 1),
            "load_generator_cpu_seconds": round(sent["cpu_seconds"], 2),
            "list_ms": lists,
            "status_ms": statuses,
            "list_p95_ms": lists["p95"],
            "status_p95_ms": statuses["p95"],
            "results_delivered": len(deliveries.delays),
            "results_per_second": round(len(deliveries.delays) / elapsed, 1),
            "delivery_ms": delivered,
            "delivery_p99_ms": delivered["p99"],
            "cpu_seconds_by_process": {
                name: round(value, 2) for name, value in cpu.items()
            },
        }
    )
    return figures


def verdicts(figures: dict[str, Any]) -> list[report.Row]:
    row = report.row

    def under(name: str, value: float | None, goal: float) -> report.Row:
        return row(name, value, f"< {goal:g}", value is not None and value < goal)

    return [
        row("monitors", figures["monitors"]),
        row("applying them, s", figures["apply_seconds"]),
        row("until every one is listed, s", figures["listed_after_seconds"]),
        row("requests / s sent", figures["requests_per_second"]),
        row("requests failed", figures["requests_failed"]),
        row("  CPU s of the load generator", figures["load_generator_cpu_seconds"]),
        row("GET /monitors, p50 ms", figures["list_ms"]["p50"]),
        under("GET /monitors, p95 ms", figures["list_p95_ms"], TARGETS["list_p95_ms"]),
        row("GET /monitors, p99 ms", figures["list_ms"]["p99"]),
        row("GET /status, p50 ms", figures["status_ms"]["p50"]),
        under(
            "GET /status, p95 ms", figures["status_p95_ms"], TARGETS["status_p95_ms"]
        ),
        row("GET /status, p99 ms", figures["status_ms"]["p99"]),
        row("results to socket.io / s", figures["results_per_second"]),
        row("check finished -> client, p50 ms", figures["delivery_ms"]["p50"]),
        under(
            "check finished -> client, p99 ms",
            figures["delivery_p99_ms"],
            TARGETS["delivery_p99_ms"],
        ),
        *(
            row(f"  CPU s of {name}", seconds)
            for name, seconds in figures["cpu_seconds_by_process"].items()
            if seconds >= 0.05
        ),
    ]


def run(args: argparse.Namespace) -> int:
    return run_benchmark(
        "api",
        "builtin" if args.target == "auto" else args.target,
        lambda target: measure(args, target),
        verdicts,
        path=args.json,
        settings={
            "monitors": args.monitors,
            "results_per_second": args.results,
            "rate": args.rate,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "page": args.page,
            "connections": args.connections,
            "shards": args.shards,
        },
        targets=TARGETS,
    )
