"""What the HTTP channels share: one POST per attempt, judged the same way.

``HttpChannel`` owns the connection pool, the timeout and the reading of an
answer into a ``Delivery``; a channel module only says what to post where.
The rest are small pieces of wording (a test's title, a severity's rank)
that several services need alike.
"""

from __future__ import annotations

import json
import logging
from abc import abstractmethod
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from time import perf_counter
from typing import Any, ClassVar, Final, Self
from urllib.parse import urlsplit

import aiohttp

from engine.durations import format_duration
from notify.channels._config import TEMPLATE_FIELDS, ConfigReader
from notify.channels.base import Channel, log_delivery
from notify.message import FIRING, RESOLVED, TEST, Delivery, Notification

logger = logging.getLogger(__name__)

USER_AGENT: Final = "Upcast"

RESPONSE_CHARS: Final = 500
"""How much of an answer a delivery keeps for the delivery log."""

_RESPONSE_BYTES: Final = RESPONSE_CHARS * 4
"""Enough bytes for ``RESPONSE_CHARS`` characters of UTF-8, however wide."""

CONNECTIONS_PER_CHANNEL: Final = 8
"""Open connections one channel may hold to its receiver.

A burst of alerts then shares a few connections instead of opening one per
alert, which is what chat services count against their rate limits.
"""

_REDACTED: Final = "[redacted]"

_STATUS_WORDS: Final = {FIRING: "Firing", RESOLVED: "Resolved", TEST: "Test"}

_SEVERITY_RANKS: Final = {
    "critical": 1,
    "fatal": 1,
    "emergency": 1,
    "high": 2,
    "error": 2,
    "major": 2,
    "warning": 3,
    "warn": 3,
    "medium": 3,
    "moderate": 3,
    "minor": 3,
    "low": 4,
    "info": 5,
    "informational": 5,
    "notice": 5,
    "debug": 5,
}


