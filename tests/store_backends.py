"""A fresh, empty store on each backend the storage tests run against.

SQLite gets a file in the test's temporary folder. The server backends get a
namespace of their own on the real local server, dropped afterwards, so
tests never see each other's rows.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

BACKENDS = ["sqlite"]
"""The backends every storage contract test runs on."""

IsolatedUrl = Callable[[Path], contextlib.AbstractAsyncContextManager[str]]


@contextlib.asynccontextmanager
async def sqlite_url(tmp_path: Path) -> AsyncIterator[str]:
    yield f"sqlite://{tmp_path / 'data' / 'upcast.db'}"


ISOLATED_URLS: dict[str, IsolatedUrl] = {"sqlite": sqlite_url}
"""For each backend, how to make the URL of an empty store and remove it after."""
