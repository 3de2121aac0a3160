"""The ``upcast storage`` commands: the store's schema, and its analytics copy.

Each subcommand is a ``StorageCommand`` in ``COMMANDS``: its name, a line of
help, the options of its own and the coroutine that runs it. Every one is
given ``--store`` and ``--data-dir``, which pick the store the way ``upcast
serve`` does, so a new subcommand is a coroutine and an entry in the table.

Exit statuses are shared: 0 when all is well, 1 when the store needs the
operator's attention (migrations pending, or a database newer than this
version), 2 when the command could not do its work.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop

from actors.runtime import DEFAULT_DATA_DIR, Settings
from store import SchemaStatus, StoreError, open_store, schema_status
from store.mirror import VERIFY_DAYS, Mirror, Verification, source_name
from store.mysql import MysqlStore

EXIT_OK = 0
EXIT_ATTENTION = 1
EXIT_ERROR = 2

StorageRun = Callable[[argparse.Namespace, str], Coroutine[Any, Any, int]]
"""Runs a subcommand as ``run(args, url)``; its exit status."""


def no_options(parser: argparse.ArgumentParser) -> None:
    """The options of a subcommand that takes only the store's."""


@dataclass(frozen=True, slots=True)
class StorageCommand:
    """One ``upcast storage`` subcommand.

    ``run`` gets the parsed arguments and the store's URL, already chosen
    from ``--store`` or ``--data-dir``. It raises ``StoreError`` or
    ``ValueError`` for a failure worth one line on stderr and status 2.
    """

    name: str
    help: str
    run: StorageRun
    options: Callable[[argparse.ArgumentParser], None] = no_options


