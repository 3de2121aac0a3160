"""The ``upcast`` command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import re
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import ray
import uvloop

from actors.runtime import (
    DEFAULT_DATA_DIR,
    DEFAULT_RETENTION_DAYS,
    DEFAULT_SHARDS,
    RayPlatform,
    Settings,
    init_ray,
)
from engine.checks import kind_names
from engine.checks.push import PushCheck
from engine.errors import ValidationError
from engine.logs import configure_logging
from engine.model import (
    PROGRESS_EVERY,
    Monitor,
    load_definitions,
    load_monitors,
    monitors_from_dicts,
    slugify,
)
from engine.push_server import DEFAULT_HOST, DEFAULT_PORT, PushServer
from engine.result import CheckResult, MonitorState
from engine.scheduler import DEFAULT_MAX_IN_FLIGHT, Scheduler
from sdk.client import ApplyReport, AsyncClient, Client
from sdk.errors import InvalidMonitor, Unauthorized, UpcastError
from sdk.storage_cli import add_storage_commands, run_storage_command
from sdk.users_cli import add_user_commands, run_users_command
from store.spool import DEFAULT_MAX_BYTES as DEFAULT_SPOOL_BYTES
from web.app import create_app
from web.live import LiveSettings
from web.protection import DEFAULT_LIMITS, Limit, ProtectionSettings
from web.server import start_gateway

logger = logging.getLogger(__name__)

SUMMARY_EVERY = 10.0

VALIDATE_FIRST = 100_000
"""``upcast apply`` validates files up to this size whole before sending any."""

APPLY_PART = 10_000
"""Monitors of a larger file sent at a time."""
LOAD_REPORT_EVERY = 2.0
DEFAULT_URL = "http://127.0.0.1:8080"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    command: str = args.command
    if command == "kinds":
        for name in kind_names():
            print(name)
        return 0
    if command == "serve":
        return serve(args)
    if command == "status":
        return show_status(args.url)
    if command == "export":
        return export_file(args.url, args.format, args.tags, args.output)
    if command == "storage":
        return run_storage_command(args)
    if command == "users":
        return run_users_command(args)

    if command == "apply":
        definitions = read_definitions(Path(args.file))
        if definitions is None:
            return 2
        return uvloop.run(apply_file(definitions, args.url))
    monitors = read_monitors(Path(args.file))
    if monitors is None:
        return 2
    if command == "validate":
        enabled = sum(1 for monitor in monitors if monitor.enabled)
        print(f"{args.file}: {len(monitors)} monitors are valid ({enabled} enabled)")
        return 0
    if args.once:
        return uvloop.run(run_once(monitors, args.max_in_flight, sys.stdout))
    return uvloop.run(run_forever(monitors, args, sys.stdout))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="upcast", description="Self-hosted infrastructure monitoring."
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="how much to log on stderr (default: warning)",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="plain text for people or JSON lines for log collectors",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="check the monitors of a file in this process"
    )
    run.add_argument("file", help="a YAML or JSON monitor file")
    run.add_argument(
        "--once",
        action="store_true",
        help="check every enabled monitor once, print a table and exit "
        "(status 1 when any failed)",
    )
    run.add_argument(
        "--output",
        default="text",
        choices=["text", "json"],
        help="text: state changes and a summary; json: every result as a JSON line",
    )
    run.add_argument(
        "--max-in-flight",
        type=positive_int,
        default=DEFAULT_MAX_IN_FLIGHT,
        help=f"checks running at once (default: {DEFAULT_MAX_IN_FLIGHT})",
    )

    run.add_argument(
        "--push-listen",
        type=listen_address,
        default=(DEFAULT_HOST, DEFAULT_PORT),
        metavar="HOST:PORT",
        help="where push monitors' jobs ping, at /push/<token> "
        f"(default: {DEFAULT_HOST}:{DEFAULT_PORT})",
    )
    run.add_argument(
        "--no-push",
        action="store_true",
        help="do not open the push endpoint",
    )

    validate = commands.add_parser(
        "validate", help="check a monitor file and report every problem"
    )
    validate.add_argument("file", help="a YAML or JSON monitor file")

    commands.add_parser("kinds", help="list the check kinds this install knows")

    serve_parser = commands.add_parser(
        "serve",
        help="run the platform: Ray actors, the store and the web gateway",
    )
    serve_parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve_parser.add_argument(
        "--port", type=int, default=8080, help="0 picks a free port (default: 8080)"
    )
    serve_parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="where the embedded store keeps its files (default: ./upcast-data)",
    )
    serve_parser.add_argument(
        "--store",
        metavar="URL",
        help="the store's URL instead of SQLite in the data directory",
    )
    serve_parser.add_argument(
        "--analytics",
        metavar="URL",
        default=os.environ.get("UPCAST_ANALYTICS"),
        help="a MySQL or MariaDB store to copy rollups and events to, for reports "
        "(default: $UPCAST_ANALYTICS, else none)",
    )
    serve_parser.add_argument(
        "--report-store",
        metavar="URL",
        default=os.environ.get("UPCAST_REPORT_STORE"),
        help="where reports read, opened only to read, such as a read replica "
        "(default: $UPCAST_REPORT_STORE, else the analytics store, else the store)",
    )
    serve_parser.add_argument(
        "--public-url",
        metavar="URL",
        default=os.environ.get("UPCAST_PUBLIC_URL"),
        help="the address people open Upcast at, for links in notifications "
        "(default: $UPCAST_PUBLIC_URL, else no links)",
    )
    serve_parser.add_argument(
        "--cors-origin",
        metavar="ORIGIN",
        action="append",
        default=[],
        help="an origin (https://status.example.com) whose pages may call the "
        "API from a browser; repeat for more (default: none)",
    )
    serve_parser.add_argument(
        "--rate-limit",
        metavar="CATEGORY=N/SECONDS",
        action="append",
        default=[],
        type=rate_limit,
        help="requests one client may make in a category (ingest, api, auth, "
        "admin) per so many seconds, e.g. api=1200/60, or CATEGORY=off; "
        "repeat for more (default: api=600/60, auth=10/60, admin=60/60, "
        "ingest=600/60)",
    )
    serve_parser.add_argument(
        "--redis",
        metavar="URL",
        default=os.environ.get("UPCAST_REDIS"),
        help="a Redis server that gateways share rate limits and live updates "
        "through (default: $UPCAST_REDIS, else each gateway works on its own)",
    )
    serve_parser.add_argument(
        "--shards",
        type=positive_int,
        default=DEFAULT_SHARDS,
        help=f"shard actors running checks (default: {DEFAULT_SHARDS})",
    )
    serve_parser.add_argument(
        "--apply",
        metavar="FILE",
        type=Path,
        help="once running, create or update the monitors of this file",
    )
    serve_parser.add_argument(
        "--ray-address",
        metavar="ADDRESS",
        help="join this Ray cluster instead of starting a local one",
    )
    serve_parser.add_argument(
        "--retention-days",
        type=float,
        default=DEFAULT_RETENTION_DAYS,
        help=f"days results and events are kept (default: {DEFAULT_RETENTION_DAYS:g})",
    )
    serve_parser.add_argument(
        "--spool-mb",
        type=positive_int,
        default=DEFAULT_SPOOL_BYTES // (1024 * 1024),
        help="disk the spool may use for results while the store is unreachable "
        f"(default: {DEFAULT_SPOOL_BYTES // (1024 * 1024)})",
    )
    serve_parser.add_argument(
        "--max-in-flight",
        type=positive_int,
        default=DEFAULT_MAX_IN_FLIGHT,
        help=f"checks running at once per shard (default: {DEFAULT_MAX_IN_FLIGHT})",
    )

    apply_parser = commands.add_parser(
        "apply", help="create or update the monitors of a file on a running platform"
    )
    apply_parser.add_argument("file", help="a YAML or JSON monitor file")
    apply_parser.add_argument(
        "--url",
        default=os.environ.get("UPCAST_URL", DEFAULT_URL),
        help=f"the gateway (default: $UPCAST_URL or {DEFAULT_URL})",
    )

    status_parser = commands.add_parser(
        "status", help="a table of the monitors on a running platform"
    )
    status_parser.add_argument(
        "--url",
        default=os.environ.get("UPCAST_URL", DEFAULT_URL),
        help=f"the gateway (default: $UPCAST_URL or {DEFAULT_URL})",
    )

    export_parser = commands.add_parser(
        "export",
        help="write the monitors of a running platform as a monitor file",
    )
    export_parser.add_argument(
        "--format",
        choices=["yaml", "json"],
        help="the file's format (default: json for an output file named "
        "*.json, else yaml)",
    )
    export_parser.add_argument(
        "--tags",
        type=tag_list,
        help="only monitors with one of these tags, separated by commas",
    )
    export_parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="where to write the file (default: standard output)",
    )
    export_parser.add_argument(
        "--url",
        default=os.environ.get("UPCAST_URL", DEFAULT_URL),
        help=f"the gateway (default: $UPCAST_URL or {DEFAULT_URL})",
    )

    add_storage_commands(commands)
    add_user_commands(commands)
    return parser


def tag_list(text: str) -> list[str]:
    tags = [tag.strip() for tag in text.split(",") if tag.strip()]
    if not tags:
        raise argparse.ArgumentTypeError(
            f"must name tags separated by commas, got {text!r}"
        )
    return tags


def rate_limit(text: str) -> tuple[str, Limit | None]:
    """``api=1200/60`` as a category and its limit (burst a sixth of it); off."""
    category, _, budget = text.partition("=")
    if category not in DEFAULT_LIMITS:
        raise argparse.ArgumentTypeError(
            f"the category must be one of {', '.join(DEFAULT_LIMITS)}, got {category!r}"
        )
    if budget == "off":
        return category, None
    count, _, seconds = budget.partition("/")
    try:
        rate, per = int(count), float(seconds)
        return category, Limit(rate=rate, per=per, burst=max(1, rate // 6))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be CATEGORY=N/SECONDS or CATEGORY=off, got {text!r}"
        ) from None


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def listen_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def report_progress(done: int, total: int) -> None:
    """Validation progress on stderr, for files of many thousand monitors."""
    if total < PROGRESS_EVERY:
        return
    end = "\n" if done == total else "\r"
    print(f"validated {done:,} of {total:,} monitors", end=end, file=sys.stderr)


def read_monitors(path: Path) -> list[Monitor] | None:
    """The file's monitors, or None after printing every problem to stderr."""
    try:
        return load_monitors(path, progress=report_progress)
    except FileNotFoundError:
        print(f"{path}: no such file", file=sys.stderr)
    except ValidationError as exc:
        print_problems(path, exc)
    return None


