"""``python -m bench NAME``: run one of Upcast's benchmarks."""

from __future__ import annotations

import argparse
import sys
from types import ModuleType

from bench import (
    alerting,
    analytics,
    api,
    dashboard,
    engine,
    platform,
    scale,
    storage,
)

BENCHMARKS: dict[str, ModuleType] = {
    "alerting": alerting,
    "analytics": analytics,
    "api": api,
    "dashboard": dashboard,
    "engine": engine,
    "platform": platform,
    "scale": scale,
    "storage": storage,
}


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Upcast's benchmarks. Each prints a table of figures against "
        "their targets and writes them to JSON.",
    )
    benchmarks = parser.add_subparsers(dest="benchmark", required=True)
    for name, module in BENCHMARKS.items():
        module.add_arguments(
            benchmarks.add_parser(
                name,
                help=module.SUMMARY,
                description=module.__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
        )
    args = parser.parse_args()
    result: int = BENCHMARKS[args.benchmark].run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
