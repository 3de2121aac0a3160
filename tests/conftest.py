"""Test session set-up.

Every async test runs on uvloop, as the engine does. Ray starts once for the
whole session, and so does one platform (its actors and a SQLite store in a
temporary data directory); tests share it and use monitor ids of their own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvloop

from actors.platform import Platform
from actors.runtime import RayPlatform, Settings, init_ray
from tests.gateway_monitors import WAIT
from web.accounts import Accounts
from web.app import create_app
from web.protection import ProtectionSettings
from web.server import GatewayThread


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """Undo the logging set-up of a command a test runs in this process.

    ``upcast`` commands log to the stderr they start with, which under
    pytest is the test's capture; it is closed when the test ends, while
    the session's gateway thread still logs.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


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


GATEWAY_NAME = "upcast-test"
OWNER = "test-owner"
OWNER_PASSWORD = "vivid-orbit-lantern-42"


@dataclass(frozen=True, slots=True)
class SessionGateway:
    url: str
    platform: RayPlatform
    api_key: str
    """An API key of the owner, with every scope."""


@pytest.fixture(scope="session")
def _gateway(platform: RayPlatform) -> Iterator[SessionGateway]:
    """The web gateway on a free port, in a thread of its own, for the session,
    with an owner account and an API key of every scope."""
    accounts = Accounts(platform.account_backend())
    _, api_key = uvloop.run(
        accounts.create_owner(OWNER, OWNER_PASSWORD, key_name="tests")
    )
    assert api_key is not None
    # The tests call far more often than any person would: no rate limits.
    unlimited = ProtectionSettings(limits={})
    app = create_app(platform, name=GATEWAY_NAME, protection=unlimited)
    with GatewayThread(app) as running:
        yield SessionGateway(running.url, platform, api_key)


@pytest.fixture
def gateway_url(_gateway: SessionGateway) -> str:
    return _gateway.url


@pytest.fixture
def api_key(_gateway: SessionGateway) -> str:
    """The owner's API key, with every scope."""
    return _gateway.api_key


@pytest.fixture
def auth(_gateway: SessionGateway) -> dict[str, str]:
    """Headers that authenticate as the owner."""
    return {"Authorization": f"Bearer {_gateway.api_key}"}


@pytest.fixture
async def http(
    gateway_url: str, auth: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the session's gateway, signed in as its owner."""
    async with httpx.AsyncClient(
        base_url=gateway_url, timeout=WAIT, headers=auth
    ) as client:
        yield client


@pytest.fixture
async def made(http: httpx.AsyncClient) -> AsyncIterator[list[str]]:
    """Ids of monitors a test made; each is deleted when the test ends."""
    ids: list[str] = []
    yield ids
    for monitor_id in ids:
        await http.delete(f"/api/v1/monitors/{monitor_id}")


@pytest.fixture
def platform_handle(_gateway: SessionGateway) -> Platform:
    return _gateway.platform
