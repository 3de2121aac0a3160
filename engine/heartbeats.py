"""The book of heartbeats: when each push token last pinged, and what it said.

The push server writes into a book and push checks read from it. Every
method runs to completion without awaiting, so a server and the checks that
share one event loop need no lock; the module's ``default`` book is the one
they share unless told otherwise.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MAX_MESSAGE = 1000
_SUCCESS = frozenset({"ok", "up", "success"})
_FAILURE = frozenset({"fail", "down", "error", "failure"})
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


class BadPing(ValueError):
    """A ping whose parameters cannot be understood; answered with 400."""


def read_ping(
    path_status: str | None, query: Mapping[str, str], body: str = ""
) -> tuple[bool, str, float | None]:
    """Success, message and job duration from what a ping carried.

    ``path_status`` is the optional last path part (``/push/<token>/fail``);
    ``query`` may hold ``status``, ``msg`` and ``ms``; a POST body is the
    message when ``msg`` is absent. Whatever cannot be understood raises
    ``BadPing`` naming the parameter.
    """
    ok = True
    for status in (path_status, query.get("status")):
        if status is None:
            continue
        if status.lower() in _FAILURE:
            ok = False
        elif status.lower() not in _SUCCESS:
            raise BadPing(f"status must be up or down, got {status!r}")

    message = query.get("msg", "") or body.strip()

    duration_ms: float | None = None
    if "ms" in query:
        try:
            duration_ms = float(query["ms"])
        except ValueError:
            duration_ms = math.nan
        if not math.isfinite(duration_ms) or duration_ms < 0:
            raise BadPing(f"ms must be a number of milliseconds, got {query['ms']!r}")
    return ok, message[:MAX_MESSAGE], duration_ms