def read_definitions(path: Path) -> list[Any] | None:
    """The file's definitions, read but not validated; None after an error."""
    try:
        return load_definitions(path)
    except FileNotFoundError:
        print(f"{path}: no such file", file=sys.stderr)
    except ValidationError as exc:
        print_problems(path, exc)
    return None


def print_problems(path: Path, exc: ValidationError) -> None:
    print(f"{path}: {len(exc.errors)} problem(s):", file=sys.stderr)
    for error in exc.errors:
        print(f"  {error}", file=sys.stderr)


async def run_once(monitors: list[Monitor], max_in_flight: int, out: TextIO) -> int:
    """Check each enabled monitor once; 0 when all passed, 1 otherwise."""
    scheduler = Scheduler(max_in_flight=max_in_flight)
    enabled = [monitor for monitor in monitors if monitor.enabled]
    for monitor in enabled:
        scheduler.add(monitor)
    limit = asyncio.Semaphore(max_in_flight)

    async def check(monitor: Monitor) -> CheckResult:
        async with limit:
            return await scheduler.run_once(monitor.id)

    try:
        results = await asyncio.gather(*(check(monitor) for monitor in enabled))
    finally:
        await scheduler.close()
    rows = [
        (
            result.monitor_id,
            monitor.kind,
            "ok" if result.ok else "FAIL",
            f"{result.latency_ms:.1f} ms",
            result.message if result.ok else f"{result.reason}: {result.message}",
        )
        for monitor, result in zip(enabled, results, strict=True)
    ]
    print_table(("MONITOR", "KIND", "RESULT", "LATENCY", "DETAIL"), rows, out)
    return 0 if all(result.ok for result in results) else 1


