"""The ``upcast`` command: validating files, one-shot runs, running until stopped."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvloop

from engine.result import CheckResult
from sdk import cli
from sdk.cli import main
from sdk.client import Client
from store import open_store
from tests.http_servers import running_servers
from tests.tcp_target import TcpTarget


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A real TCP server on 127.0.0.1 that accepts and closes connections."""
    with TcpTarget() as target:
        yield target.port


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_validate_reports_a_good_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path / "monitors.yaml",
        "- {name: db, kind: tcp, target: '127.0.0.1:5432'}\n"
        "- {name: web, kind: http, target: 'http://127.0.0.1/', enabled: false}\n",
    )

    assert main(["validate", str(path)]) == 0
    assert "2 monitors are valid (1 enabled)" in capsys.readouterr().out


def test_validate_lists_every_problem_with_its_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path / "monitors.yaml",
        "monitors:\n"
        "  - {name: db, kind: tcp, target: 'nowhere', interval: 0}\n"
        "  - {name: web, kind: http, target: 'ftp://x', priority: urgent}\n",
    )

    assert main(["validate", str(path)]) == 2
    errors = capsys.readouterr().err
    assert "4 problem(s)" in errors
    for field in (
        "monitors[0].interval: must be between 1s and 24h, got 0s",
        "monitors[0].target:",
        "monitors[1].target:",
        "monitors[1].priority: must be one of critical, normal, low",
    ):
        assert field in errors


def test_validate_says_when_the_file_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(tmp_path / "absent.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_kinds_lists_every_built_in_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kinds"]) == 0
    listed = capsys.readouterr().out.split()
    built_in = {"http", "https", "tcp", "dns", "icmp", "ping", "push", "composite"}
    assert built_in <= set(listed)