def add_storage_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add ``storage`` and its subcommands to the ``upcast`` parser's commands."""
    storage = commands.add_parser(
        "storage",
        help="look at or migrate the store's schema; copy and verify analytics",
        description="Look at or migrate the schema of the store upcast serve "
        "uses, and copy it to the analytics store and verify the copy.",
    )
    subcommands = storage.add_subparsers(
        dest="storage_command", required=True, metavar="COMMAND"
    )
    for command in COMMANDS:
        parser = subcommands.add_parser(
            command.name, help=command.help, description=command.help
        )
        add_store_options(parser)
        command.options(parser)
        parser.set_defaults(storage_run=command.run, storage_prog=parser.prog)


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """``--store`` or ``--data-dir``, chosen from as ``upcast serve`` does."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--store",
        metavar="URL",
        help="the store's URL, as upcast serve --store takes it",
    )
    where.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        metavar="DIR",
        help="use the embedded SQLite store of this data directory "
        f"(default: ./{DEFAULT_DATA_DIR})",
    )


def run_storage_command(args: argparse.Namespace) -> int:
    """Run the ``upcast storage`` subcommand ``args`` names; its exit status."""
    url = Settings(data_dir=args.data_dir, store_url=args.store).url
    run: StorageRun = args.storage_run
    try:
        return uvloop.run(run(args, url))
    except (StoreError, ValueError) as exc:
        return fail(args, str(exc))


def fail(args: argparse.Namespace, message: str) -> int:
    """Say what went wrong on stderr, the way argparse does; status 2."""
    print(f"{args.storage_prog}: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def status_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the status as one JSON object instead of text",
    )


async def show_schema_status(args: argparse.Namespace, url: str) -> int:
    """Print where the store's schema stands, changing nothing.

    0 when it is up to date, 1 when migrations are pending or the database
    is newer than this version of Upcast.
    """
    status = await schema_status(url)
    if args.json:
        print(json.dumps(status_document(status), indent=2))
    else:
        print_status(status)
    return EXIT_OK if status.state == "current" else EXIT_ATTENTION


def status_document(status: SchemaStatus) -> dict[str, Any]:
    """The status as ``--json`` prints it."""
    return {
        "backend": status.backend,
        "location": status.location,
        "exists": status.exists,
        "empty": status.empty,
        "state": status.state,
        "found": status.found,
        "known": status.known,
        "pending": [
            {"version": version, "description": description}
            for version, description in status.pending
        ],
        "applied": [
            {
                "version": step.version,
                "description": step.description,
                "applied_at": step.applied_at,
            }
            for step in status.applied
        ],
    }


def print_status(status: SchemaStatus) -> None:
    """The status as text: one field a line, the pending steps, a verdict."""
    rows = [
        ("backend", status.backend),
        ("location", status.location + location_note(status)),
        ("schema", f"version {status.found} found, {status.known} known"),
    ]
    last = status.applied[-1] if status.applied else None
    if last is not None and last.applied_at is not None:
        moment = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(last.applied_at))
        rows.append(("migrated", f"to version {last.version} on {moment}"))
    count = len(status.pending)
    pending = f"{count} migration{'s' * (count != 1)}" if count else "none"
    rows.append(("pending", pending))

    width = max(len(label) for label, _ in rows) + 1
    for label, value in rows:
        print(f"{label + ':':<{width}} {value}")
    for version, description in status.pending:
        print(f"  {version:04d}  {description}")
    print(verdict(status))


def location_note(status: SchemaStatus) -> str:
    """What the location holds, when that is not simply an Upcast schema."""
    if not status.exists:
        made = "file" if status.backend == "sqlite" else "schema"
        return f" (no such {made} yet; migrating creates it)"
    if status.empty:
        return " (empty)"
    if status.found == 0:
        return " (holds tables, but records no Upcast schema version)"
    return ""


def verdict(status: SchemaStatus) -> str:
    """One line that says whether anything needs doing, and what."""
    if status.state == "too_new":
        return (
            f"the database {too_new(status)}; upcast serve and upcast storage "
            "migrate refuse it"
        )
    if status.state == "pending":
        count = len(status.pending)
        return (
            f"{count} migration{'s are' if count != 1 else ' is'} pending: run "
            "upcast storage migrate (upcast serve also applies them as it starts)"
        )
    return "up to date"


def too_new(status: SchemaStatus) -> str:
    """Why a database from a newer version cannot be used, after its subject."""
    return (
        f"is at schema version {status.found}, newer than the {status.known} "
        "this version of Upcast knows: upgrade Upcast to use it"
    )


async def migrate(args: argparse.Namespace, url: str) -> int:
    """Apply the pending migrations, a line for each, then say the version.

    The status is read first, so a database from a newer version is refused
    before the store opens it, and the first line can say where it started.
    """
    before = await schema_status(url)
    if before.state == "too_new":
        return fail(args, f"{before.location} {too_new(before)}; nothing was changed")

    applied = 0

    def progress(step: int, total: int, description: str) -> None:
        nonlocal applied
        if step == 1:
            print(
                f"migrating {before.location} from schema version {before.found}",
                flush=True,
            )
        print(f"[{step}/{total}] {description}", flush=True)
        applied = step

    began = time.monotonic()
    async with open_store(url, progress=progress) as store:
        version = store.schema_version()
    if applied:
        elapsed = time.monotonic() - began
        print(f"now at schema version {version} ({elapsed:.1f}s)")
    else:
        print(f"{before.location} is already at schema version {version}")
    return EXIT_OK


def analytics_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--analytics",
        metavar="URL",
        default=os.environ.get("UPCAST_ANALYTICS"),
        help="the MySQL or MariaDB analytics store, as upcast serve --analytics "
        "takes it (default: $UPCAST_ANALYTICS)",
    )


def verify_options(parser: argparse.ArgumentParser) -> None:
    analytics_options(parser)
    parser.add_argument(
        "--days",
        type=float,
        default=VERIFY_DAYS,
        help=f"how many days back to compare (default: {VERIFY_DAYS:g})",
    )
    parser.add_argument(
        "--repair",
        action="store_true",
        help="write the store's version of every row that differs into the copy",
    )
    parser.add_argument(
        "--no-copy",
        action="store_true",
        help="compare the copy as it is, without copying what changed first",
    )


@contextlib.asynccontextmanager
async def mirrored(args: argparse.Namespace, url: str) -> AsyncIterator[Mirror]:
    """The store and its analytics copy, open, as a ``Mirror``."""
    if not args.analytics:
        raise ValueError("--analytics: the analytics store's URL is needed")
    analytics = open_store(args.analytics, progress=report_migration)
    if not isinstance(analytics, MysqlStore):
        raise ValueError("--analytics: must be a mysql:// or mariadb:// URL")
    async with open_store(url) as primary, analytics:
        yield Mirror(primary, analytics, source=source_name(url))


async def sync(args: argparse.Namespace, url: str) -> int:
    """Copy to the analytics store what changed since the last copy."""
    async with mirrored(args, url) as mirror:
        began = time.monotonic()
        copied = await mirror.copy()
    counts = ", ".join(f"{count:,} {feed}" for feed, count in copied.items())
    print(f"copied {counts} ({time.monotonic() - began:.1f}s)")
    return EXIT_OK


async def verify(args: argparse.Namespace, url: str) -> int:
    """Compare the analytics copy with the store hour by hour; 1 when they differ.

    Prints the share of the store's rollups and events found the same in
    the copy, then each difference, one a line. With ``--repair`` the
    differences are fixed and the copy compared once more.
    """
    if not args.days > 0:
        raise ValueError(f"--days: must be above 0, got {args.days:g}")
    since = time.time() - args.days * 86_400
    async with mirrored(args, url) as mirror:
        if not args.no_copy:
            await mirror.copy()
        found = await mirror.verify(since=since, repair=args.repair)
        print_verification(found)
        if not args.repair or found.consistent:
            return EXIT_OK if found.consistent else EXIT_ATTENTION
        rows = "row" if found.repaired == 1 else "rows"
        print(f"repaired {found.repaired:,} {rows}; comparing again")
        again = await mirror.verify(since=since)
        print_verification(again)
        return EXIT_OK if again.consistent else EXIT_ATTENTION


def print_verification(found: Verification) -> None:
    share = found.matching_share * 100
    figure = "100%" if found.consistent else f"{min(share, 99.99):.2f}%"
    count = len(found.differences)
    print(
        f"{figure} consistent: {found.rows:,} rollups and events over "
        f"{found.hours:,} hours, {count:,} difference{'s' * (count != 1)}"
    )
    for difference in found.differences[:MAX_SHOWN]:
        print(f"  {difference.describe()}")
    if len(found.differences) > MAX_SHOWN:
        print(f"  ... and {len(found.differences) - MAX_SHOWN:,} more")


MAX_SHOWN = 200
"""Differences ``verify`` prints one by one before it only counts the rest."""


def report_migration(step: int, total: int, description: str) -> None:
    print(f"analytics store migration {step}/{total}: {description}", file=sys.stderr)


COMMANDS: tuple[StorageCommand, ...] = (
    StorageCommand(
        "status",
        "show the store's schema version and pending migrations, changing nothing",
        show_schema_status,
        status_options,
    ),
    StorageCommand(
        "migrate",
        "apply the pending schema migrations now, as upcast serve would",
        migrate,
    ),
    StorageCommand(
        "sync",
        "copy rollups, events and monitors to the analytics store now",
        sync,
        analytics_options,
    ),
    StorageCommand(
        "verify",
        "compare the analytics copy with the store hour by hour, and repair it",
        verify,
        verify_options,
    ),
)
"""The ``upcast storage`` subcommands, in the order ``--help`` lists them."""