async def run_forever(
    monitors: list[Monitor], args: argparse.Namespace, out: TextIO
) -> int:
    """Check until interrupted, printing state changes or every result."""
    printer = Printer(out, args.output)
    scheduler = Scheduler(
        max_in_flight=args.max_in_flight,
        on_result=printer.result if args.output == "json" else None,
        on_state_change=printer.state_change,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    push: PushServer | None = None
    if not args.no_push:
        tokens = {
            monitor.check.token: monitor.id
            for monitor in monitors
            if isinstance(monitor.check, PushCheck)
        }

        def judge_now(token: str) -> None:
            monitor_id = tokens[token]
            if monitor_id in scheduler:
                scheduler.check_now(monitor_id)

        host, port = args.push_listen
        push = PushServer(
            host=host, port=port, known=tokens.__contains__, on_ping=judge_now
        )
        try:
            await push.start()
        except OSError as exc:
            print(
                f"cannot listen on {host}:{port} for push pings: {exc.strerror}; "
                "choose another address with --push-listen or pass --no-push",
                file=sys.stderr,
            )
            return 2
        printer.note(f"push endpoint: {push.url}/<token>")

    await scheduler.start()
    for monitor in monitors:
        scheduler.add(monitor)
    enabled = [monitor.id for monitor in monitors if monitor.enabled]
    first_round: asyncio.Future[list[CheckResult | BaseException]] | None = None
    if len(enabled) <= args.max_in_flight:
        # A fleet that fits in one round is checked at once, so the first
        # states show up now rather than spread over the first interval.
        first_round = asyncio.gather(
            *(scheduler.run_once(monitor_id) for monitor_id in enabled),
            return_exceptions=True,
        )
    printer.note(
        f"checking {len(monitors)} monitors "
        f"({sum(1 for m in monitors if m.enabled)} enabled); Ctrl-C stops"
    )
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SUMMARY_EVERY)
            stats = scheduler.stats()
            printer.note(
                f"{stats.checks_done} checks, {stats.checks_per_second:.1f}/s, "
                f"{stats.in_flight} in flight, lateness p99 "
                f"{stats.lateness_p99_ms:.1f} ms"
            )
    finally:
        printer.note("stopping: waiting for the checks in flight")
        await scheduler.close()
        if first_round is not None:
            await first_round
        if push is not None:
            await push.stop()
    return 0


