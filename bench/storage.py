"""The storage benchmark: results into each store backend, and rollups out.

Each backend gets an empty store of its own (a SQLite file in a temporary
folder, a PostgreSQL schema, a MariaDB database), removed afterwards even
when the run fails or is stopped with Ctrl-C. The results are synthetic HTTP
checks: each monitor checks on its own phase, so consecutive results belong
to different monitors, as in a shard's batches. Sections, for each backend:

1. ingest: ``--results`` results of ``--monitors`` monitors, five minutes
   apart, through ``Store.write_results``, one batch after another, in
   batches of ``--batch`` (default: the 500 results a shard's batcher ships
   at most, ``actors.batching.DEFAULT_MAX_COUNT``; the Storage actor writes
   each batch it receives as it is). Rows per second of wall time, per
   CPU-second of this process, and per CPU-second of the database server:
   the user and system time of every server process, read from /proc before
   and after (one that starts in between counts from its start), less the
   sessions of other clients of a shared PostgreSQL (reported apart).
   MariaDB is one process, counted whole. SQLite runs inside this process,
   so it has the client figure only.
2. PostgreSQL baselines, from the same results in the same batches: binary
   COPY into a plain table with the results' columns and unique key, and an
   executemany of an INSERT into another. The store's rows per server
   CPU-second over raw COPY's is the ingest target. The results are also
   copied in the store's own way without their rollups (the module
   functions of ``store.postgres``, on a connection of the benchmark's),
   which tells what keeping the rollups costs the server.
3. rollups: a fresh store filled with ``--rollup-per-hour`` results an hour
   of each of ``--rollup-monitors`` monitors over ``--rollup-hours`` hours;
   then ``rollup_summaries`` over those hours for every monitor (the median
   of ``--query-runs`` after one run to warm up), and the same count,
   passing count and p95 computed by SQL from the raw results, to compare.

PostgreSQL is asked for a checkpoint before each measured step, so none
pays for writing out the pages the step before it dirtied.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import math
import random
import secrets
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomysql
import asyncpg
import uvloop

from actors.batching import DEFAULT_MAX_COUNT
from bench import report
from bench.processes import CpuReading, cpu_by_pid_between, named_cpu
from bench.report import progress, step
from engine.result import CheckResult, MonitorState, Reason
from store import mysql as mysql_store
from store import open_store
from store import postgres as postgres_store
from store.rollups import HOUR, Summary, bucket_start

SUMMARY = "results ingested per CPU-second and rollup summaries, per store backend"

TARGETS = {
    "ingest_share_of_copy": 0.80,
    "rollup_summaries_ms": 100.0,
}

BACKENDS = ("sqlite", "postgresql", "mysql")

DEFAULT_POSTGRESQL = "postgresql://127.0.0.1:5432/test"
DEFAULT_MYSQL = "mysql://root@127.0.0.1:3306/test"

SERVER_PROCESSES = {"postgresql": ("postgres",), "mysql": ("mariadbd", "mysqld")}
"""The names the server's processes go by, to read their CPU time."""

INGEST_INTERVAL = 300.0
"""Seconds between two checks of a monitor in the ingest section.

Five minutes, a common interval: each hourly rollup row then takes twelve
results and most minute rows one, so both rollups are kept up.
"""

FAILURE_SHARE = 0.02
"""The share of synthetic checks that fail (connection refused)."""

MEDIAN_LATENCY_MS = 40.0

PROGRESS_LINES = 10
"""Progress lines a long step prints."""

RawSummary = tuple[int, int, float | None]
"""A monitor's count, passing count and p95 latency, computed from results."""

