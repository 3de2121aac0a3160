"""The ``webhook`` channel: each notification posted as JSON to a URL of the user's.

When the channel has a ``secret``, every request is signed so the receiver
can tell it came from Upcast and was not replayed: ``X-Upcast-Timestamp``
holds the Unix time of sending in whole seconds, and ``X-Upcast-Signature``
holds ``sha256=`` and the hex HMAC-SHA256, keyed with the secret, of the
timestamp, a dot and the raw body. ``verify_signature`` is that check, for
receivers written in Python. ``X-Upcast-Key`` carries the notification's
key, so a receiver can drop a repeat of something it already handled.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from typing import Any, Final, Self

from notify.channels import register
from notify.channels._config import HEADER_NAME, TEMPLATE_FIELDS, ConfigReader
from notify.channels._http import HttpChannel, encode_json, origin
from notify.message import Delivery, Notification

FIELDS: Final = ("url", "headers", "secret", "payload", "timeout", *TEMPLATE_FIELDS)

PAYLOADS: Final = ("default",)
"""The body formats a webhook can send.

Only the default body is sent for now; a receiver that needs another shape
has to translate it, until custom payloads rendered from templates arrive.
"""

SIGNATURE_TOLERANCE: Final = 300
"""Seconds a signed request stays acceptable, allowing for clocks that differ."""

# Headers the channel writes itself; the user's value would break the
# request or the signature a receiver checks.
_REFUSED_HEADERS: Final = frozenset(
    {
        "connection",
        "content-length",
        "content-type",
        "host",
        "transfer-encoding",
        "user-agent",
        "x-upcast-key",
        "x-upcast-signature",
        "x-upcast-timestamp",
    }
)

_SCRUBBED_HEADER_LENGTH: Final = 8
"""Header values at least this long are kept out of deliveries, as tokens may be.

Shorter ones cannot be much of a secret, and taking every ``1`` or ``json``
out of a receiver's answer would only garble it.
"""

_TIMESTAMP: Final = re.compile(r"[0-9]{1,12}")


@register
class WebhookChannel(HttpChannel):
    """POST the notification as JSON, with its key and, given a secret, a signature.

    ``headers`` is secret as a whole since it usually carries a token
    (``Authorization``); a token in the URL's query is shown with the URL,
    so it belongs in a header instead.
    """

    kind = "webhook"
    secret_fields = ("secret", "headers")

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        secret: str | None = None,
        timeout: float,
    ) -> None:
        extra = dict(headers or {})
        # A value and each word of it, so ``Bearer <token>`` hides the bare token.
        pieces = [p for v in extra.values() for p in (v, *v.split())]
        scrubbed = [p for p in pieces if len(p) >= _SCRUBBED_HEADER_LENGTH]
        super().__init__(
            where=origin(url),
            timeout=timeout,
            secrets=[*scrubbed, *([secret] if secret else [])],
        )
        self._url = url
        self._headers = extra
        self._secret = secret

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        read = ConfigReader(config, cls.kind, FIELDS, cls.secret_fields)
        url = read.url("url")
        headers = _headers(read)
        secret = read.text("secret") or None
        payload = read.raw("payload")
        if payload is not None and payload not in PAYLOADS:
            read.problem(
                "payload",
                f"must be one of {', '.join(PAYLOADS)}, {read.got('payload', payload)}",
            )
        timeout = read.timeout()
        templates = read.templates()
        read.done()
        channel = cls(url, headers=headers, secret=secret, timeout=timeout)
        channel._templates = templates
        return channel

    async def send(self, notification: Notification) -> Delivery:
        body = encode_json(default_body(notification))
        headers = dict(self._headers)
        headers["X-Upcast-Key"] = notification.key
        if self._secret is not None:
            timestamp = int(time.time())
            headers["X-Upcast-Timestamp"] = str(timestamp)
            headers["X-Upcast-Signature"] = sign(self._secret, timestamp, body)
        return await self.post(self._url, body, headers)


def default_body(notification: Notification) -> dict[str, Any]:
    """Everything the notification holds, under the names it has in Upcast."""
    return {
        "key": notification.key,
        "incident": notification.incident,
        "status": notification.status,
        "title": notification.title,
        "text": notification.text,
        "at": notification.at,
        "severity": notification.severity,
        "url": notification.url,
        "fields": dict(notification.fields),
    }


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Upcast-Signature`` value for ``body`` sent at ``timestamp``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    message = str(timestamp).encode("ascii") + b"." + body
    return "sha256=" + hmac.new(key, message, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | bytes,
    timestamp: str | int,
    body: bytes,
    signature: str,
    *,
    tolerance: float = SIGNATURE_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether a request was signed with ``secret`` recently, for its receiver.

    ``timestamp`` and ``signature`` are the ``X-Upcast-Timestamp`` and
    ``X-Upcast-Signature`` headers as received, ``body`` the raw bytes.

    1. The timestamp must be whole seconds no further than ``tolerance``
       from ``now`` (the clock, by default), either way: a request captured
       and sent again later is refused.
    2. The signature is worked out again and compared in constant time, so
       the comparison's duration tells an attacker nothing.
    """
    if isinstance(timestamp, bool):
        return False
    if isinstance(timestamp, str):
        if not _TIMESTAMP.fullmatch(timestamp.strip()):
            return False
        timestamp = int(timestamp)
    if not isinstance(timestamp, int) or not isinstance(signature, str):
        return False

    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False

    expected = sign(secret, timestamp, body).encode("ascii")
    return hmac.compare_digest(expected, signature.strip().encode("utf-8"))


def _headers(read: ConfigReader) -> dict[str, str]:
    """The user's extra headers, each checked; names the channel writes are refused."""
    given = read.raw("headers")
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        read.problem(
            "headers",
            f"must be a mapping of text to text, {read.got('headers', given)}",
        )
        return {}

    headers: dict[str, str] = {}
    for name, value in given.items():
        field = f"headers.{name}"
        if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
            read.problem(field, "is not a valid header name")
        elif name.lower() in _REFUSED_HEADERS:
            read.problem(field, "is set by the channel and cannot be given")
        elif name.lower() in (known.lower() for known in headers):
            read.problem(field, "is given twice, in different case")
        elif not isinstance(value, str):
            read.problem(field, f"must be text, {read.got('headers', value)}")
        elif any(char in value for char in "\r\n\0"):
            read.problem(field, "must not contain line breaks")
        elif not _is_latin_1(value):
            read.problem(field, "must be Latin-1 text")
        else:
            headers[name] = value.strip()
    return headers


def _is_latin_1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