def serve(args: argparse.Namespace) -> int:
    """Run the platform until Ctrl-C; pending results are written before exit."""
    monitors: list[Monitor] = []
    if args.apply is not None:
        loaded = read_monitors(args.apply)
        if loaded is None:
            return 2
        monitors = loaded
    started_ray = init_ray(args.ray_address)
    settings = Settings(
        data_dir=args.data_dir,
        shards=args.shards,
        store_url=args.store,
        analytics_url=args.analytics,
        report_url=args.report_store,
        public_url=args.public_url,
        retention_days=args.retention_days,
        max_in_flight=args.max_in_flight,
        spool_bytes=args.spool_mb * 1024 * 1024,
    )
    try:
        limits = dict(DEFAULT_LIMITS)
        for category, limit in args.rate_limit:
            if limit is None:
                limits.pop(category, None)
            else:
                limits[category] = limit
        protection = ProtectionSettings(
            cors_origins=tuple(args.cors_origin), redis_url=args.redis, limits=limits
        )
        live = LiveSettings(redis_url=args.redis)
    except ValueError as exc:
        print(f"upcast serve: error: {exc}", file=sys.stderr)
        return 2
    try:
        return uvloop.run(
            serve_until_stopped(
                settings, args.host, args.port, monitors, protection, live
            )
        )
    finally:
        if started_ray:
            ray.shutdown()


