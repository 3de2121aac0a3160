"""The benchmarks run end to end and write their figures (not their speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import pytest

from tests.store_backends import MYSQL_HOST, MYSQL_PORT, POSTGRESQL


def run_benchmark(name: str, output: Path, *options: str) -> dict[str, Any]:
    """Run ``python -m bench NAME`` small; its stdout and the figures it wrote."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench", name, *options, "--json", str(output)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    figures: dict[str, Any] = json.loads(output.read_text(encoding="utf-8"))["figures"]
    return {"stdout": completed.stdout, **figures}


def test_the_engine_benchmark_prints_and_writes_every_figure(tmp_path: Path) -> None:
    figures = run_benchmark(
        "engine",
        tmp_path / "engine.json",
        *("--target", "builtin", "--seconds", "0.5", "--saturating-monitors", "200"),
        *("--fleet", "2000", "--fleet-seconds", "0.5"),
        *("--only", "http", "aiohttp", "tcp", "fleet"),
    )

    assert "http checks / CPU-s (fresh connection)" in figures["stdout"]
    for section in ("http", "aiohttp", "tcp"):
        assert figures[section]["checks"] > 0
        assert figures[section]["checks_per_cpu_second"] > 0
    assert figures["fleet"]["monitors"] == 2000
    # Read from the process's resident size: a fleet too small to need new
    # pages from the kernel would read as nothing.
    assert figures["fleet"]["memory_per_monitor_bytes"] > 0
    assert "lateness_p99_ms" in figures["fleet"]


@pytest.mark.parametrize(
    ("benchmark", "options"),
    [
        ("engine", ("--seconds", "--target", "--fleet", "--only", "--json")),
        ("platform", ("--monitors", "--interval", "--seconds", "--shards", "--json")),
        ("scale", ("--monitors", "--interval", "--kind", "--no-reload", "--json")),
        ("storage", ("--backends", "--results", "--batch", "--rollup-hours", "--json")),
        ("alerting", ("--monitors", "--groups", "--notifications", "--json")),
        ("analytics", ("--runs", "--monitors", "--batches", "--json")),
        ("api", ("--monitors", "--results", "--rate", "--page", "--json")),
        ("dashboard", ("--monitors", "--loads", "--changes", "--json")),
    ],
)
def test_each_benchmark_explains_its_options(
    benchmark: str, options: tuple[str, ...]
) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", benchmark, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    for option in options:
        assert option in completed.stdout


def test_the_platform_benchmark_runs_checks_through_to_a_live_client(
    tmp_path: Path,
) -> None:
    figures = run_benchmark(
        "platform",
        tmp_path / "platform.json",
        *("--target", "builtin", "--monitors", "20"),
        *("--warmup", "2", "--seconds", "2", "--drain", "1"),
    )

    assert "check finished -> client, p99 ms" in figures["stdout"]
    assert figures["monitors"] == 20
    assert figures["end_to_end_checks_per_second"] > 0
    assert figures["stored_per_second"] > 0
    assert figures["delivery_p99_ms"] > 0
    assert figures["cpu_seconds_by_process"]


def test_the_api_benchmark_times_lists_under_load_and_live_results(
    tmp_path: Path,
) -> None:
    figures = run_benchmark(
        "api",
        tmp_path / "api.json",
        *("--monitors", "300", "--results", "100", "--rate", "40"),
        *("--seconds", "2", "--warmup", "1", "--page", "20"),
    )

    assert "GET /monitors, p95 ms" in figures["stdout"]
    assert figures["monitors"] == 300
    assert figures["requests_sent"] == 80
    assert figures["requests_failed"] == 0
    assert figures["list_p95_ms"] > 0
    assert figures["status_p95_ms"] > 0
    assert figures["results_delivered"] > 0


def test_the_dashboard_benchmark_loads_the_overview_in_chromium(
    tmp_path: Path,
) -> None:
    figures = run_benchmark(
        "dashboard",
        tmp_path / "dashboard.json",
        *("--monitors", "50", "--loads", "2", "--changes", "2"),
    )

    assert "usable overview, ms (median)" in figures["stdout"]
    assert figures["monitors"] == 50
    assert len(figures["loads"]) == 2
    assert figures["usable_ms"] >= figures["meaningful_paint_ms"] > 0
    assert (
        figures["script_and_style_bytes_read"] > figures["script_and_style_bytes_sent"]
    )
    assert figures["change_to_screen_p95_ms"] > 0


