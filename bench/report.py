"""How every benchmark shows its figures: a table on stdout and a JSON file."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

Row = tuple[str, str, str, str]
"""(figure, value, target, met)."""


def step(text: str) -> None:
    """Say what the benchmark is doing now."""
    print(f"-- {text}", flush=True)


def progress(text: str) -> None:
    """How far a long step has got, on stderr so the table stays clean."""
    print(f"   {text}", file=sys.stderr, flush=True)


def add_output(parser: argparse.ArgumentParser, name: str) -> None:
    """The ``--json`` option of every benchmark: where its figures go."""
    default = Path(f"bench/results/{name}.json")
    parser.add_argument(
        "--json",
        type=Path,
        default=default,
        help=f"where to write the figures (default: {default})",
    )


def row(name: str, value: float | None, goal: str = "", met: bool | None = None) -> Row:
    """One line of the table; ``met`` is None for a figure without a target."""
    if value is None:
        shown = "n/a"
    elif isinstance(value, int) or abs(value) >= 1000:
        shown = f"{value:,.0f}"
    elif abs(value) < 10:
        shown = f"{value:,.2f}"
    else:
        shown = f"{value:,.1f}"
    return (name, shown, goal, "" if met is None else "yes" if met else "NO")


def print_table(rows: list[Row]) -> None:
    header: Row = ("figure", "value", "target", "met")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    print()
    for r in [header, *rows]:
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")


def write_json(
    path: Path,
    benchmark: str,
    *,
    settings: dict[str, Any],
    targets: dict[str, float],
    figures: dict[str, Any],
    **extra: Any,
) -> None:
    """Write one run's figures with the machine and settings they came from."""
    document = {
        "benchmark": benchmark,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        **extra,
        "settings": settings,
        "targets": targets,
        "figures": figures,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten to {path}")