async def serve_until_stopped(
    settings: Settings,
    host: str,
    port: int,
    monitors: list[Monitor],
    protection: ProtectionSettings | None = None,
    live: LiveSettings | None = None,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    print(f"-- starting the platform ({settings.shards} shards)", flush=True)
    platform = await RayPlatform.start(settings, progress=LoadReport())
    app = create_app(platform, protection=protection, touchup=True, live=live)
    try:
        gateway = await start_gateway(app, host, port)
    except OSError as exc:
        await platform.close()
        print(f"cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 2
    print(
        f"-- Upcast is running at {gateway.url}  (the dashboard; API under /api/v1)",
        flush=True,
    )
    if not await app.ctx.accounts.backend.users():
        print(
            "-- no accounts yet: make the owner, who signs in to the dashboard, "
            "with 'upcast users create-owner NAME --api-key cli'",
            flush=True,
        )
    print(f"-- store: {settings.url}; Ctrl-C stops", flush=True)
    if monitors:
        await apply_file(
            [monitor.to_dict() for monitor in monitors],
            gateway.url,
            api_key=app.ctx.accounts.system_token,
        )
    await stop.wait()
    print("-- stopping: finishing checks in flight and writing their results")
    await gateway.stop()
    await platform.close()
    print("-- stopped")
    return 0


async def apply_file(
    definitions: list[Any], url: str, *, api_key: str | None = None
) -> int:
    """Send a file's monitors to a running platform and say what changed.

    A file of up to ``VALIDATE_FIRST`` monitors is validated whole before
    anything is sent, so a bad one changes nothing. A larger file goes part
    by part, each validated by the gateway: a bad definition stops the apply
    at its part, with the parts before it applied (``upcast validate``
    checks a whole file without sending anything).
    """
    problems = duplicate_ids(definitions)
    if problems:
        return refuse(problems)
    whole: list[dict[str, Any]] | None = None
    if len(definitions) <= VALIDATE_FIRST:
        try:
            monitors = monitors_from_dicts(definitions, report_progress)
        except ValidationError as exc:
            return refuse([(e.field, e.problem) for e in exc.errors])
        whole = [monitor.to_dict() for monitor in monitors]
    try:
        async with AsyncClient(url, api_key=api_key) as client:
            if whole is not None:
                report = await client.apply(whole, progress=report_applied)
            else:
                report = await apply_in_parts(client, definitions)
    except InvalidMonitor as exc:
        return refuse(exc.fields)
    except PartRefused as exc:
        applied = exc.report
        print(
            f"stopped at monitors[{exc.start}]: the {exc.start:,} monitors before "
            f"it are applied ({len(applied.created):,} created, "
            f"{len(applied.updated):,} updated); fix the file and run again",
            file=sys.stderr,
        )
        return refuse(exc.fields)
    except UpcastError as exc:
        print(f"{url}: {exc}{sign_in_hint(exc)}", file=sys.stderr)
        return 1
    for label, ids in (
        ("created", report.created),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
    ):
        shown = ", ".join(ids[:10]) + (
            f" and {len(ids) - 10} more" if len(ids) > 10 else ""
        )
        print(f"{label:<9} {len(ids):>6}  {shown}".rstrip())
    return 0


class PartRefused(Exception):
    """A part of a large file did not validate; the parts before it went in."""

    def __init__(
        self, start: int, fields: list[tuple[str, str]], report: ApplyReport
    ) -> None:
        super().__init__(f"monitors[{start}] onwards were not applied")
        self.start = start
        self.fields = fields
        self.report = report


async def apply_in_parts(client: AsyncClient, definitions: list[Any]) -> ApplyReport:
    """Send a large list part by part; the gateway validates each part whole.

    The next part is sent as soon as the gateway has taken the one before,
    so validating a part here first would only add to the time it takes.
    """
    report = ApplyReport()
    total = len(definitions)
    for start in range(0, total, APPLY_PART):
        part = definitions[start : start + APPLY_PART]
        try:
            report.extend(await client.apply(part))
        except InvalidMonitor as exc:
            fields = [
                (_in_file(field, start), problem) for field, problem in exc.fields
            ]
            raise PartRefused(start, fields, report) from None
        report_applied(min(start + APPLY_PART, total), total)
    return report


def _in_file(field: str, start: int) -> str:
    """A place the SDK names in a part (``definitions[3].x``), in the whole file."""
    match = re.match(r"definitions\[(\d+)\]", field)
    if match is None:
        return field
    return f"monitors[{int(match.group(1)) + start}]{field[match.end() :]}"


def duplicate_ids(definitions: list[Any]) -> list[tuple[str, str]]:
    """Every id a file uses twice, found before anything is validated or sent."""
    seen: dict[str, int] = {}
    problems: list[tuple[str, str]] = []
    for index, definition in enumerate(definitions):
        if not isinstance(definition, dict):
            continue
        given = definition.get("id")
        name = definition.get("name")
        monitor_id = given if isinstance(given, str) else None
        if monitor_id is None and isinstance(name, str):
            monitor_id = slugify(name)
        if not monitor_id:
            continue
        first = seen.setdefault(monitor_id, index)
        if first != index:
            problems.append(
                (
                    f"monitors[{index}].id",
                    f"{monitor_id!r} is already used by monitors[{first}]",
                )
            )
    return problems


def refuse(fields: list[tuple[str, str]]) -> int:
    print(f"refused: {len(fields)} problem(s):", file=sys.stderr)
    for field, problem in fields:
        print(f"  {field}: {problem}", file=sys.stderr)
    return 2


class LoadReport:
    """Prints how far the shards are in loading the stored monitors.

    A line every ``LOAD_REPORT_EVERY`` seconds while there is something to
    load, and one when it is done; nothing for an empty store.
    """

    def __init__(self) -> None:
        self._began = time.monotonic()
        self._printed = -math.inf
        self._finished = False

    def __call__(self, loaded: int, total: int) -> None:
        now = time.monotonic()
        if total == 0 or self._finished:
            return
        self._finished = loaded >= total
        if not self._finished and now - self._printed < LOAD_REPORT_EVERY:
            return
        self._printed = now
        print(
            f"-- loading monitors: {loaded:,} of {total:,} ({now - self._began:.0f}s)",
            flush=True,
        )


def report_applied(done: int, total: int) -> None:
    if total >= PROGRESS_EVERY or (done == total and total > 100):
        end = "\n" if done == total else "\r"
        print(f"applied {done:,} of {total:,} monitors", end=end, file=sys.stderr)


def sign_in_hint(error: UpcastError) -> str:
    """What to do about a refusal for want of credentials, for the message."""
    if isinstance(error, Unauthorized):
        return (
            "\n  set UPCAST_API_KEY to an API key (upcast users create-owner "
            "--api-key makes the first; POST /api/v1/keys makes more)"
        )
    return ""


def export_file(
    url: str, file_format: str | None, tags: list[str] | None, output: str | None
) -> int:
    """Write the monitors of the platform at ``url`` as a monitor file.

    Secrets read as ``********``; ``upcast apply`` of the file keeps the
    stored ones, so the file can go into version control and come back.
    """
    to_file = output is not None and output != "-"
    if file_format is None:
        named_json = to_file and Path(str(output)).suffix.lower() == ".json"
        file_format = "json" if named_json else "yaml"
    try:
        with Client(url) as client:
            text = client.export_monitors(file_format, tags=tags)
    except UpcastError as exc:
        print(f"{url}: {exc}{sign_in_hint(exc)}", file=sys.stderr)
        return 1
    if not to_file:
        sys.stdout.write(text)
        return 0
    try:
        Path(str(output)).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"{output}: cannot write the file: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {output}", file=sys.stderr)
    return 0


def show_status(url: str) -> int:
    """Print a table of every monitor's state on the platform at ``url``."""
    try:
        with Client(url) as client:
            statuses = client.status()
    except UpcastError as exc:
        print(f"{url}: {exc}{sign_in_hint(exc)}", file=sys.stderr)
        return 1
    rows = []
    for status in statuses:
        checked = status.get("last_check_at")
        latency = status.get("last_latency_ms")
        rows.append(
            (
                str(status["id"]),
                str(status["state"]).upper(),
                "-"
                if checked is None
                else time.strftime("%H:%M:%S", time.localtime(checked)),
                "-" if latency is None else f"{latency:.1f} ms",
                ""
                if status.get("last_ok") or not status.get("last_reason")
                else f"{status['last_reason']}: {status.get('last_message', '')}",
            )
        )
    print_table(
        ("MONITOR", "STATE", "LAST CHECK", "LATENCY", "DETAIL"), rows, sys.stdout
    )
    counts: dict[str, int] = {}
    for status in statuses:
        counts[str(status["state"])] = counts.get(str(status["state"]), 0) + 1
    summary = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
    print(f"{len(statuses)} monitors" + (f": {summary}" if summary else ""))
    return 0


class Printer:
    """Writes what ``upcast run`` reports, as text for people or JSON lines."""

    def __init__(self, out: TextIO, output: str) -> None:
        self.out = out
        self.json = output == "json"

    def result(self, result: CheckResult) -> None:
        self.out.write(json.dumps(result.to_dict(), default=str) + "\n")
        self.out.flush()

    def state_change(
        self,
        monitor_id: str,
        before: MonitorState,
        after: MonitorState,
        result: CheckResult,
    ) -> None:
        if self.json:
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(result.started_at))
        detail = (
            f"{result.latency_ms:.1f} ms"
            if result.ok
            else f"{result.reason}: {result.message}"
        )
        self.out.write(
            f"{stamp}  {str(after).upper():<7}  {monitor_id}  "
            f"(was {before})  {detail}\n"
        )
        self.out.flush()

    def note(self, text: str) -> None:
        if not self.json:
            print(f"-- {text}", file=self.out, flush=True)


def print_table(
    header: tuple[str, ...], rows: Sequence[tuple[str, ...]], out: TextIO
) -> None:
    widths = [
        max(len(row[column]) for row in [header, *rows])
        for column in range(len(header))
    ]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        out.write("  ".join(cells).rstrip() + "\n")


if __name__ == "__main__":
    sys.exit(main())