RawReader = Callable[[float, float], Awaitable[dict[str, RawSummary]]]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backends",
        nargs="+",
        choices=BACKENDS,
        default=list(BACKENDS),
        help="the store backends to measure (default: all)",
    )
    parser.add_argument(
        "--postgresql",
        default=DEFAULT_POSTGRESQL,
        metavar="URL",
        help="the PostgreSQL database to make a schema of the benchmark's in "
        f"(default: {DEFAULT_POSTGRESQL})",
    )
    parser.add_argument(
        "--mysql",
        default=DEFAULT_MYSQL,
        metavar="URL",
        help="a database on the MySQL or MariaDB server to connect to; the "
        "benchmark makes a database of its own beside it "
        f"(default: {DEFAULT_MYSQL})",
    )
    parser.add_argument(
        "--results",
        type=int,
        default=200_000,
        help="results written in the ingest section (default: 200000)",
    )
    parser.add_argument(
        "--monitors",
        type=int,
        default=10_000,
        help="monitors the ingest section's results belong to (default: 10000)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_MAX_COUNT,
        help="results per write_results call, as a shard batches them "
        f"(default: {DEFAULT_MAX_COUNT})",
    )
    parser.add_argument(
        "--rollup-monitors",
        type=int,
        default=10_000,
        help="monitors in the rollup section (default: 10000)",
    )
    parser.add_argument(
        "--rollup-hours",
        type=int,
        default=24,
        help="hours of rollups the summaries span (default: 24)",
    )
    parser.add_argument(
        "--rollup-per-hour",
        type=int,
        default=1,
        help="results of each monitor an hour that fill the rollups; one "
        "fills every hourly row, twelve is a five-minute interval (default: 1)",
    )
    parser.add_argument(
        "--fill-batch",
        type=int,
        default=5000,
        help="results per write while filling the rollups, which is not "
        "measured against a target (default: 5000)",
    )
    parser.add_argument(
        "--query-runs",
        type=int,
        default=5,
        help="timed runs of each summary query, after one to warm up (default: 5)",
    )
    report.add_output(parser, "storage")


@dataclass(frozen=True, slots=True)
class ServerCpu:
    """How to read the CPU time a database server spends on the benchmark.

    Every process with one of ``names`` counts, background ones too (the WAL
    writer, the checkpointer), except the sessions that ``others`` lists:
    those of other clients of a shared server, whose work is not ours.
    MariaDB runs every session as a thread of one process, so there the
    whole process counts, other clients' work included.
    """

    names: tuple[str, ...]
    others: Callable[[], Awaitable[set[int]]] | None = None

    def read(self) -> CpuReading:
        return named_cpu(self.names)

    async def since(self, before: CpuReading) -> tuple[float, float] | None:
        """CPU seconds of the benchmark's share and of other sessions.

        None when no process of the server was seen (one on another host).
        """
        if not before:
            return None
        after = named_cpu(self.names)
        others = set() if self.others is None else await self.others()
        ours = theirs = 0.0
        for pid, used in cpu_by_pid_between(before, after).items():
            if pid in others:
                theirs += used
            else:
                ours += used
        return ours, theirs


@dataclass(frozen=True, slots=True)
class Window:
    """The wall and CPU time of one measured piece of work."""

    seconds: float
    client_cpu_seconds: float
    server_cpu_seconds: float | None
    """None when the server's processes cannot be seen (SQLite, a remote one)."""
    other_sessions_cpu_seconds: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "client_cpu_seconds": round(self.client_cpu_seconds, 3),
            "server_cpu_seconds": _rounded(self.server_cpu_seconds, 3),
            "other_sessions_cpu_seconds": _rounded(self.other_sessions_cpu_seconds, 3),
        }


async def measured(
    server: ServerCpu | None, work: Callable[[], Awaitable[None]]
) -> Window:
    """Run ``work`` and measure it: wall time, this process's CPU, the server's."""
    before = {} if server is None else server.read()
    cpu, wall = time.process_time(), time.perf_counter()
    await work()
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu
    served = None if server is None else await server.since(before)
    if served is None:
        return Window(wall, cpu, None, None)
    return Window(wall, cpu, *served)


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def ingest_figures(rows: int, window: Window) -> dict[str, Any]:
    """What a measured ingest took, and its rows per second of each kind."""
    server = window.server_cpu_seconds
    return {
        "rows": rows,
        **window.as_dict(),
        "rows_per_second": _rate(rows, window.seconds),
        "rows_per_client_cpu_second": _rate(rows, window.client_cpu_seconds),
        "rows_per_server_cpu_second": None if server is None else _rate(rows, server),
    }


def _rate(rows: int, seconds: float) -> float | None:
    return round(rows / seconds, 1) if seconds > 0 else None