def test_the_scale_benchmark_loads_runs_and_reloads_a_fleet(tmp_path: Path) -> None:
    figures = run_benchmark(
        "scale",
        tmp_path / "scale.json",
        *("--target", "builtin", "--kind", "tcp", "--monitors", "200"),
        *("--interval", "2", "--warmup", "1", "--seconds", "3"),
    )

    assert "lateness p99, ms" in figures["stdout"]
    assert figures["monitors"] == 200
    assert figures["checks_per_second"] > 0
    assert sum(figures["lateness_counts"]) > 0
    assert figures["memory_per_monitor_bytes"] > 0
    assert figures["platform_cpu_per_check_us"] > 0
    assert figures["reload_seconds"] > 0


async def benchmark_places() -> set[str]:
    """The storage benchmark's schemas in PostgreSQL and databases in MariaDB."""
    connection = await asyncpg.connect(POSTGRESQL)
    try:
        rows = await connection.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'upcast_bench%'"
        )
    finally:
        await connection.close()
    found = {f"postgresql {row['nspname']}" for row in rows}
    server = await aiomysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root")
    try:
        async with server.cursor() as cursor:
            await cursor.execute("SHOW DATABASES LIKE 'upcast\\_bench%'")
            found |= {f"mysql {name}" for (name,) in await cursor.fetchall()}
    finally:
        server.close()
    return found


async def test_the_storage_benchmark_measures_each_backend_and_drops_its_stores(
    tmp_path: Path,
) -> None:
    before = await benchmark_places()

    figures = run_benchmark(
        "storage",
        tmp_path / "storage.json",
        *("--results", "2000", "--monitors", "100", "--batch", "250"),
        *("--rollup-monitors", "50", "--rollup-hours", "2", "--rollup-per-hour", "2"),
        *("--fill-batch", "100", "--query-runs", "1"),
    )

    assert "postgresql write_results / raw COPY, per server CPU-s" in figures["stdout"]
    for backend in ("sqlite", "postgresql", "mysql"):
        found = figures[backend]
        assert found["ingest"]["rows"] == 2000
        assert found["ingest"]["rows_per_client_cpu_second"] > 0
        rollups = found["rollups"]
        assert rollups["results"] == 50 * 2 * 2
        assert rollups["summaries"] == 50
        assert rollups["monitors_counted_otherwise"] == 0
        assert rollups["rollup_summaries"]["median_ms"] > 0
        assert rollups["raw_sql"]["median_ms"] > 0
    assert figures["sqlite"]["ingest"]["server_cpu_seconds"] is None
    for backend in ("postgresql", "mysql"):
        assert figures[backend]["ingest"]["server_cpu_seconds"] is not None
    for way in ("copy", "executemany", "results_only"):
        assert figures["postgresql"][way]["rows"] == 2000
    assert "ingest_share_of_copy" in figures["postgresql"]
    assert await benchmark_places() <= before


def test_the_alerting_benchmark_tells_each_region_once_and_delivers_all(
    tmp_path: Path,
) -> None:
    figures = run_benchmark(
        "alerting",
        tmp_path / "alerting.json",
        *("--monitors", "300", "--groups", "3", "--notifications", "60"),
    )

    assert "notifications per region" in figures["stdout"]
    assert figures["outage"]["notifications_per_region"] == 2
    assert figures["outage"]["largest_notification_members"] == 100
    assert figures["delivery"]["deliveries_lost_or_doubled"] == 0


def test_the_analytics_benchmark_scores_nab_and_its_costs(tmp_path: Path) -> None:
    figures = run_benchmark(
        "analytics",
        tmp_path / "analytics.json",
        *("--runs", "1", "--monitors", "2000", "--batches", "5"),
    )

    assert "NAB standard" in figures["stdout"]
    assert set(figures["nab"]) == {
        "standard",
        "reward_low_FP_rate",
        "reward_low_FN_rate",
    }
    assert 0 < figures["nab"]["standard"]["score"] <= 100
    assert figures["values_per_second"] > 0
    assert figures["rolling"]["us_per_result"] > 0
    assert figures["streaming"]["us_per_result"] > 0
