"""``python -m bench NAME``: run one of Upcast's benchmarks."""

from __future__ import annotations

import argparse
import sys

from bench import engine


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Upcast's benchmarks. Each prints a table of figures against "
        "their targets and writes them to JSON.",
    )
    benchmarks = parser.add_subparsers(dest="benchmark", required=True)
    engine.add_arguments(
        benchmarks.add_parser(
            "engine",
            help="checks per CPU-second, scheduler lateness, memory per monitor",
            description=engine.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    args = parser.parse_args()
    if args.benchmark == "engine":
        return engine.run(args)
    parser.error(f"unknown benchmark {args.benchmark!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
