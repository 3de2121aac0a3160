"""The analytics benchmark: anomaly detection scored on NAB, and its costs.

1. NAB: ``analytics.anomaly.anomaly_scores`` with its one default
   configuration on each of the 35 labelled series in ``bench/data/nab``
   and their timestamps (and once more without them),
   scored for the standard, low-false-positive and low-false-negative
   profiles (``bench.nab``). The published detectors' outputs scored on
   exactly these series are printed beside it for comparison.
2. Batch speed: the same series scored ``--runs`` times; values per second
   of wall time, the best run.
3. Cost in the shard: ``analytics.rolling.RollingStats.update`` on random
   batches (``bench.rolling``), and ``analytics.streaming.StreamingScores``
   on the same kind of batches: CPU microseconds per result, and bytes per
   monitor.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from analytics.anomaly import DEFAULT, anomaly_scores
from analytics.streaming import StreamingScores
from bench import report
from bench.nab import PROFILES, load_corpus, score_corpus
from bench.report import step
from bench.rolling import measure_update_cost

SUMMARY = "anomaly detection scored on NAB, values per second, cost per result"

TARGETS = {
    "nab_standard": 65.0,
    "values_per_second": 1_000_000.0,
    "rolling_us_per_result": 5.0,
    "streaming_us_per_result": 5.0,
}

PUBLISHED = {
    "windowed Gaussian": 22.0,
    "Twitter ADVec": 36.2,
    "earthgecko Skyline": 47.5,
    "Random Cut Forest": 49.5,
    "CAD OSE": 62.2,
    "Numenta HTM": 66.6,
    "ARTime": 67.9,
}
"""Standard-profile scores of published detectors' outputs on these series."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runs", type=int, default=3, help="timed passes over the corpus (default: 3)"
    )
    parser.add_argument(
        "--monitors",
        type=int,
        default=100_000,
        help="monitors of the rolling-statistics cost run (default: 100,000)",
    )
    parser.add_argument(
        "--batches",
        type=int,
        default=200,
        help="batches of 500 results in the cost run (default: 200)",
    )
    report.add_output(parser, "analytics")


def measure(args: argparse.Namespace) -> dict[str, Any]:
    step("NAB: scoring 35 labelled series")
    corpus = load_corpus()
    outputs = [
        anomaly_scores(series.values, seconds=series.seconds) for series in corpus
    ]
    # Without timestamps the time-of-day view is left out.
    untimed = score_corpus(
        corpus, [anomaly_scores(series.values) for series in corpus], PROFILES[0]
    )
    profiles = {}
    for profile in PROFILES:
        result = score_corpus(corpus, outputs, profile)
        profiles[profile.name] = {
            "score": result.score,
            "threshold": result.threshold,
            "windows_detected": result.detected,
            "windows": result.windows,
            "false_positives": result.false_positives,
        }

    step(f"batch speed: {args.runs} passes")
    values = sum(len(series.values) for series in corpus)
    best = float("inf")
    for _ in range(args.runs):
        began = time.perf_counter()
        for series in corpus:
            anomaly_scores(series.values, seconds=series.seconds)
        best = min(best, time.perf_counter() - began)

    step(f"rolling statistics: {args.monitors:,} monitors")
    rolling = measure_update_cost(monitors=args.monitors, batches=args.batches)
    streaming = streaming_cost(args.monitors, args.batches)
    return {
        "streaming": streaming,
        "nab": profiles,
        "nab_standard_without_timestamps": {
            "score": untimed.score,
            "windows_detected": untimed.detected,
            "false_positives": untimed.false_positives,
        },
        "published_standard": PUBLISHED,
        "values": values,
        "values_per_second": values / best,
        "rolling": rolling,
    }


def streaming_cost(monitors: int, batches: int, size: int = 500) -> dict[str, float]:
    """CPU microseconds per result of the shard's streaming anomaly scores."""
    rng = np.random.default_rng(1)
    scores = StreamingScores(monitors)
    work = [
        (
            rng.integers(0, monitors, size).astype(np.int64),
            rng.lognormal(4.0, 0.5, size),
        )
        for _ in range(batches)
    ]
    began = time.process_time()
    for slots, latencies in work:
        scores.update(slots, latencies)
    seconds = time.process_time() - began
    return {
        "us_per_result": seconds / (batches * size) * 1e6,
        "bytes_per_monitor": StreamingScores.BYTES_PER_SLOT,
    }


def verdicts(figures: dict[str, Any]) -> list[report.Row]:
    nab = figures["nab"]
    standard = nab["standard"]["score"]
    speed = figures["values_per_second"]
    cost = figures["rolling"]["us_per_result"]
    rows = [
        report.row(
            "NAB standard", standard, ">= 65", standard >= TARGETS["nab_standard"]
        ),
        report.row("NAB reward_low_FP_rate", nab["reward_low_FP_rate"]["score"]),
        report.row("NAB reward_low_FN_rate", nab["reward_low_FN_rate"]["score"]),
        report.row("windows detected (standard)", nab["standard"]["windows_detected"]),
        report.row("false positives (standard)", nab["standard"]["false_positives"]),
        report.row(
            "NAB standard, values without timestamps",
            figures["nab_standard_without_timestamps"]["score"],
        ),
        report.row(
            "values scored per second",
            speed,
            ">= 1,000,000",
            speed >= TARGETS["values_per_second"],
        ),
        report.row(
            "rolling statistics µs per result",
            cost,
            "< 5",
            cost < TARGETS["rolling_us_per_result"],
        ),
        report.row(
            "rolling statistics bytes per monitor",
            figures["rolling"]["bytes_per_monitor"],
        ),
        report.row(
            "streaming anomaly score µs per result",
            figures["streaming"]["us_per_result"],
            "< 5",
            figures["streaming"]["us_per_result"] < TARGETS["streaming_us_per_result"],
        ),
    ]
    rows.extend(
        report.row(f"  published: {name}", score)
        for name, score in figures["published_standard"].items()
    )
    return rows


def run(args: argparse.Namespace) -> int:
    figures = measure(args)
    report.print_table(verdicts(figures))
    report.write_json(
        args.json,
        "analytics",
        settings={
            "runs": args.runs,
            "monitors": args.monitors,
            "batches": args.batches,
            "detector": {
                name: getattr(DEFAULT, name) for name in DEFAULT.__dataclass_fields__
            },
        },
        targets=TARGETS,
        figures=figures,
    )
    return 0
