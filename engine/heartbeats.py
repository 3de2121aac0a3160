"""The book of heartbeats: when each push token last pinged, and what it said.

The push server writes into a book and push checks read from it. Every
method runs to completion without awaiting, so a server and the checks that
share one event loop need no lock; the module's ``default`` book is the one
they share unless told otherwise.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_MESSAGE = 1000
TOKEN = re.compile(r"[A-Za-z0-9._~-]{1,128}")
TOKEN_RULE = "1-128 letters, digits, '.', '_', '~' or '-'"


@dataclass(frozen=True, slots=True)
class Ping:
    """One heartbeat: when it came and what the job reported about itself."""

    at: float
    ok: bool = True
    message: str = ""
    duration_ms: float | None = None


class Heartbeats:
    """The last ping per token and when each token was first watched.

    ``now`` is the clock (unix seconds) used for both, so tests can move
    time without sleeping.
    """

    __slots__ = ("_pings", "_watched", "now")

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.now = now
        self._pings: dict[str, Ping] = {}
        self._watched: dict[str, float] = {}

    def record(
        self,
        token: str,
        *,
        ok: bool = True,
        message: str = "",
        duration_ms: float | None = None,
    ) -> Ping:
        """Keep a ping as the token's latest; long messages are cut short."""
        ping = Ping(self.now(), ok, message[:MAX_MESSAGE], duration_ms)
        self._pings[token] = ping
        return ping

    def last(self, token: str) -> Ping | None:
        """The latest ping for ``token``, if any has arrived."""
        return self._pings.get(token)

    def watch(self, token: str) -> float:
        """When ``token`` was first watched, starting the watch now if it is new.

        A monitor that has never been pinged counts its first window from
        this moment, and keeps counting from it across reloads.
        """
        return self._watched.setdefault(token, self.now())

    def forget(self, token: str) -> None:
        """Drop everything known about ``token`` (its monitor was removed)."""
        self._pings.pop(token, None)
        self._watched.pop(token, None)

    def __contains__(self, token: object) -> bool:
        return token in self._pings

    def __len__(self) -> int:
        return len(self._pings)


def valid_token(token: str) -> bool:
    """Whether ``token`` may appear in a push URL as it is."""
    return TOKEN.fullmatch(token) is not None


default = Heartbeats()