def synthetic_results(
    monitors: int, total: int, start: float, interval: float, seed: int = 1
) -> Iterator[CheckResult]:
    """``total`` results of HTTP monitors, in the order their checks start.

    Monitor ``i`` checks every ``interval`` seconds from ``start + i *
    interval / monitors``: the checks are spread evenly, so each batch holds
    many monitors. One check in fifty fails to connect; the others pass in a
    log-normal time around MEDIAN_LATENCY_MS, with the phases and details an
    HTTP check reports. The same seed gives the same results.
    """
    rng = random.Random(seed)
    ids = [f"bench-{index:06d}" for index in range(monitors)]
    spacing = interval / monitors
    made = 0
    for round_number in itertools.count():
        base = start + round_number * interval
        for index, monitor_id in enumerate(ids):
            if made == total:
                return
            yield synthetic_result(rng, monitor_id, base + index * spacing)
            made += 1


def synthetic_result(rng: random.Random, monitor_id: str, at: float) -> CheckResult:
    """One check of ``monitor_id`` started at ``at``, drawn from ``rng``."""
    lateness = round(rng.uniform(0.0, 3.0), 3)
    if rng.random() < FAILURE_SHARE:
        latency = round(rng.uniform(0.2, 2.0), 3)
        return CheckResult(
            monitor_id,
            at,
            ok=False,
            latency_ms=latency,
            state=MonitorState.DOWN,
            reason=Reason.CONNECT,
            message="connection refused",
            retryable=True,
            attempt=1,
            lateness_ms=lateness,
            phases={"dns": 0.0, "total": latency},
            details={"redirects": 0},
        )
    latency = round(rng.lognormvariate(math.log(MEDIAN_LATENCY_MS), 0.5), 3)
    return CheckResult(
        monitor_id,
        at,
        ok=True,
        latency_ms=latency,
        state=MonitorState.UP,
        lateness_ms=lateness,
        phases={
            "dns": 0.0,
            "connect": round(latency * 0.2, 3),
            "first_byte": round(latency * 0.9, 3),
            "total": latency,
        },
        details={"status": 200, "size": 612, "redirects": 0},
    )


