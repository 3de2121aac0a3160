"""The engine benchmark runs end to end and writes its figures (not its speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_engine_benchmark_prints_and_writes_every_figure(tmp_path: Path) -> None:
    output = tmp_path / "engine.json"

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "engine",
            "--target",
            "builtin",
            "--seconds",
            "0.5",
            "--saturating-monitors",
            "200",
            "--fleet",
            "500",
            "--fleet-seconds",
            "0.5",
            "--only",
            "http",
            "aiohttp",
            "tcp",
            "fleet",
            "--json",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert "http checks / CPU-s (fresh connection)" in completed.stdout
    figures = json.loads(output.read_text(encoding="utf-8"))["figures"]
    for section in ("http", "aiohttp", "tcp"):
        assert figures[section]["checks"] > 0
        assert figures[section]["checks_per_cpu_second"] > 0
    assert figures["fleet"]["monitors"] == 500
    assert figures["fleet"]["memory_per_monitor_bytes"] > 0
    assert "lateness_p99_ms" in figures["fleet"]


def test_the_benchmark_explains_its_options() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "engine", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    for option in ("--seconds", "--target", "--fleet", "--only", "--json"):
        assert option in completed.stdout
