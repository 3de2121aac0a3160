"""The platform on a real two-node Ray cluster that nodes join with a token.

The head and the worker each get a loopback address of their own (127.0.0.2
and 127.0.0.3) and are started with ``ray start``, as on two machines. The
test session already runs a Ray of its own in this process, so the platform
runs in a driver process (this module run with ``python -m``), and the
cluster is stopped by ending the processes found by its temporary folder:
``ray stop`` would stop every Ray on the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import ray
import uvloop

from actors.placement import owner
from actors.runtime import RayPlatform, Settings, alive_nodes, init_ray

HEAD_IP = "127.0.0.2"
WORKER_IP = "127.0.0.3"
ROOT = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).with_name("ray"))

# One CPU and a small object store per node: the monitors need neither, and
# the machine running the tests is shared.
NODE_FLAGS = ["--num-cpus=1", "--object-store-memory=80000000", "--disable-usage-stats"]
MONITORS_PER_SHARD = 2
RESULTS_WITHIN = 30.0


@dataclass
class Cluster:
    folder: Path
    address: str
    environment: dict[str, str]


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def cluster_environment(folder: Path, token: Path) -> dict[str, str]:
    """The environment of every process of the cluster and of its drivers.

    Settings of other Rays (``RAY_ADDRESS``, the session's ``RAY_TMPDIR``)
    are left out. ``RAY_AUTH_MODE=token`` turns token authentication on, and
    ``RAY_AUTH_TOKEN_PATH`` names the token file; the project goes on the
    path so that Ray's workers import this checkout's actors.
    """
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("RAY_")
    }
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    environment.update(
        RAY_AUTH_MODE="token",
        RAY_AUTH_TOKEN_PATH=str(token),
        PYTHONPATH=os.pathsep.join(path),
    )
    return environment


def ray_start(cluster: Cluster, *flags: str) -> None:
    completed = subprocess.run(
        [RAY, "start", *flags, f"--temp-dir={cluster.folder}", *NODE_FLAGS],
        env=cluster.environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def processes_of(folder: Path) -> list[int]:
    """Ids of the processes whose command line or environment names ``folder``.

    Ray's workers rename themselves (``ray::IDLE``), but keep the environment
    they inherited, which names the token file in ``folder``.
    """
    marker = str(folder).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            named = marker in (entry / "cmdline").read_bytes()
            named = named or marker in (entry / "environ").read_bytes()
        except OSError:
            continue
        if named:
            found.append(int(entry.name))
    return found


def stop_processes_of(folder: Path) -> list[int]:
    """End the cluster's processes: SIGTERM, then SIGKILL for any left after 5 s.

    Returns the ids still running after both, which should be none.
    """
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for pid in processes_of(folder):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        deadline = time.monotonic() + 5
        while processes_of(folder) and time.monotonic() < deadline:
            time.sleep(0.1)
    return processes_of(folder)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """A head on 127.0.0.2 and a worker on 127.0.0.3, sharing a new token.

    Ray's socket paths must stay short, hence a folder right under /tmp.
    """
    folder = Path(tempfile.mkdtemp(prefix="rc-", dir="/tmp"))
    token = folder / "auth_token"
    token.write_text(secrets.token_hex(32), encoding="utf-8")
    token.chmod(0o600)
    port = free_port(HEAD_IP)
    running = Cluster(folder, f"{HEAD_IP}:{port}", cluster_environment(folder, token))
    try:
        ray_start(
            running,
            "--head",
            f"--node-ip-address={HEAD_IP}",
            f"--port={port}",
            "--include-dashboard=false",
        )
        ray_start(
            running, f"--address={running.address}", f"--node-ip-address={WORKER_IP}"
        )
        yield running
    finally:
        left = stop_processes_of(folder)
        shutil.rmtree(folder, ignore_errors=True)
    assert left == [], f"cluster processes still running: {left}"


def test_a_driver_with_another_token_is_refused(cluster: Cluster) -> None:
    # RAY_AUTH_TOKEN takes precedence over the token file; the short wait
    # stops Ray from retrying the refused connection for twenty seconds.
    environment = {
        **cluster.environment,
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_gcs_server_port_wait_time_s": "2",
    }

    completed = subprocess.run(
        [sys.executable, "-c", f"import ray; ray.init(address={cluster.address!r})"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode != 0
    assert "InvalidAuthToken" in completed.stderr


def test_shards_spread_over_both_nodes_and_each_runs_its_monitors(
    cluster: Cluster,
) -> None:
    report = cluster.folder / "report.json"

    completed = subprocess.run(
        [sys.executable, "-m", "tests.test_cluster", cluster.address, str(report)],
        env=cluster.environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-5000:]
    found = json.loads(report.read_text(encoding="utf-8"))
    shards = found["shards"]
    node_of_monitor = {m: shards[s]["node"] for m, s in found["owners"].items()}
    assert len(shards) == 2
    assert {shard["node"] for shard in shards.values()} == {HEAD_IP, WORKER_IP}, shards
    assert all(shard["monitors"] == MONITORS_PER_SHARD for shard in shards.values())
    assert all(shard["checks_done"] > 0 for shard in shards.values())
    assert sorted(found["checked"]) == sorted(found["owners"])
    assert {node_of_monitor[m] for m in found["checked"]} == {HEAD_IP, WORKER_IP}


# The driver, run in a process of its own by the test above --------------------


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


def monitors_for(shards: list[str], target: str) -> dict[str, dict[str, Any]]:
    """TCP monitors at ``target``, ``MONITORS_PER_SHARD`` owned by each shard."""
    chosen: dict[str, dict[str, Any]] = {}
    counts = dict.fromkeys(shards, 0)
    number = 0
    while min(counts.values()) < MONITORS_PER_SHARD:
        monitor_id = f"cluster-{number}"
        number += 1
        shard = owner(monitor_id, shards)
        if counts[shard] == MONITORS_PER_SHARD:
            continue
        counts[shard] += 1
        chosen[monitor_id] = {
            "id": monitor_id,
            "name": f"Cluster port {monitor_id}",
            "kind": "tcp",
            "target": target,
            "interval": 1,
            "timeout": 1,
        }
    return chosen


async def stored_results(platform: RayPlatform, monitor_ids: list[str]) -> list[str]:
    """The monitors with a stored result, after waiting up to
    ``RESULTS_WITHIN`` seconds for every one of them to have one."""
    deadline = time.monotonic() + RESULTS_WITHIN
    while True:
        checked = [m for m in monitor_ids if await platform.results(m, limit=1)]
        if len(checked) == len(monitor_ids) or time.monotonic() > deadline:
            return checked
        await asyncio.sleep(0.2)


async def drive(data_dir: Path) -> dict[str, Any]:
    """Run the platform on the cluster and report where its checks ran."""
    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    platform = await RayPlatform.start(Settings(data_dir=data_dir))
    try:
        names = sorted(shard["shard"] for shard in await platform.engine_stats())
        monitors = monitors_for(names, f"127.0.0.1:{port}")
        for definition in monitors.values():
            await platform.create_monitor(definition)
        checked = await stored_results(platform, list(monitors))
        stats = await platform.engine_stats()
    finally:
        await platform.close()
        server.close()
        await server.wait_closed()
    return {
        "shards": {
            shard["shard"]: {
                "node": shard.get("node"),
                "monitors": shard["monitors"],
                "checks_done": shard["checks_done"],
            }
            for shard in stats
        },
        "owners": {monitor_id: owner(monitor_id, names) for monitor_id in monitors},
        "checked": checked,
    }


def wait_for_nodes(count: int, within: float = 60.0) -> None:
    """Wait until ``count`` nodes are alive: a node that ``ray start`` has just
    started can take a moment to register with the head."""
    deadline = time.monotonic() + within
    while len(alive_nodes()) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {count} nodes joined within {within:g}s")
        time.sleep(0.2)


def main(address: str, report: Path) -> None:
    """Join the cluster at ``address`` and write what ``drive`` saw to ``report``."""
    init_ray(address)
    try:
        wait_for_nodes(2)
        found = uvloop.run(drive(report.parent / "data"))
    finally:
        ray.shutdown()
    report.write_text(json.dumps(found), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