def batched(items: Iterable[CheckResult], size: int) -> Iterator[list[CheckResult]]:
    """Lists of ``size`` items in order, the last one shorter when it comes out so."""
    batch: list[CheckResult] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def ingest(
    label: str,
    batches: Iterable[list[Any]],
    total: int,
    write: Callable[[list[Any]], Awaitable[object]],
    server: ServerCpu | None,
) -> dict[str, Any]:
    """Write the batches one after another and measure the window around them."""
    every = max(1, total // PROGRESS_LINES)
    done = 0

    async def write_all() -> None:
        nonlocal done
        reported = 0
        for batch in batches:
            await write(batch)
            done += len(batch)
            if done - reported >= every:
                progress(f"{label}: {done:,} of {total:,} rows")
                reported = done

    window = await measured(server, write_all)
    return ingest_figures(done, window)


@dataclass(frozen=True, slots=True)
class Place:
    """An empty place for one store: its URL, and what its server costs."""

    url: str
    server: ServerCpu | None = None
    settle: Callable[[], Awaitable[None]] | None = None
    """Brings the server to a steady state before a measured step."""

    async def steady(self) -> None:
        if self.settle is not None:
            await self.settle()


@contextlib.asynccontextmanager
async def sqlite_place() -> AsyncIterator[Place]:
    """A SQLite file in a temporary folder, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="upcast-bench-storage-"))
    try:
        yield Place(f"sqlite://{folder / 'upcast.db'}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _server(
    settings: postgres_store.PostgresSettings | mysql_store.ConnectionSettings,
) -> dict[str, Any]:
    """Where a store's URL says its server is, as the drivers' connect takes it."""
    return {
        "host": settings.host,
        "port": settings.port,
        "user": settings.user,
        "password": settings.password,
    }


def _postgres_connect_arguments(url: str) -> dict[str, Any]:
    settings = postgres_store.parse_url(url)
    return {**_server(settings), "database": settings.database}


async def postgres_connection(url: str) -> asyncpg.Connection:
    """A connection of the benchmark's that finds the URL's schema first.

    Its application name ends with the schema's, as the store's do, so
    the server's CPU time counts it as the benchmark's.
    """
    schema = postgres_store.parse_url(url).schema
    return await asyncpg.connect(
        **_postgres_connect_arguments(url),
        server_settings={
            "search_path": schema,
            "application_name": f"bench {schema}",
        },
    )


# Sessions of other clients: every client backend and parallel worker whose
# application name does not end with the benchmark's schema.
_OTHER_SESSIONS = """
    SELECT pid FROM pg_stat_activity
    WHERE backend_type IN ('client backend', 'parallel worker')
        AND coalesce(application_name, '') NOT LIKE '%' || $1
        AND pid <> pg_backend_pid()
"""


@contextlib.asynccontextmanager
async def postgresql_place(url: str) -> AsyncIterator[Place]:
    """A schema of the benchmark's own, dropped afterwards.

    One connection lives through the whole block: it makes and drops the
    schema, lists other clients' sessions, and asks for checkpoints.
    """
    schema = f"upcast_bench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(**_postgres_connect_arguments(url))

    async def others() -> set[int]:
        return {row["pid"] for row in await admin.fetch(_OTHER_SESSIONS, schema)}

    async def settle() -> None:
        # Dirty pages of the step before are written now, not inside the next
        # window; without the privilege the steps run as they come.
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await admin.execute("CHECKPOINT")

    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        parts = urlsplit(url)
        query = "&".join(part for part in (parts.query, f"schema={schema}") if part)
        yield Place(
            parts._replace(query=query).geturl(),
            ServerCpu(SERVER_PROCESSES["postgresql"], others),
            settle,
        )
    finally:
        try:
            await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await admin.close()


@contextlib.asynccontextmanager
async def mysql_place(url: str) -> AsyncIterator[Place]:
    """A database of the benchmark's own, dropped afterwards."""
    database = f"upcast_bench_{secrets.token_hex(6)}"
    admin = await aiomysql.connect(
        **_server(mysql_store.parse_url(url)), autocommit=True
    )
    try:
        async with admin.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE {database}")
        yield Place(
            urlsplit(url)._replace(path=f"/{database}").geturl(),
            ServerCpu(SERVER_PROCESSES["mysql"]),
        )
    finally:
        try:
            async with admin.cursor() as cursor:
                await cursor.execute(f"DROP DATABASE IF EXISTS {database}")
        finally:
            admin.close()


def place(
    backend: str, args: argparse.Namespace
) -> contextlib.AbstractAsyncContextManager[Place]:
    """An empty place for a store on ``backend``, removed when the block ends."""
    if backend == "postgresql":
        return postgresql_place(args.postgresql)
    if backend == "mysql":
        return mysql_place(args.mysql)
    return sqlite_place()


async def store_ingest(
    backend: str, where: Place, batches: list[list[CheckResult]]
) -> dict[str, Any]:
    """Section 1 on one backend: the batches through ``Store.write_results``."""
    total = sum(len(batch) for batch in batches)
    async with open_store(where.url) as store:
        await where.steady()
        step(f"{backend}: {total:,} results through write_results")
        return await ingest(
            f"{backend} write_results",
            batches,
            total,
            store.write_results,
            where.server,
        )


# The columns of a COPY record from ``store.postgres._result_records``.
_COPY_COLUMNS = postgres_store._RESULT_COLUMNS

_BASELINE_TABLES = """
    CREATE TABLE baseline_copy (LIKE results);
    CREATE UNIQUE INDEX baseline_copy_key ON baseline_copy (monitor_id, started_at);
    CREATE TABLE baseline_insert (LIKE results);
    CREATE UNIQUE INDEX baseline_insert_key
        ON baseline_insert (monitor_id, started_at);
"""

_BASELINE_INSERT = (
    f"INSERT INTO baseline_insert ({', '.join(_COPY_COLUMNS)}) VALUES ("
    + ", ".join(f"${number}" for number in range(1, len(_COPY_COLUMNS) + 1))
    + ")"
)


async def postgresql_baselines(
    where: Place, batches: list[list[CheckResult]]
) -> dict[str, Any]:
    """Section 2: raw COPY, executemany and the store's COPY without rollups.

    Runs in the schema the store has migrated, so the plain tables copy the
    results table's columns. Each way starts from the same results and
    encodes them as the store does, so the client figures compare too.
    """
    total = sum(len(batch) for batch in batches)
    connection = await postgres_connection(where.url)
    try:
        await connection.execute(_BASELINE_TABLES)
        await connection.execute("TRUNCATE results, rollup_hour, rollup_hour_changes")

        async def copy(batch: list[CheckResult]) -> None:
            records = postgres_store._result_records(batch)
            await connection.copy_records_to_table(
                "baseline_copy", records=records, columns=_COPY_COLUMNS
            )

        async def insert(batch: list[CheckResult]) -> None:
            records = postgres_store._result_records(batch)
            async with connection.transaction():
                await connection.executemany(_BASELINE_INSERT, records)

        async def results_only(batch: list[CheckResult]) -> None:
            records = postgres_store._result_records(batch)
            await postgres_store._copy_results(connection, records, [])

        figures: dict[str, Any] = {}
        for name, write, what in (
            ("copy", copy, "binary COPY into a plain table"),
            ("executemany", insert, "executemany of an INSERT"),
            ("results_only", results_only, "the store's COPY without rollups"),
        ):
            await where.steady()
            step(f"postgresql: {total:,} results by {what}")
            figures[name] = await ingest(
                f"postgresql {name}", batches, total, write, where.server
            )
    finally:
        await connection.close()
    return figures


_RAW_SUMMARIES_POSTGRESQL = """
    SELECT monitor_id, count(*), count(*) FILTER (WHERE ok),
        percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE ok)
    FROM results WHERE started_at >= $1 AND started_at < $2
    GROUP BY monitor_id ORDER BY monitor_id
"""

# MariaDB has PERCENTILE_CONT as a window function only; it skips the NULL
# that stands for a failed check.
_RAW_SUMMARIES_MYSQL = """
    SELECT monitor_id, COUNT(*), SUM(ok), MAX(p95) FROM (
        SELECT monitor_id, ok, PERCENTILE_CONT(0.95) WITHIN GROUP (
            ORDER BY CASE WHEN ok THEN latency_ms END
        ) OVER (PARTITION BY monitor_id) AS p95
        FROM results WHERE started_at >= %s AND started_at < %s
    ) AS ranked
    GROUP BY monitor_id ORDER BY monitor_id
"""

# SQLite has no percentile function: the nearest rank, the least passing
# latency with at least 95% of the passing ones at or below it.
_RAW_SUMMARIES_SQLITE = """
    SELECT monitor_id, count(*), sum(ok),
        min(CASE WHEN ok AND rank >= 0.95 * passed THEN latency_ms END)
    FROM (
        SELECT monitor_id, ok, latency_ms,
            row_number() OVER (PARTITION BY monitor_id, ok ORDER BY latency_ms)
                AS rank,
            sum(ok) OVER (PARTITION BY monitor_id) AS passed
        FROM results WHERE started_at >= ? AND started_at < ?
    )
    GROUP BY monitor_id ORDER BY monitor_id
"""


def _raw(rows: Iterable[Any]) -> dict[str, RawSummary]:
    found: dict[str, RawSummary] = {}
    for monitor_id, count, ok, p95 in rows:
        key = monitor_id.decode() if isinstance(monitor_id, bytes) else monitor_id
        found[key] = (int(count), int(ok), None if p95 is None else float(p95))
    return found


@contextlib.asynccontextmanager
async def raw_reader(backend: str, url: str) -> AsyncIterator[RawReader]:
    """A way to sum results by SQL on its own connection, open for the block."""
    if backend == "postgresql":
        connection = await postgres_connection(url)
        try:

            async def postgresql(since: float, until: float) -> dict[str, RawSummary]:
                rows = await connection.fetch(_RAW_SUMMARIES_POSTGRESQL, since, until)
                return _raw(tuple(row) for row in rows)

            yield postgresql
        finally:
            await connection.close()
    elif backend == "mysql":
        settings = mysql_store.parse_url(url)
        link = await aiomysql.connect(
            **_server(settings), db=settings.database, autocommit=True
        )
        try:

            async def mysql(since: float, until: float) -> dict[str, RawSummary]:
                async with link.cursor() as cursor:
                    await cursor.execute(_RAW_SUMMARIES_MYSQL, (since, until))
                    return _raw(await cursor.fetchall())

            yield mysql
        finally:
            link.close()
    else:
        path = url.removeprefix("sqlite://")
        database = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False
        )
        try:

            def query(since: float, until: float) -> dict[str, RawSummary]:
                return _raw(database.execute(_RAW_SUMMARIES_SQLITE, (since, until)))

            async def sqlite(since: float, until: float) -> dict[str, RawSummary]:
                return await asyncio.to_thread(query, since, until)

            yield sqlite
        finally:
            database.close()


