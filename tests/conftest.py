"""Test session set-up.

Every async test runs on uvloop, as the engine does. Ray starts once for the
whole session, and so does one platform (its actors and a SQLite store in a
temporary data directory); tests share it and use monitor ids of their own.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
import uvloop

from actors.platform import Platform
from actors.runtime import RayPlatform, Settings, init_ray
from web.app import create_app
from web.server import GatewayThread


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(scope="session", autouse=True)
def ray_files() -> Iterator[None]:
    """Keep the files of every Ray the tests start (here or in a command they
    run) in one folder, removed at the end of the session."""
    folder = tempfile.mkdtemp(prefix="upcast-ray-")
    before = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = folder
    yield
    if before is None:
        del os.environ["RAY_TMPDIR"]
    else:
        os.environ["RAY_TMPDIR"] = before
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def ray_session(ray_files: None) -> Iterator[None]:
    import ray

    started = init_ray()
    yield
    if started:
        ray.shutdown()


@pytest.fixture(scope="session")
def platform(
    ray_session: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RayPlatform]:
    """A running platform shared by the session's tests."""
    data_dir: Path = tmp_path_factory.mktemp("platform")
    running = uvloop.run(RayPlatform.start(Settings(data_dir=data_dir)))
    yield running
    uvloop.run(running.close())


@pytest.fixture(scope="session")
def _gateway(platform: RayPlatform) -> Iterator[tuple[str, RayPlatform]]:
    """The web gateway on a free port, in a thread of its own, for the session."""
    with GatewayThread(create_app(platform, name="upcast-test")) as running:
        yield running.url, platform


@pytest.fixture
def gateway_url(_gateway: tuple[str, RayPlatform]) -> str:
    return _gateway[0]


@pytest.fixture
def platform_handle(_gateway: tuple[str, RayPlatform]) -> Platform:
    return _gateway[1]
