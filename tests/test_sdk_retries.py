"""When the clients send a request again, and when they must not.

A request refused for its rate was not carried out, so it goes again after
``Retry-After``, whatever its method; this is seen on a second gateway of
the session's platform with a budget of two requests a second. A request
whose answer was lost, or that met a gateway not ready, goes again only
when sending it twice does no harm; this is seen on a small server of the
test's own that drops every connection, or answers every request with 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from actors.runtime import RayPlatform
from sdk import AsyncClient, Client, ConnectionFailed, RateLimited, ServerError
from tests.gateway_monitors import WAIT, definition, new_id
from web.app import create_app
from web.protection import DEFAULT_LIMITS, Limit, ProtectionSettings
from web.server import GatewayThread

TIGHT = Limit(rate=2, per=1, burst=2)


@pytest.fixture(scope="module")
def limited_url(platform: RayPlatform) -> Iterator[str]:
    """A gateway of the session's platform allowing two API requests a second."""
    protection = ProtectionSettings(limits={**DEFAULT_LIMITS, "api": TIGHT})
    app = create_app(platform, name=new_id("upcast-limited"), protection=protection)
    with GatewayThread(app) as running:
        yield running.url


def test_a_burst_beyond_the_rate_limit_succeeds_after_waiting(
    limited_url: str, api_key: str
) -> None:
    started = time.monotonic()
    with Client(limited_url, api_key=api_key, timeout=WAIT) as client:
        answers = [client.list_monitors(limit=1) for _ in range(6)]
    took = time.monotonic() - started

    assert len(answers) == 6
    # Two go at once, the other four wait for the budget to refill.
    assert took >= 1.0


async def test_a_client_that_may_not_retry_raises_rate_limited(
    limited_url: str, api_key: str
) -> None:
    async with AsyncClient(limited_url, api_key=api_key, retries=0) as client:
        outcomes = await asyncio.gather(
            *(client.list_monitors(limit=1) for _ in range(6)),
            return_exceptions=True,
        )

    refused = [o for o in outcomes if isinstance(o, RateLimited)]
    assert refused
    assert all(error.status == 429 and error.retryable for error in refused)
    assert all(error.retry_after >= 1 for error in refused)


class FailingServer:
    """An HTTP server on a free port that fails every request it reads.

    ``behaviour`` is ``drop`` (close the connection without answering) or
    ``unavailable`` (answer 503 in the gateway's error shape). ``requests``
    lists the request line of each request read.
    """

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.requests: list[str] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FailingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._thread.join(WAIT)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with connection:
                self._fail(connection)

    def _fail(self, connection: socket.socket) -> None:
        connection.settimeout(WAIT)
        head = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in head:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                head += chunk
        self.requests.append(head.split(b"\r\n", 1)[0].decode())
        if self.behaviour == "unavailable":
            body = b'{"error": {"status": 503, "message": "not ready", "fields": []}}'
            connection.sendall(
                b"HTTP/1.1 503 Service Unavailable\r\n"
                b"Content-Type: application/json\r\n"
                b"Connection: close\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )


Request = Callable[[Client], Any]

RETRIES = 2


@pytest.mark.parametrize(
    ("behaviour", "request_", "error", "sent"),
    [
        pytest.param(
            "drop",
            lambda client: client.get_monitor("lost"),
            ConnectionFailed,
            RETRIES + 1,
            id="a GET whose answer was lost goes again",
        ),
        pytest.param(
            "drop",
            lambda client: client.delete_monitor("lost"),
            ConnectionFailed,
            RETRIES + 1,
            id="a DELETE whose answer was lost goes again",
        ),
        pytest.param(
            "drop",
            lambda client: client.create_monitor(definition("http://x", "lost")),
            ConnectionFailed,
            1,
            id="a POST whose answer was lost is not sent twice",
        ),
        pytest.param(
            "drop",
            lambda client: client.bulk_pause(["lost"]),
            ConnectionFailed,
            1,
            id="a bulk change whose answer was lost is not sent twice",
        ),
        pytest.param(
            "unavailable",
            lambda client: client.status(),
            ServerError,
            RETRIES + 1,
            id="a GET that met a gateway not ready goes again",
        ),
        pytest.param(
            "unavailable",
            lambda client: client.pause("lost"),
            ServerError,
            1,
            id="a POST that met a gateway not ready is not sent twice",
        ),
    ],
)
def test_a_failed_request_goes_again_only_if_sending_it_twice_does_no_harm(
    behaviour: str, request_: Request, error: type[Exception], sent: int
) -> None:
    with (
        FailingServer(behaviour) as server,
        Client(server.url, api_key="upk_test", retries=RETRIES, timeout=WAIT) as client,
        pytest.raises(error) as caught,
    ):
        request_(client)

    assert len(server.requests) == sent
    assert len(set(server.requests)) == 1
    assert getattr(caught.value, "retryable", False)