async def timed_runs(
    runs: int, work: Callable[[], Awaitable[Any]], server: ServerCpu | None
) -> tuple[dict[str, Any], Any]:
    """Run ``work`` once to warm up, then ``runs`` times timed.

    Returns the median and every run in milliseconds, the CPU time of a run
    on each side (averaged over the timed runs: the server's clock ticks
    are too coarse for one), and what the warm-up returned.
    """
    answer = await work()
    times: list[float] = []

    async def repeat() -> None:
        for _ in range(runs):
            began = time.perf_counter()
            await work()
            times.append((time.perf_counter() - began) * 1000.0)

    window = await measured(server, repeat)
    server_ms = window.server_cpu_seconds
    return {
        "median_ms": round(statistics.median(times), 2),
        "runs_ms": [round(taken, 2) for taken in times],
        "client_cpu_ms_per_run": round(window.client_cpu_seconds / runs * 1000, 2),
        "server_cpu_ms_per_run": _rounded(
            None if server_ms is None else server_ms / runs * 1000, 2
        ),
    }, answer


def compare(summaries: list[Summary], raw: dict[str, RawSummary]) -> dict[str, Any]:
    """Whether the rollups count what the results hold, and how far p95s are.

    The rollups' p95 is interpolated in a histogram bucket, so it differs
    from the exact one by up to the bucket's width.
    """
    counted = {s.monitor_id: (s.count, s.ok) for s in summaries}
    differ = {*counted, *raw}
    gaps = []
    for summary in summaries:
        exact = raw.get(summary.monitor_id, (0, 0, None))[2]
        if summary.p95 is not None and exact is not None:
            gaps.append(abs(summary.p95 - exact))
    return {
        "monitors_counted_otherwise": sum(
            1 for key in differ if key not in raw or counted.get(key) != raw[key][:2]
        ),
        "p95_median_gap_ms": round(statistics.median(gaps), 2) if gaps else None,
    }


