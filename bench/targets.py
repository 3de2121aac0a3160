"""Targets for the benchmarks: nginx when installed, else the built-in server.

Each target runs as its own process so that the engine's CPU time, read from
inside the engine process, counts the engine's work only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop

from bench import report
from bench.processes import tree_cpu_seconds
from bench.report import step

NGINX_CONFIG = """\
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log error;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096 reuseport;
        location / {{ return 200 "ok"; }}
    }}
}}
"""


@dataclass
class Target:
    """A running benchmark target and how to stop it."""

    name: str
    host: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path | None = field(default=None)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def cpu_seconds(self) -> float:
        """CPU time used so far by the target and its worker processes."""
        return tree_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_listening(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:g}s")


def start_builtin() -> Target:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.target_server"],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip():
        process.kill()
        raise RuntimeError("the built-in target server did not start")
    port = int(line)
    wait_until_listening("127.0.0.1", port)
    return Target("built-in uvloop server", "127.0.0.1", port, process)


def start_nginx(binary: str) -> Target:
    root = Path(tempfile.mkdtemp(prefix="upcast-bench-nginx-"))
    port = free_port()
    config = root / "nginx.conf"
    config.write_text(NGINX_CONFIG.format(root=root, port=port), encoding="utf-8")
    process = subprocess.Popen(
        [binary, "-c", str(config), "-p", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening("127.0.0.1", port)
    except RuntimeError:
        process.kill()
        shutil.rmtree(root, ignore_errors=True)
        raise
    return Target("nginx", "127.0.0.1", port, process, root)


def start_target(prefer: str = "auto") -> Target:
    """nginx when asked or when ``auto`` finds it, else the built-in server."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None
    )
    if prefer == "nginx" and nginx is None:
        raise RuntimeError("nginx is not installed")
    if prefer in ("auto", "nginx") and nginx is not None:
        return start_nginx(nginx)
    return start_builtin()


@dataclass
class WrkFigures:
    requests: int
    seconds: float
    cpu_seconds: float

    @property
    def per_cpu_second(self) -> float:
        return self.requests / self.cpu_seconds if self.cpu_seconds else 0.0


def run_wrk(url: str, seconds: float, connections: int = 64) -> WrkFigures | None:
    """wrk with ``Connection: close`` (a fresh connection per request), or None.

    Its CPU time comes from the kernel's accounting of the finished child.
    """
    binary = shutil.which("wrk")
    if binary is None:
        return None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(
        [
            binary,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "-H",
            "Connection: close",
            url,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = re.search(r"(\d+) requests in ([\d.]+)(m?s)", completed.stdout)
    if completed.returncode != 0 or match is None:
        return None
    elapsed = float(match.group(2)) / (1000 if match.group(3) == "ms" else 1)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return WrkFigures(int(match.group(1)), elapsed, cpu)


def measure_against_target(
    prefer: str,
    measure: Callable[[Target], Coroutine[Any, Any, dict[str, Any]]],
) -> tuple[str, dict[str, Any]]:
    """Start a target, run ``measure`` against it on uvloop, always stop it.

    Returns the target's name and the figures measured.
    """
    target = start_target(prefer)
    step(f"target: {target.name} at {target.url}")
    try:
        figures = uvloop.run(measure(target))
    finally:
        target.stop()
    return target.name, figures


def add_target_and_output(parser: argparse.ArgumentParser, name: str) -> None:
    """The options every benchmark has: what its checks hit, where it writes."""
    parser.add_argument(
        "--target",
        choices=["auto", "nginx", "builtin"],
        default="auto",
        help="what the checks hit: nginx when installed (auto), or the built-in "
        "uvloop server",
    )
    report.add_output(parser, name)


def run_benchmark(
    name: str,
    prefer: str,
    measure: Callable[[Target], Coroutine[Any, Any, dict[str, Any]]],
    verdicts: Callable[[dict[str, Any]], list[report.Row]],
    *,
    path: Path,
    settings: dict[str, Any],
    targets: dict[str, float],
) -> int:
    """Measure against a target, print the table of verdicts, write the JSON."""
    target, figures = measure_against_target(prefer, measure)
    report.print_table(verdicts(figures))
    report.write_json(
        path,
        name,
        target=target,
        settings=settings,
        targets=targets,
        figures=figures,
    )
    return 0