class HttpChannel(Channel):
    """A channel whose every attempt is an HTTP POST to its receiver.

    The ``aiohttp.ClientSession`` is made on the first send, inside the
    running loop, and kept until ``close`` so that sends reuse connections.
    Every ``detail`` and ``response`` is scrubbed of the channel's secrets
    before it leaves, since a receiver may echo what it was sent (a token in
    a URL path, a key in a header) and deliveries are stored and shown.
    """

    def __init__(self, *, where: str, timeout: float, secrets: Iterable[str]) -> None:
        self._where = where
        self._timeout = timeout
        # Longest first, so a secret holding another is replaced whole.
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        self._session: aiohttp.ClientSession | None = None

    @property
    def where(self) -> str:
        """Where the channel delivers, as logs and ``repr`` may show it."""
        return self._where

    @property
    def timeout(self) -> float:
        return self._timeout

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} to {self._where}>"

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def explain(self, status: int, text: str) -> str | None:
        """The receiver's own words for a refusal, from the start of its answer."""
        return None

    def accepted(self, status: int, text: str) -> Delivery:
        """The delivery for a 2xx answer; a service that can refuse in a 2xx says so."""
        return Delivery.sent(status, text)

    async def post_json(
        self, url: str, body: Any, headers: Mapping[str, str] | None = None
    ) -> Delivery:
        return await self.post(url, encode_json(body), headers)

    async def post(
        self, url: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> Delivery:
        """POST ``data`` as JSON to ``url`` once, and say how it went."""
        started = perf_counter()
        sent_headers = {"Content-Type": "application/json"}
        sent_headers.update(headers or {})
        delivery = self._scrubbed(await self._attempt(url, data, sent_headers))
        log_delivery(logger, self.kind, self._where, delivery, started)
        return delivery

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # trust_env: HTTP_PROXY, HTTPS_PROXY and NO_PROXY are obeyed, as
            # servers that reach the internet only through a proxy need.
            self._session = aiohttp.ClientSession(
                headers={"User-Agent": USER_AGENT},
                connector=aiohttp.TCPConnector(limit=CONNECTIONS_PER_CHANNEL),
                trust_env=True,
            )
        return self._session

    async def _attempt(
        self, url: str, data: bytes, headers: Mapping[str, str]
    ) -> Delivery:
        """One request, with every transport failure turned into words.

        Redirects are not followed: a POST that is sent on elsewhere would
        carry its credentials to a place nobody configured.
        """
        try:
            async with self._client().post(
                url,
                data=data,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                status = response.status
                text = await _read_start(response)
        except TimeoutError:
            return Delivery.failed(
                f"timeout after {format_duration(self._timeout)}", retryable=True
            )
        except aiohttp.ClientConnectorDNSError:
            return Delivery.failed("dns: could not resolve the host", retryable=True)
        except aiohttp.ClientConnectorCertificateError as exc:
            reason = getattr(exc.certificate_error, "verify_message", "") or "invalid"
            return Delivery.failed(f"tls: certificate {reason}", retryable=True)
        except aiohttp.ClientSSLError as exc:
            reason = getattr(exc.os_error, "reason", None) or "handshake failed"
            return Delivery.failed(f"tls: {str(reason).lower()}", retryable=True)
        except aiohttp.ClientConnectorError as exc:
            return Delivery.failed(
                f"connect: {_os_reason(exc.os_error)}", retryable=True
            )
        except aiohttp.ServerDisconnectedError:
            return Delivery.failed(
                "connect: the server closed the connection", retryable=True
            )
        except aiohttp.ClientOSError as exc:
            return Delivery.failed(f"connect: {_os_reason(exc)}", retryable=True)
        except aiohttp.InvalidURL:
            return Delivery.failed("request: the URL is not valid", retryable=False)
        except aiohttp.ClientError as exc:
            return Delivery.failed(f"connect: {type(exc).__name__}", retryable=True)
        except ValueError:
            # aiohttp refuses a header value holding a line break, which only
            # the notification itself can bring (its key); sending it again
            # would be refused the same way.
            return Delivery.failed(
                "request: a header value is not valid", retryable=False
            )
        return self._judge(status, text)

    def _judge(self, status: int, text: str) -> Delivery:
        """Sent on a 2xx; worth retrying on a 429 or 5xx; refused for good otherwise."""
        if 200 <= status < 300:
            return self.accepted(status, text)
        detail = f"status {status}"
        explanation = self.explain(status, text)
        if explanation:
            detail = f"{detail}: {explanation}"
        elif 300 <= status < 400:
            detail = f"{detail}: redirects are not followed"
        retryable = status == 429 or status >= 500
        return Delivery.failed(
            detail, retryable=retryable, status=status, response=text
        )

    def _scrubbed(self, delivery: Delivery) -> Delivery:
        detail = self.scrub(delivery.detail)
        response = self.scrub(delivery.response)
        if detail == delivery.detail and response == delivery.response:
            return delivery
        return Delivery(
            delivery.ok, delivery.retryable, delivery.status, detail, response
        )

    def scrub(self, text: str) -> str:
        """``text`` with every secret of the channel replaced."""
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text


async def _read_start(response: aiohttp.ClientResponse) -> str:
    """The first ``RESPONSE_CHARS`` characters of the body, leaving the rest unread."""
    start = bytearray()
    try:
        while len(start) < _RESPONSE_BYTES:
            chunk = await response.content.read(_RESPONSE_BYTES - len(start))
            if not chunk:
                break
            start += chunk
    except aiohttp.ClientPayloadError:
        # The status already says how the delivery went; the body is a bonus.
        pass
    try:
        text = start.decode(response.charset or "utf-8", "replace")
    except LookupError:
        text = start.decode("utf-8", "replace")
    return text[:RESPONSE_CHARS]


def _os_reason(error: OSError) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    reason = error.strerror or str(error) or type(error).__name__
    return reason[:1].lower() + reason[1:]


def encode_json(body: Any) -> bytes:
    """``body`` as compact UTF-8 JSON; values JSON lacks are written as text."""
    return json.dumps(
        body, ensure_ascii=False, separators=(",", ":"), default=_plain
    ).encode("utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what may be shown of a URL with a token."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def url_secrets(url: str) -> tuple[str, ...]:
    """The parts of a webhook URL that hold its token: all of it, path and query."""
    parts = urlsplit(url)
    pieces = [url]
    if len(parts.path) > 1:
        pieces.append(parts.path)
    if parts.query:
        pieces.append(parts.query)
    return tuple(pieces)


def headline(notification: Notification) -> str:
    """The title, marked when the notification is only a test."""
    if notification.status == TEST:
        return f"Test: {notification.title}"
    return notification.title


def status_word(notification: Notification) -> str:
    return _STATUS_WORDS.get(notification.status, notification.status)


def severity_rank(severity: str) -> int:
    """Where ``severity`` sits from 1 (critical) to 5 (informational).

    Services name their levels differently; this one scale maps onto each.
    A severity nobody recognises counts as critical, the notification's
    default: an alert made louder than meant is better than one missed.
    """
    return _SEVERITY_RANKS.get(severity.strip().lower(), 1)


def iso_time(at: float) -> str:
    """``at`` (Unix seconds) as ISO 8601 in UTC, the form these services read."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marked when it was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "\u2026"


def json_object(text: str) -> dict[str, Any] | None:
    """An answer that is a JSON object, or None for anything else."""
    try:
        answer = json.loads(text)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def json_words(text: str, *keys: str) -> str | None:
    """The first of ``keys`` that holds text in a JSON object answer, or None."""
    answer = json_object(text)
    if answer is None:
        return None
    for key in keys:
        value = answer.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def short_line(text: str, limit: int = 120) -> str | None:
    """A plain answer of one short line (Slack's ``invalid_token``), or None."""
    line = text.strip()
    if not line or "\n" in line or len(line) > limit or line.startswith(("<", "{")):
        return None
    return line


class ChatWebhookChannel(HttpChannel):
    """A channel whose whole configuration is a webhook URL that is its token.

    Slack, Discord and Teams take a JSON message posted to a URL that
    carries its own credential; a subclass says how a notification reads
    there (``message``) and how the service explains a refusal.
    """

    secret_fields = ("url",)
    fields: ClassVar[tuple[str, ...]] = ("url", "timeout", *TEMPLATE_FIELDS)

    def __init__(self, url: str, *, timeout: float) -> None:
        super().__init__(where=origin(url), timeout=timeout, secrets=url_secrets(url))
        self._url = url

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        read = ConfigReader(config, cls.kind, cls.fields, cls.secret_fields)
        url = read.url("url")
        timeout = read.timeout()
        templates = read.templates()
        read.done()
        channel = cls(url, timeout=timeout)
        channel._templates = templates
        return channel

    async def send(self, notification: Notification) -> Delivery:
        return await self.post_json(self._url, self.message(notification))

    @abstractmethod
    def message(self, notification: Notification) -> dict[str, Any]:
        """The JSON body the service takes for ``notification``."""