async def rollup_section(
    backend: str, where: Place, args: argparse.Namespace
) -> dict[str, Any]:
    """Section 3 on one backend: fill a store's rollups, then time summaries.

    The hours end at the start of the current hour, so they are whole.
    """
    until = bucket_start(time.time(), HOUR)
    since = until - args.rollup_hours * HOUR
    total = args.rollup_monitors * args.rollup_hours * args.rollup_per_hour
    results = synthetic_results(
        args.rollup_monitors, total, since, HOUR / args.rollup_per_hour, seed=2
    )
    async with open_store(where.url) as store:
        step(
            f"{backend}: filling rollups with {total:,} results "
            f"({args.rollup_monitors:,} monitors x {args.rollup_hours} h "
            f"x {args.rollup_per_hour}/h)"
        )
        fill = await ingest(
            f"{backend} fill",
            batched(results, args.fill_batch),
            total,
            store.write_results,
            where.server,
        )
        await where.steady()

        async def summaries() -> list[Summary]:
            return await store.rollup_summaries(since=since, until=until)

        step(f"{backend}: rollup_summaries over {args.rollup_hours} h")
        summed, found = await timed_runs(args.query_runs, summaries, where.server)
    async with raw_reader(backend, where.url) as read:
        step(f"{backend}: the same summaries by SQL from the raw results")
        computed, raw = await timed_runs(
            args.query_runs, lambda: read(since, until), where.server
        )
    return {
        "monitors": args.rollup_monitors,
        "hours": args.rollup_hours,
        "results_per_hour": args.rollup_per_hour,
        "results": total,
        "fill": fill,
        "summaries": len(found),
        "rollup_summaries": summed,
        "raw_sql": computed,
        **compare(found, raw),
    }


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    step(f"making {args.results:,} results of {args.monitors:,} monitors")
    day = bucket_start(time.time(), 86_400)
    results = synthetic_results(args.monitors, args.results, day, INGEST_INTERVAL)
    batches = list(batched(results, args.batch))
    figures: dict[str, Any] = {}
    for backend in args.backends:
        found: dict[str, Any] = {}
        async with place(backend, args) as where:
            found["ingest"] = await store_ingest(backend, where, batches)
            if backend == "postgresql":
                found.update(await postgresql_baselines(where, batches))
                found.update(postgresql_ratios(found))
        async with place(backend, args) as where:
            found["rollups"] = await rollup_section(backend, where, args)
        figures[backend] = found
    return figures


