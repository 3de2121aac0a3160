"""Targets for the benchmarks: nginx when installed, else the built-in server.

Each target runs as its own process so that the engine's CPU time, read from
inside the engine process, counts the engine's work only.
"""

from __future__ import annotations

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
from dataclasses import dataclass, field
from pathlib import Path

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
        return sum(_process_cpu(pid) for pid in _with_children(self.process.pid))

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


def _with_children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii")
    except OSError:
        return [pid]
    return [pid, *(int(child) for child in text.split())]


def _process_cpu(pid: int) -> float:
    """User plus system seconds of one live process, from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return 0.0
    # Fields after the command name, which is in parentheses and may hold spaces.
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


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