def test_run_once_prints_a_table_and_fails_when_a_monitor_fails(
    tmp_path: Path, listening_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path / "monitors.yaml",
        f"- {{name: open, kind: tcp, target: '127.0.0.1:{listening_port}'}}\n"
        f"- {{name: shut, kind: tcp, target: '127.0.0.1:{closed_port()}'}}\n"
        "- {name: idle, kind: tcp, target: '127.0.0.1:1', enabled: false}\n",
    )

    assert main(["run", "--once", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["MONITOR", "KIND", "RESULT", "LATENCY", "DETAIL"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"open", "shut"}
    assert rows["open"].split()[2] == "ok"
    assert "FAIL" in rows["shut"]
    assert "connect: could not connect" in rows["shut"]


def test_run_once_succeeds_when_every_monitor_passes(
    tmp_path: Path, listening_port: int
) -> None:
    path = write(
        tmp_path / "monitors.yaml",
        f"- {{name: open, kind: tcp, target: '127.0.0.1:{listening_port}'}}\n",
    )

    assert main(["run", "--once", str(path)]) == 0


def test_run_serves_push_pings_and_stops_cleanly_on_interrupt(tmp_path: Path) -> None:
    port = closed_port()
    path = write(
        tmp_path / "monitors.yaml",
        "- {name: backup, kind: push, interval: 1m, options: {grace: 10s}}\n"
        f"- {{name: self, kind: tcp, target: '127.0.0.1:{port}', interval: 1s}}\n",
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sdk.cli",
            "run",
            str(path),
            "--push-listen",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        answer = ping_when_up(f"http://127.0.0.1:{port}/push/backup")
        unknown = ping_when_up(f"http://127.0.0.1:{port}/push/stranger")
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert answer == 200
    assert unknown == 404
    assert process.returncode == 0, err
    assert f"push endpoint: http://127.0.0.1:{port}/push/<token>" in out
    assert "UP       backup" in out
    assert "UP       self" in out
    assert "stopping" in out


def test_run_refuses_a_push_address_already_in_use(
    tmp_path: Path, listening_port: int
) -> None:
    path = write(tmp_path / "monitors.yaml", "- {name: backup, kind: push}\n")

    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "sdk.cli",
            "run",
            str(path),
            "--push-listen",
            f"127.0.0.1:{listening_port}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert completed.returncode == 2
    assert f"cannot listen on 127.0.0.1:{listening_port}" in completed.stderr


def ping_when_up(url: str, wait: float = 15.0) -> int:
    """The status of a GET to ``url``, retried until the server is up."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def serving_url(
    server: subprocess.Popen[str], said: list[str]
) -> tuple[str, threading.Thread]:
    """The address ``upcast serve`` says it serves at, and the thread reading
    the rest of what it prints into ``said`` (so its pipe never fills)."""
    assert server.stdout is not None
    for line in server.stdout:
        said.append(line)
        found = re.search(r"Upcast is running at (http://\S+)", line)
        if found:
            reader = threading.Thread(
                target=lambda: said.extend(server.stdout or ()), daemon=True
            )
            reader.start()
            return found[1], reader
    raise AssertionError(f"upcast serve ended before serving: {''.join(said)}")


def test_serve_runs_the_platform_that_apply_and_status_talk_to(tmp_path: Path) -> None:
    # The gateway picks its port: one chosen here could be taken by Ray first.
    with running_servers() as servers:
        stored = serve_apply_and_status(tmp_path, servers.http)

    assert stored
    assert all(result.ok for result in stored)


def serve_apply_and_status(tmp_path: Path, target: str) -> list[CheckResult]:
    path = write(
        tmp_path / "monitors.yaml",
        f"- {{name: gateway, kind: http, target: '{target}/ok', interval: 1s}}\n",
    )
    data = ["--data-dir", str(tmp_path / "data")]
    owner = run_cli(
        "users",
        "create-owner",
        "ada",
        "--password-stdin",
        "--api-key",
        "laptop",
        *data,
        stdin="quiet-meadow-lantern-81\n",
    )
    [api_key] = [w for w in owner.stdout.split() if w.startswith("upk_")]
    again_owner = run_cli(
        "users", "create-owner", "eve", "--password-stdin", *data, stdin="x" * 20
    )
    keyed = {"UPCAST_API_KEY": api_key}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sdk.cli",
            "serve",
            "--port",
            "0",
            *data,
            "--apply",
            str(path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    said: list[str] = []
    try:
        url, reader = serving_url(server, said)
        assert ping_when_up(f"{url}/healthz", wait=60) == 200
        deadline = time.monotonic() + 30
        while True:
            status = run_cli("status", "--url", url, env=keyed)
            if "UP" in status.stdout or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        again = run_cli("apply", str(path), "--url", url, env=keyed)
        refused = run_cli("status", "--url", url, env={"UPCAST_API_KEY": ""})
        server.send_signal(signal.SIGINT)
        returned = server.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    out = "".join(said)

    assert owner.returncode == 0, owner.stderr
    assert "created the owner ada" in owner.stdout
    assert again_owner.returncode == 1
    assert "an owner exists already" in again_owner.stderr
    assert returned == 0, out
    assert f"Upcast is running at {url}" in out
    assert "created        1  gateway" in out
    assert "-- stopped" in out
    assert status.stdout.splitlines()[1].split()[:2] == ["gateway", "UP"]
    assert "unchanged      1  gateway" in again.stdout
    assert refused.returncode == 1
    assert "UPCAST_API_KEY" in refused.stderr
    return uvloop.run(stored_results(tmp_path / "data" / "upcast.db", "gateway"))


async def stored_results(database: Path, monitor_id: str) -> list[CheckResult]:
    """What the platform left in its store after it stopped."""
    async with open_store(f"sqlite:///{database}") as store:
        return await store.results(monitor_id, limit=1000)


def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sdk.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        input=stdin,
        env={**os.environ, **(env or {})},
    )


def test_a_large_file_is_applied_part_by_part_until_a_bad_definition(
    tmp_path: Path,
    gateway_url: str,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("UPCAST_API_KEY", api_key)
    monkeypatch.setattr(cli, "VALIDATE_FIRST", 5)
    monkeypatch.setattr(cli, "APPLY_PART", 4)
    definitions = [
        {
            "id": f"parted-{number}",
            "name": f"parted {number}",
            "kind": "tcp",
            "target": "127.0.0.1:9",
            "interval": "1h",
        }
        for number in range(12)
    ]
    definitions[9]["interval"] = "0s"
    path = write(tmp_path / "fleet.json", json.dumps({"monitors": definitions}))

    status = main(["apply", str(path), "--url", gateway_url])

    err = capsys.readouterr().err
    with Client(gateway_url) as client:
        present = {
            m["id"] for m in client.list_monitors() if m["id"].startswith("parted")
        }
        for monitor_id in present:
            client.delete_monitor(monitor_id)
    assert status == 2
    assert "stopped at monitors[8]: the 8 monitors before it are applied" in err
    assert "monitors[9].interval: must be between 1s and 24h, got 0s" in err
    assert present == {f"parted-{number}" for number in range(8)}