def postgresql_ratios(found: dict[str, Any]) -> dict[str, float | None]:
    """The store's ingest against raw COPY's, and the rollups' share of it."""
    store = found["ingest"]["server_cpu_seconds"]
    copy = found["copy"]["server_cpu_seconds"]
    alone = found["results_only"]["server_cpu_seconds"]
    if not store or not copy or alone is None:
        return {"ingest_share_of_copy": None, "rollup_share_of_server_cpu": None}
    return {
        # The same rows, so the ratio of rates is that of CPU seconds.
        "ingest_share_of_copy": round(copy / store, 3),
        "rollup_share_of_server_cpu": round(1 - alone / store, 3),
    }


def ingest_rows(label: str, figures: dict[str, Any], server: bool) -> list[report.Row]:
    rows = [
        report.row(f"{label}, rows / s (wall)", figures["rows_per_second"]),
        report.row("  rows / client CPU-s", figures["rows_per_client_cpu_second"]),
    ]
    if server:
        rows.append(
            report.row("  rows / server CPU-s", figures["rows_per_server_cpu_second"])
        )
    return rows


def verdicts(figures: dict[str, Any]) -> list[report.Row]:
    """Rows of (figure, value, target, met) for the printed table."""
    row = report.row
    rows: list[report.Row] = []
    for backend, found in figures.items():
        server = backend in SERVER_PROCESSES
        rows += ingest_rows(f"{backend} write_results", found["ingest"], server)
        if backend == "postgresql":
            rows += ingest_rows("postgresql raw COPY", found["copy"], True)
            rows += ingest_rows("postgresql executemany", found["executemany"], True)
            rows += ingest_rows(
                "postgresql COPY without rollups", found["results_only"], True
            )
            share = found["ingest_share_of_copy"]
            goal = TARGETS["ingest_share_of_copy"]
            rows.append(
                row(
                    "postgresql write_results / raw COPY, per server CPU-s",
                    share,
                    f">= {goal:.2f}",
                    None if share is None else share >= goal,
                )
            )
            rows.append(
                row(
                    "  rollup upkeep, share of server CPU",
                    found["rollup_share_of_server_cpu"],
                )
            )
        rollups = found["rollups"]
        goal = TARGETS["rollup_summaries_ms"]
        took = rollups["rollup_summaries"]["median_ms"]
        rows.append(
            row(
                f"{backend} rollup_summaries, {rollups['monitors']:,} monitors x "
                f"{rollups['hours']} h, median ms",
                took,
                f"< {goal:g}",
                took < goal,
            )
        )
        rows.append(
            row(
                "  the same by SQL from raw results, median ms",
                rollups["raw_sql"]["median_ms"],
            )
        )
        rows.append(
            row(
                f"  filled with results ({rollups['results_per_hour']} per "
                "monitor-hour)",
                rollups["results"],
            )
        )
        otherwise = rollups["monitors_counted_otherwise"]
        rows.append(
            row(
                "  monitors counted unlike the raw results",
                otherwise,
                "= 0",
                otherwise == 0,
            )
        )
    return rows


def run(args: argparse.Namespace) -> int:
    try:
        figures = uvloop.run(measure(args))
    except KeyboardInterrupt:
        # The loop cancelled the run, whose blocks removed what they had made.
        print("interrupted; the stores made for the run are removed", file=sys.stderr)
        return 130
    report.print_table(verdicts(figures))
    report.write_json(
        args.json,
        "storage",
        settings={
            "backends": args.backends,
            "postgresql": postgres_store.parse_url(args.postgresql).location,
            "mysql": mysql_store.parse_url(args.mysql).where,
            "results": args.results,
            "monitors": args.monitors,
            "batch": args.batch,
            "ingest_interval_seconds": INGEST_INTERVAL,
            "rollup_monitors": args.rollup_monitors,
            "rollup_hours": args.rollup_hours,
            "rollup_per_hour": args.rollup_per_hour,
            "fill_batch": args.fill_batch,
            "query_runs": args.query_runs,
        },
        targets=TARGETS,
        figures=figures,
    )
    return 0
