"""A real webhook receiver for tests: it keeps every notification posted to it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Inbox:
    """Every notification posted, with its path, headers and raw body."""

    url: str = ""
    posts: list[tuple[str, dict[str, Any], dict[str, str], bytes]] = field(
        default_factory=list
    )

    def at(self, path: str) -> list[dict[str, Any]]:
        return [body for where, body, _, _ in self.posts if where == path]

    def about(self, path: str, monitor_id: str, status: str) -> list[dict[str, Any]]:
        """The notifications posted to ``path`` of this status naming the monitor."""
        found = []
        for body in self.at(path):
            members = [m["id"] for m in body["fields"]["members"]]
            if monitor_id in members and body["status"] == status:
                found.append(body)
        return found

    def keys(self) -> list[str]:
        return [headers["X-Upcast-Key"] for _, _, headers, _ in self.posts]


@contextlib.asynccontextmanager
async def running_inbox() -> AsyncIterator[Inbox]:
    """An inbox listening on 127.0.0.1, any path, until the block ends."""
    box = Inbox()
    app = web.Application()

    async def receive(request: web.Request) -> web.Response:
        raw = await request.read()
        box.posts.append((request.path, json.loads(raw), dict(request.headers), raw))
        return web.Response(status=204)

    app.router.add_post("/{name}", receive)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    box.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield box
    finally:
        await runner.cleanup()
