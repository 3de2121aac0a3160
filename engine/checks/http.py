"""The http check kind: one HTTP(S) request per check, judged by its response."""

from __future__ import annotations

import asyncio
import base64
import codecs
import dataclasses
import functools
import ipaddress
import itertools
import json
import logging
import math
import re
import socket
import ssl
import sys
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from time import perf_counter
from types import MappingProxyType
from typing import Any, Final, Self
from urllib.parse import quote, urljoin, urlsplit

from cryptography import x509

from engine.checks import register
from engine.checks._http_wire import ResponseReader
from engine.checks.base import Check, CheckSpec
from engine.checks.options import condition_option, is_ipv4, shared_port
from engine.conditions import Condition
from engine.durations import format_duration
from engine.errors import FieldError, ValidationError
from engine.result import CheckFailure, Observation, Reason

logger = logging.getLogger(__name__)

USER_AGENT: Final = "Upcast/0.1 (+monitoring)"
DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
MAX_BODY_BYTES_CEILING: Final = 64 * 1024 * 1024
DEFAULT_MAX_REDIRECTS: Final = 10
MAX_REDIRECTS_CEILING: Final = 30

CONDITION_NAMES: Final = (
    "status",
    "response_time",
    "body",
    "text",
    "headers",
    "cert_days",
    "size",
)

METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})

# Headers the check writes itself; a user value would break the exchange.
_RESERVED_HEADERS: Final = frozenset(
    {"connection", "content-length", "transfer-encoding"}
)
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HOST_NAME: Final = re.compile(
    r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?"
)
_STATUS_RANGE: Final = re.compile(r"([1-5]\d\d)\s*-\s*([1-5]\d\d)")
_STATUS_CLASS: Final = re.compile(r"([1-5])xx", re.IGNORECASE)
_PATH_SAFE: Final = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE: Final = _PATH_SAFE + "?"

_OPTIONS: Final = frozenset(
    {
        "method",
        "headers",
        "body",
        "json",
        "basic_auth",
        "bearer_token",
        "expect_status",
        "max_redirects",
        "keyword",
        "keyword_absent",
        "regex",
        "regex_absent",
        "verify_tls",
        "cert_days_min",
        "max_body_bytes",
        "condition",
    }
)

# What a run was doing, for the message of a timeout.
_DNS: Final = "resolving the host name"
_CONNECT: Final = "connecting"
_TLS: Final = "during the TLS handshake"
_FIRST_BYTE: Final = "waiting for the first byte"
_BODY: Final = "reading the body"


@dataclass(frozen=True, slots=True)
class _Url:
    """An http(s) URL split into what a connection and a request need."""

    url: str
    tls: bool
    host: str
    port: int
    ip: bool
    authority: str
    path: str

    def same_origin(self, other: _Url) -> bool:
        return (self.tls, self.host, self.port) == (other.tls, other.host, other.port)

    @classmethod
    def assemble(cls, tls: bool, host: str, port: int, ip: bool, path: str) -> _Url:
        """The URL from its parts; ``path`` is already quoted and holds the query."""
        authority = _authority(tls, host, port)
        scheme = "https" if tls else "http"
        return cls(
            url=f"{scheme}://{authority}{path}",
            tls=tls,
            host=host,
            port=port,
            ip=ip,
            authority=authority,
            path=path,
        )


def _authority(tls: bool, host: str, port: int) -> str:
    """The host as a URL and a ``Host`` header show it, with a port not implied."""
    # Only an IPv6 address holds a colon; a host name never does.
    shown_host = f"[{host}]" if ":" in host else host
    return shown_host if port == (443 if tls else 80) else f"{shown_host}:{port}"


_UrlParts = tuple[bool, str, int, bool, str]
"""A URL's ``tls``, ``host``, ``port``, ``ip`` and ``path``, as in ``_Url``."""

HOST_CACHE_SIZE: Final = 4096
"""How many host names keep their checked form; many monitors share a host."""

_PATH_CHARS: Final = "[A-Za-z0-9" + re.escape("_.-~" + _PATH_SAFE) + "]"
_QUERY_CHARS: Final = "[A-Za-z0-9" + re.escape("_.-~" + _QUERY_SAFE) + "]"
# A URL that ``quote`` would leave as it is and whose host needs no brackets,
# which is what nearly every target looks like.
_PLAIN_URL: Final = re.compile(
    rf"(https?)://([A-Za-z0-9._-]+)(?::([0-9]{{1,5}}))?"
    rf"(/{_PATH_CHARS}*)?(?:\?({_QUERY_CHARS}+))?"
)


def _parse_url(text: str) -> _Url:
    """Split and check an http(s) URL; ``ValueError`` says what is wrong with it."""
    return _Url.assemble(*_split_url(text))


def _split_url(text: str) -> _UrlParts:
    """The parts of an http(s) URL, checked; ``ValueError`` says what is wrong.

    A plain URL is read by one pattern; any other goes through ``urlsplit``
    and ``quote``. Both reach the same parts for a URL that either can read.
    """
    parts = _split_plain_url(text.strip())
    return parts if parts is not None else _split_any_url(text)


def _split_plain_url(text: str) -> _UrlParts | None:
    """The parts of a URL that ``_PLAIN_URL`` reads, or None for any other."""
    plain = _PLAIN_URL.fullmatch(text)
    if plain is None:
        return None
    scheme, host, port_text, path, query = plain.groups()
    tls = scheme == "https"
    port = int(port_text) if port_text is not None else (443 if tls else 80)
    if not 0 < port <= 65535:
        return None
    if is_ipv4(host):
        # Many monitors name distinct addresses, which would only churn the cache.
        is_ip = True
    else:
        host, is_ip = _checked_host(host.lower())
    path = path or "/"
    if query is not None:
        path = f"{path}?{query}"
    return tls, host, port, is_ip, path


def _split_any_url(text: str) -> _UrlParts:
    parts = urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"must be an http:// or https:// URL, got {text!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"has an invalid port in {text!r}") from exc
    if port == 0:
        raise ValueError(f"has an invalid port in {text!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials; use options.basic_auth")
    host = parts.hostname or ""
    if not host:
        raise ValueError(f"has no host in {text!r}")
    host, is_ip = _checked_host(host)

    tls = scheme == "https"
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path = f"{path}?{quote(parts.query, safe=_QUERY_SAFE)}"
    return tls, host, port or (443 if tls else 80), is_ip, path


@functools.lru_cache(maxsize=HOST_CACHE_SIZE)
def _checked_host(host: str) -> tuple[str, bool]:
    """The host in ASCII and whether it is an IP address; ``ValueError`` if invalid.

    Every check on one host then holds the same string.
    """
    address = host.split("%", 1)[0]
    if ":" in address:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            pass
        else:
            return host, True
    elif is_ipv4(address):
        return host, True

    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"has an invalid host name {host!r}") from exc
    if not _HOST_NAME.fullmatch(host) or len(host) > 253:
        raise ValueError(f"has an invalid host name {host!r}")
    return host, False


def _build_request(
    method: str,
    url: _Url,
    headers: Sequence[tuple[str, str]],
    body: bytes | None,
) -> bytes:
    """The complete request, ready to write; ``Host`` is added unless given."""
    authority = None if _names_host(headers) else url.authority
    return _request_head(method, url.path, authority) + _request_tail(
        method, headers, body
    )


def _names_host(headers: Sequence[tuple[str, str]]) -> bool:
    return any(name.lower() == "host" for name, _ in headers)


def _request_head(method: str, path: str, authority: str | None) -> bytes:
    """The request line, then the ``Host`` header unless ``authority`` is None."""
    if authority is None:
        return f"{method} {path} HTTP/1.1\r\n".encode("latin-1")
    return f"{method} {path} HTTP/1.1\r\nHost: {authority}\r\n".encode("latin-1")


def _request_tail(
    method: str, headers: Sequence[tuple[str, str]], body: bytes | None
) -> bytes:
    """What follows the ``Host`` header: the other headers, then the body."""
    lines = [f"{name}: {value}" for name, value in headers]
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    lines.append("Connection: close")
    tail = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return tail + body if body else tail


@dataclass(frozen=True, slots=True)
class _StatusSet:
    """The status codes that count as healthy, and how the user wrote them."""

    codes: frozenset[int]
    label: str


STATUS_CACHE_SIZE: Final = 1024
"""How many distinct ``expect_status`` values keep their set of codes."""

HEADERS_CACHE_SIZE: Final = 1024
"""How many distinct ``headers`` options keep their checked headers."""

_DEFAULT_STATUSES: Final = _StatusSet(frozenset(range(200, 400)), "200-399")
_DEFAULT_HEADERS: Final = (("User-Agent", USER_AGENT), ("Accept", "*/*"))


@dataclass(frozen=True, slots=True)
class _Settings:
    """The options a check runs with, apart from its URL and timeout.

    Most monitors set none of them, so every such check shares
    ``_DEFAULT_SETTINGS`` instead of carrying a copy: at a million monitors a
    shard, each field kept on the check itself would cost megabytes. Checks
    with the same options share one object too (``_shared_settings``).
    ``keep_body`` says whether any rule reads the body, which is then kept and
    decoded. ``tail`` is the request after its ``Host`` header, the same for
    every check with these settings; ``sets_host`` says the headers name the
    host themselves.
    """

    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = _DEFAULT_HEADERS
    body: bytes | None = None
    expect: _StatusSet = _DEFAULT_STATUSES
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    keyword: str | None = None
    keyword_absent: str | None = None
    regex: re.Pattern[str] | None = None
    regex_absent: re.Pattern[str] | None = None
    condition: Condition | None = None
    keep_body: bool = False
    verify_tls: bool = True
    cert_days_min: int | None = None
    sets_host: bool = dataclasses.field(init=False, repr=False, compare=False)
    tail: bytes = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sets_host", _names_host(self.headers))
        tail = _request_tail(self.method, self.headers, self.body)
        object.__setattr__(self, "tail", tail)

    def body_problem(self, text: str) -> str | None:
        """Why the body fails its keyword and regex rules, or None when it passes."""
        if self.keyword is not None and self.keyword not in text:
            return f"the body does not contain {self.keyword!r}"
        if self.keyword_absent is not None:
            found = text.find(self.keyword_absent)
            if found >= 0:
                return f"the body contains {self.keyword_absent!r} at offset {found}"
        if self.regex is not None and self.regex.search(text) is None:
            return f"the body does not match /{self.regex.pattern}/"
        if self.regex_absent is not None:
            match = self.regex_absent.search(text)
            if match is not None:
                return (
                    f"the body matches /{self.regex_absent.pattern}/ "
                    f"at offset {match.start()}"
                )
        return None


_DEFAULT_SETTINGS: Final = _Settings()

CERTIFICATE_CACHE_SIZE: Final = 4096
"""How many certificates' expiry dates are kept, so most runs skip parsing one."""


@functools.lru_cache(maxsize=CERTIFICATE_CACHE_SIZE)
def _certificate_expiry(der: bytes) -> float | None:
    """When a DER certificate expires (unix seconds), or None if it does not parse.

    A monitor meets the same certificate run after run, and many monitors of
    one site share it, so the answers are cached by the certificate's bytes
    for all checks together rather than kept on each check.
    """
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    return certificate.not_valid_after_utc.timestamp()


@functools.cache
def _tls_context(verify: bool) -> ssl.SSLContext:
    """The client TLS context, built once per process: loading CAs is slow."""
    if verify:
        return ssl.create_default_context()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class _Clock:
    """One run's timings and progress, shared by its hops and its timer.

    Phase durations are in seconds and add up over redirects; a phase is None
    until some hop has passed it, so a failure reports only how far it got.
    ``url`` is the hop's URL once a redirect was followed, None before that.
    """

    __slots__ = (
        "cert_days",
        "connect",
        "dns",
        "expired",
        "first_byte",
        "phase",
        "reader",
        "redirects",
        "started",
        "tls",
        "url",
    )

    def __init__(self, started: float) -> None:
        self.started = started
        self.url: _Url | None = None
        self.dns: float | None = None
        self.connect: float | None = None
        self.tls: float | None = None
        self.first_byte: float | None = None
        self.phase = _CONNECT
        self.expired = False
        self.reader: ResponseReader | None = None
        self.redirects = 0
        self.cert_days: int | None = None

    def phases(self, now: float) -> dict[str, float]:
        """The phases so far in milliseconds, ``total`` always included."""
        phases: dict[str, float] = {}
        if self.dns is not None:
            phases["dns"] = round(self.dns * 1000.0, 3)
        if self.connect is not None:
            phases["connect"] = round(self.connect * 1000.0, 3)
        if self.tls is not None:
            phases["tls"] = round(self.tls * 1000.0, 3)
        if self.first_byte is not None:
            phases["first_byte"] = round(self.first_byte * 1000.0, 3)
        phases["total"] = round((now - self.started) * 1000.0, 3)
        return phases

    def details(self) -> dict[str, Any]:
        """What the response showed, as far as the run got."""
        details: dict[str, Any] = {}
        reader = self.reader
        if reader is not None and reader.status:
            details["status"] = reader.status
            details["size"] = reader.size
        if self.cert_days is not None:
            details["cert_days"] = self.cert_days
        details["redirects"] = self.redirects
        if self.url is not None:
            details["final_url"] = self.url.url
        return details


def _expire(clock: _Clock, task: asyncio.Task[Any]) -> None:
    """Cut a run short at its deadline; ``run`` turns this into a timeout."""
    clock.expired = True
    task.cancel()


class HttpCheck(Check):
    """Requests a URL and judges the response; registered as ``http`` and ``https``.

    Each run opens a fresh connection (so a check measures what a new visitor
    would see), sends one request with ``Connection: close`` and reads one
    response. The phases reported are in milliseconds: ``dns`` (0 for an IP
    address), ``connect``, ``tls`` (0 for plain http), ``first_byte`` (from the
    request being sent to the first byte of the reply) and ``total``; over
    redirects each phase is the sum for all hops.

    The target is an ``http://`` or ``https://`` URL. Options:

    ``method``
        GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS; the default is GET,
        or POST when a body is given.
    ``headers``
        A mapping of extra request headers; ``Host`` may be overridden.
    ``body`` / ``json``
        A text request body, or a value sent as JSON (sets Content-Type).
    ``basic_auth`` / ``bearer_token``
        ``{username, password}`` for Basic authentication, or a bearer token.
    ``expect_status``
        Healthy status codes after redirects: a code, ``"200-299"``, ``"2xx"``
        or a list of those; default ``200-399``.
    ``max_redirects``
        Redirects followed (default 10); 0 judges the redirect itself.
    ``keyword`` / ``keyword_absent``
        Text that must (or must not) appear in the body.
    ``regex`` / ``regex_absent``
        A regular expression that must (or must not) match the body.
    ``condition``
        An assertion over ``status``, ``response_time``, ``body`` (parsed JSON
        when the reply is JSON), ``text``, ``headers``, ``cert_days``, ``size``.
    ``verify_tls``
        Verify the server certificate and host name (default true); when off,
        the certificate's expiry is still read.
    ``cert_days_min``
        Fail, without retrying, when the certificate expires in fewer days.
    ``max_body_bytes``
        The largest body accepted, as received and after decompression
        (default 1 MiB); a larger one fails with reason ``size``.

    gzip and deflate bodies are decompressed when the body is judged, and
    only then is ``Accept-Encoding`` sent. ``details`` holds ``status``,
    ``size`` (body bytes as received), ``redirects``, ``cert_days`` for https
    and ``final_url`` after a redirect.
    """

    __slots__ = (
        "_head",
        "_host",
        "_ip",
        "_port",
        "_settings",
        "_timeout",
        "_tls",
    )

    kind = "http"

    def __init__(
        self,
        head: bytes,
        host: str,
        port: int,
        tls: bool,
        ip: bool,
        timeout: float,
        settings: _Settings,
    ) -> None:
        """Keep only what every run reads; the options stay in shared ``settings``.

        ``head`` is the request up to its ``Host`` header and ``settings.tail``
        the rest, so the bytes most checks have in common are kept once. The
        URL itself is not kept: the rare paths that need it rebuild it
        (``_origin``).
        """
        self._head = head
        self._host = sys.intern(host)
        self._port = shared_port(port)
        self._tls = tls
        self._ip = ip
        self._timeout = timeout
        self._settings = settings

    @classmethod
    def prepare(cls, spec: CheckSpec) -> Self:
        """Check the URL and every option, reporting all problems at once."""
        errors: list[FieldError] = []
        parts: _UrlParts | None = None
        target = spec.target
        if not isinstance(target, str) or not target or target.isspace():
            errors.append(
                FieldError("target", "is required: an http:// or https:// URL")
            )
        else:
            try:
                parts = _split_url(target)
            except ValueError as exc:
                errors.append(FieldError("target", str(exc)))
        settings = _settings(spec.options, errors)

        if errors or parts is None:
            raise ValidationError(errors)
        tls, host, port, ip, path = parts
        authority = None if settings.sets_host else _authority(tls, host, port)
        head = _request_head(settings.method, path, authority)
        return cls(head, host, port, tls, ip, spec.timeout, settings)

    async def run(self) -> Observation:
        """Request the URL once, following redirects, and judge the final response."""
        loop = asyncio.get_running_loop()
        clock = _Clock(perf_counter())
        task = asyncio.current_task()
        assert task is not None
        timer = loop.call_later(self._timeout, _expire, clock, task)
        try:
            reader = await self._exchange(
                loop,
                self._host,
                self._port,
                self._tls,
                self._ip,
                self._head + self._settings.tail,
                clock,
            )
            if self._settings.max_redirects and reader.status in REDIRECT_STATUSES:
                reader = await self._follow(loop, reader, clock)
        except asyncio.CancelledError:
            if clock.expired and task.uncancel() == 0:
                raise self._timed_out(clock, perf_counter()) from None
            raise
        except CheckFailure as exc:
            exc.phases.update(clock.phases(perf_counter()))
            exc.details.update(clock.details())
            raise
        finally:
            timer.cancel()
        return self._judge(reader, clock)

    async def _exchange(
        self,
        loop: asyncio.AbstractEventLoop,
        host: str,
        port: int,
        tls: bool,
        ip: bool,
        request: bytes,
        clock: _Clock,
    ) -> ResponseReader:
        """One request on one fresh connection; returns the reader holding the reply.

        1. Resolve the host unless it is an IP address.
        2. Connect over TCP, trying each resolved address in turn.
        3. For https, upgrade the connection with ``start_tls`` and read the
           certificate's expiry.
        4. Write the request and wait for the reader to finish the response.
        """
        if ip:
            addresses: Sequence[str] = (host,)
            if clock.dns is None:
                clock.dns = 0.0
        else:
            addresses = await self._resolve(loop, host, port, clock)

        settings = self._settings
        reader = ResponseReader(
            loop,
            settings.max_body_bytes,
            settings.keep_body,
            settings.method == "HEAD",
        )
        clock.reader = reader
        clock.phase = _CONNECT
        begun = perf_counter()
        transport: asyncio.Transport | None = None
        failure: OSError | None = None
        for address in addresses:
            try:
                transport, _ = await loop.create_connection(
                    lambda: reader, address, port
                )
                break
            except OSError as exc:
                failure = exc
        if transport is None:
            raise _connect_failure(addresses[-1], port, failure)
        connected = perf_counter()
        clock.connect = (clock.connect or 0.0) + (connected - begun)

        try:
            if tls:
                clock.phase = _TLS
                transport = await self._handshake(loop, transport, reader, host, clock)
                clock.tls = (clock.tls or 0.0) + (perf_counter() - connected)
            elif clock.tls is None:
                clock.tls = 0.0
            clock.phase = _FIRST_BYTE
            sent = perf_counter()
            transport.write(request)
            try:
                await reader.done
            finally:
                if reader.first_byte_at:
                    clock.first_byte = (clock.first_byte or 0.0) + (
                        reader.first_byte_at - sent
                    )
        except BaseException:
            reader.abandon()
            transport.abort()
            raise
        return reader

    async def _resolve(
        self, loop: asyncio.AbstractEventLoop, host: str, port: int, clock: _Clock
    ) -> list[str]:
        clock.phase = _DNS
        begun = perf_counter()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise CheckFailure(
                Reason.DNS, f"could not resolve {host}: {_strerror(exc)}"
            ) from exc
        clock.dns = (clock.dns or 0.0) + (perf_counter() - begun)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise CheckFailure(Reason.DNS, f"{host} resolved to no addresses")
        return addresses

    async def _handshake(
        self,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.Transport,
        reader: ResponseReader,
        host: str,
        clock: _Clock,
    ) -> asyncio.Transport:
        """Upgrade to TLS and note how many days the certificate has left.

        Over redirects, the days reported are those of the first https hop.
        """
        context = _tls_context(self._settings.verify_tls)
        try:
            secured = await loop.start_tls(
                transport, reader, context, server_hostname=host
            )
        except ssl.SSLCertVerificationError as exc:
            raise CheckFailure(
                Reason.TLS,
                f"certificate verification failed: {exc.verify_message or exc.reason}",
                retryable=False,
            ) from exc
        except ssl.SSLError as exc:
            raise CheckFailure(
                Reason.TLS, f"TLS handshake failed: {exc.reason or exc}"
            ) from exc
        except OSError as exc:
            raise CheckFailure(
                Reason.TLS, f"the connection failed during the TLS handshake: {exc}"
            ) from exc
        if secured is None:
            raise CheckFailure(Reason.TLS, "the TLS handshake did not complete")
        reader.transport = secured

        ssl_object = secured.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(True) if ssl_object is not None else None
        if der and clock.cert_days is None:
            expiry = _certificate_expiry(der)
            if expiry is None:
                logger.debug(
                    "could not parse the certificate of %s", self._origin().url
                )
            else:
                clock.cert_days = math.floor((expiry - time.time()) / 86400.0)
        return secured

    def _origin(self) -> _Url:
        """The check's own URL, rebuilt for the rare paths that show or join it.

        The path is read back from the request line, so the check need not
        keep the URL's strings beside the request head that already holds them.
        """
        request_line = self._head[: self._head.index(b"\r\n")]
        path = request_line.split(b" ", 2)[1].decode("latin-1")
        return _Url.assemble(self._tls, self._host, self._port, self._ip, path)

    async def _follow(
        self, loop: asyncio.AbstractEventLoop, reader: ResponseReader, clock: _Clock
    ) -> ResponseReader:
        """Follow redirects until a final response or the redirect limit.

        A 303, and a 301 or 302 answering a POST, turn the next request into a
        GET without a body, as browsers do; credentials are dropped when the
        redirect leaves the original scheme, host and port.
        """
        settings = self._settings
        method = settings.method
        body = settings.body
        headers = settings.headers
        url = origin = self._origin()
        while reader.status in REDIRECT_STATUSES:
            location = reader.headers.get("location")
            if not location:
                break
            try:
                next_url = _parse_url(urljoin(url.url, location))
            except ValueError as exc:
                raise CheckFailure(
                    Reason.PROTOCOL,
                    f"redirect to an unusable location {location!r}: {exc}",
                ) from exc
            if clock.redirects >= settings.max_redirects:
                raise CheckFailure(
                    Reason.STATUS,
                    f"stopped after {clock.redirects} redirects; "
                    f"the next one leads to {next_url.url}",
                )
            if (reader.status == 303 and method != "HEAD") or (
                reader.status in (301, 302) and method == "POST"
            ):
                method = "GET"
                body = None
                headers = tuple(
                    (name, value)
                    for name, value in headers
                    if name.lower() != "content-type"
                )
            if not next_url.same_origin(origin):
                headers = tuple(
                    (name, value)
                    for name, value in headers
                    if name.lower() not in ("authorization", "host")
                )
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s redirected with %d to %s", url.url, reader.status, next_url.url
                )
            url = next_url
            clock.url = url
            clock.redirects += 1
            request = _build_request(method, url, headers, body)
            reader = await self._exchange(
                loop, url.host, url.port, url.tls, url.ip, request, clock
            )
        return reader

    def _judge(self, reader: ResponseReader, clock: _Clock) -> Observation:
        """Hold the final response against the certificate, status and body rules."""
        settings = self._settings
        phases = clock.phases(reader.finished_at)
        details = clock.details()
        cert_days = clock.cert_days

        cert_days_min = settings.cert_days_min
        if (
            cert_days_min is not None
            and cert_days is not None
            and cert_days < cert_days_min
        ):
            raise CheckFailure(
                Reason.TLS,
                f"the certificate expires in {cert_days} days, "
                f"fewer than the {cert_days_min} required",
                retryable=False,
                phases=phases,
                details=details,
            )
        status = reader.status
        expect = settings.expect
        if status not in expect.codes:
            raise CheckFailure(
                Reason.STATUS,
                f"expected {expect.label}, got {status}",
                phases=phases,
                details=details,
            )
        condition = settings.condition
        if settings.keep_body:
            try:
                text = _text(reader, settings.max_body_bytes)
                problem = settings.body_problem(text)
                if problem is None and condition is not None:
                    problem = condition.check(
                        _environment(condition, reader, text, phases, cert_days)
                    )
            except CheckFailure as exc:
                exc.phases.update(phases)
                exc.details.update(details)
                raise
        elif condition is not None:
            problem = condition.check(
                _environment(condition, reader, "", phases, cert_days)
            )
        else:
            problem = None
        if problem is not None:
            raise CheckFailure(
                Reason.ASSERTION, problem, phases=phases, details=details
            )
        return Observation(latency_ms=phases["total"], phases=phases, details=details)

    def _timed_out(self, clock: _Clock, now: float) -> CheckFailure:
        phase = clock.phase
        reader = clock.reader
        if phase == _FIRST_BYTE and reader is not None and reader.first_byte_at:
            phase = _BODY
        elif phase == _CONNECT:
            url = clock.url or self._origin()
            phase = f"connecting to {url.authority}"
        return CheckFailure(
            Reason.TIMEOUT,
            f"timed out after {format_duration(self._timeout)} {phase}",
            phases=clock.phases(now),
            details=clock.details(),
        )


register(HttpCheck, "https")


def _environment(
    condition: Condition,
    reader: ResponseReader,
    text: str,
    phases: Mapping[str, float],
    cert_days: int | None,
) -> dict[str, Any]:
    """What a condition may read; JSON is parsed only if the condition reads it."""
    body: Any = text
    if "body" in condition.names and "json" in reader.headers.get("content-type", ""):
        try:
            body = json.loads(text)
        except ValueError:
            body = text
    return {
        "status": reader.status,
        "response_time": phases["total"],
        "body": body,
        "text": text,
        "headers": reader.headers,
        "cert_days": cert_days,
        "size": reader.size,
    }


def _connect_failure(address: str, port: int, exc: OSError | None) -> CheckFailure:
    where = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    if isinstance(exc, ConnectionRefusedError):
        message = f"connection refused by {where}"
    else:
        message = f"could not connect to {where}: {_strerror(exc)}"
    failure = CheckFailure(Reason.CONNECT, message)
    failure.__cause__ = exc
    return failure


def _strerror(exc: BaseException | None) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def _text(reader: ResponseReader, limit: int) -> str:
    """The body as text: content-decoded, then decoded with the declared charset."""
    raw = reader.body
    coding = reader.headers.get("content-encoding", "").strip().lower()
    if coding and coding != "identity":
        raw = _decompress(raw, coding, limit)
    charset = "utf-8"
    content_type = reader.headers.get("content-type", "")
    marker = content_type.lower().find("charset=")
    if marker >= 0:
        declared = content_type[marker + 8 :].split(";", 1)[0].strip().strip("\"'")
        try:
            charset = codecs.lookup(declared).name
        except LookupError:
            charset = "utf-8"
    return raw.decode(charset, errors="replace")


def _decompress(data: bytes, coding: str, limit: int) -> bytes:
    """Undo gzip or deflate, refusing output beyond ``limit`` bytes."""
    attempts: tuple[int, ...]
    if coding in ("gzip", "x-gzip"):
        attempts = (31,)
    elif coding == "deflate":
        # Servers send deflate both with and without the zlib wrapper.
        attempts = (15, -15)
    else:
        raise CheckFailure(
            Reason.PROTOCOL, f"cannot decode a body with Content-Encoding {coding!r}"
        )
    for wbits in attempts:
        decompressor = zlib.decompressobj(wbits)
        try:
            output = decompressor.decompress(data, limit + 1)
        except zlib.error as exc:
            if wbits != attempts[-1]:
                continue
            raise CheckFailure(
                Reason.PROTOCOL, f"the {coding} body does not decode: {exc}"
            ) from exc
        if len(output) > limit:
            raise CheckFailure(
                Reason.SIZE,
                f"the body decompresses to more than {limit} bytes "
                "(options.max_body_bytes)",
            )
        return output
    return data


SETTINGS_CACHE_SIZE: Final = 4096
"""How many distinct option sets keep their ``_Settings`` at hand."""

# Options whose presence makes the check ask for a compressed body it decodes.
_BODY_RULES: Final = frozenset({"keyword", "keyword_absent", "regex", "regex_absent"})


def _settings(options: Mapping[str, Any], errors: list[FieldError]) -> _Settings:
    """The settings ``options`` ask for, every problem added to ``errors``.

    What is returned after a problem is only a stand-in, as the check is not
    built then. Many monitors repeat one set of options, so options that can
    be their own cache key (``_plain_key``) are read once while they recur.
    """
    if not options:
        return _DEFAULT_SETTINGS
    key = _plain_key(options)
    if key is not None:
        known = _SETTINGS_BY_OPTIONS.get(key)
        if known is not None:
            return known
    problems: list[FieldError] = []
    settings = _read_settings(options, problems)
    if problems:
        errors.extend(problems)
        return settings
    if key is not None:
        if len(_SETTINGS_BY_OPTIONS) >= SETTINGS_CACHE_SIZE:
            _SETTINGS_BY_OPTIONS.clear()
        _SETTINGS_BY_OPTIONS[key] = settings
    return settings


_SETTINGS_BY_OPTIONS: Final[dict[tuple[Any, ...], _Settings]] = {}


def _plain_key(options: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """A key that is equal only for options every reader sees as the same.

    Text, whole numbers, true and false, and lists and mappings of text and
    whole numbers, which is what nearly every definition holds, stand for
    themselves with their type beside them, so ``1`` and ``True`` differ.
    Anything else (a float, a nested mapping) gives None: the options are
    then read each time.
    """
    if type(options) is not dict:
        return None
    parts: list[tuple[Any, ...]] = []
    for name, value in options.items():
        kind = type(value)
        if kind is str or kind is int or kind is bool:
            parts.append((name, kind, value))
        elif (kind is list or kind is tuple) and _is_plain(value):
            parts.append((name, kind, tuple(value)))
        elif kind is dict and _is_plain(value) and _is_plain(value.values()):
            parts.append((name, kind, tuple(value.items())))
        else:
            return None
    return tuple(parts)


def _read_settings(options: Mapping[str, Any], errors: list[FieldError]) -> _Settings:
    """The settings for ``options``; a stand-in once ``errors`` holds a problem."""
    if not _OPTIONS.issuperset(options):
        errors.extend(
            FieldError(f"options.{name}", "unknown option")
            for name in options
            if name not in _OPTIONS
        )

    method = _method(options, errors)
    body = _body(options, method, errors)
    expect = _expect_status(options.get("expect_status"), errors)
    max_redirects = _whole(
        options,
        "max_redirects",
        DEFAULT_MAX_REDIRECTS,
        0,
        MAX_REDIRECTS_CEILING,
        errors,
    )
    max_body_bytes = _whole(
        options,
        "max_body_bytes",
        DEFAULT_MAX_BODY_BYTES,
        0,
        MAX_BODY_BYTES_CEILING,
        errors,
    )
    cert_days_min = _whole(options, "cert_days_min", None, 0, 3650, errors)
    verify_tls = options.get("verify_tls", True)
    if not isinstance(verify_tls, bool):
        errors.append(
            FieldError(
                "options.verify_tls", f"must be true or false, got {verify_tls!r}"
            )
        )
    keyword = _text_option(options, "keyword", errors)
    keyword_absent = _text_option(options, "keyword_absent", errors)
    regex = _regex_option(options, "regex", errors)
    regex_absent = _regex_option(options, "regex_absent", errors)
    condition = condition_option(options.get("condition"), CONDITION_NAMES, errors)
    reads_body = condition is not None and not condition.names.isdisjoint(
        ("body", "text")
    )
    decodes = reads_body or not _BODY_RULES.isdisjoint(options)
    headers = _headers(options, decodes, errors)

    if errors:
        return _DEFAULT_SETTINGS
    assert max_redirects is not None
    assert max_body_bytes is not None
    keep_body = reads_body or not (
        keyword is None
        and keyword_absent is None
        and regex is None
        and regex_absent is None
    )
    return _shared_settings(
        (
            method,
            headers,
            body,
            expect,
            max_redirects,
            max_body_bytes,
            keyword,
            keyword_absent,
            regex,
            regex_absent,
            condition,
            keep_body,
            verify_tls,
            cert_days_min,
        )
    )


@functools.lru_cache(maxsize=SETTINGS_CACHE_SIZE)
def _shared_settings(fields: tuple[Any, ...]) -> _Settings:
    """One ``_Settings`` for all checks whose options come to the same fields.

    Every field is immutable (text, numbers, tuples, compiled patterns and
    conditions), so checks sharing the object share no state that changes.
    """
    settings = _Settings(*fields)
    return _DEFAULT_SETTINGS if settings == _DEFAULT_SETTINGS else settings


def _method(options: Mapping[str, Any], errors: list[FieldError]) -> str:
    sends_body = "body" in options or "json" in options
    value = options.get("method", "POST" if sends_body else "GET")
    if not isinstance(value, str) or value.upper() not in METHODS:
        errors.append(
            FieldError(
                "options.method",
                f"must be one of {', '.join(sorted(METHODS))}, got {value!r}",
            )
        )
        return "GET"
    return value.upper()


def _body(
    options: Mapping[str, Any], method: str, errors: list[FieldError]
) -> bytes | None:
    has_text = "body" in options
    has_json = "json" in options
    if has_text and has_json:
        errors.append(
            FieldError("options.json", "cannot be combined with options.body")
        )
        return None
    if (has_text or has_json) and method in ("GET", "HEAD"):
        field = "options.body" if has_text else "options.json"
        errors.append(FieldError(field, f"cannot be sent with {method}"))
        return None
    if has_text:
        value = options["body"]
        if not isinstance(value, str):
            errors.append(FieldError("options.body", f"must be text, got {value!r}"))
            return None
        return value.encode("utf-8")
    if has_json:
        try:
            return json.dumps(options["json"], separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError) as exc:
            errors.append(
                FieldError("options.json", f"cannot be written as JSON: {exc}")
            )
    return None


def _headers(
    options: Mapping[str, Any], decodes: bool, errors: list[FieldError]
) -> tuple[tuple[str, str], ...]:
    """The request headers in order: defaults, authorization, then the user's."""
    given = options.get("headers", _NO_HEADERS)
    if type(given) is not dict and not isinstance(given, Mapping):
        errors.append(
            FieldError("options.headers", f"must be a mapping, got {given!r}")
        )
        given = _NO_HEADERS
    pairs = tuple(given.items())
    plain = _is_plain(itertools.chain.from_iterable(pairs))
    user, given_names, problems = (_read_plain_headers if plain else _read_headers)(
        pairs
    )
    if problems:
        errors.extend(
            FieldError(f"options.headers.{name}", problem) for name, problem in problems
        )

    headers: list[tuple[str, str]] = []
    if "user-agent" not in given_names:
        headers.append(("User-Agent", USER_AGENT))
    if "accept" not in given_names:
        headers.append(("Accept", "*/*"))
    if decodes and "accept-encoding" not in given_names:
        headers.append(("Accept-Encoding", "gzip, deflate"))
    authorization = _authorization(options, errors)
    if authorization is not None:
        if "authorization" in given_names:
            errors.append(
                FieldError(
                    "options.headers.Authorization",
                    "cannot be combined with options.basic_auth "
                    "or options.bearer_token",
                )
            )
        headers.append(("Authorization", authorization))
    if "json" in options and "content-type" not in given_names:
        headers.append(("Content-Type", "application/json"))
    headers.extend(user)
    return tuple(headers)


_NO_HEADERS: Final[Mapping[str, Any]] = MappingProxyType({})

_UserHeaders = tuple[
    tuple[tuple[str, str], ...], frozenset[str], tuple[tuple[Any, str], ...]
]
"""The user's valid headers, their names in lower case, and each bad one's problem."""


def _read_headers(pairs: tuple[tuple[Any, Any], ...]) -> _UserHeaders:
    user: list[tuple[str, str]] = []
    problems: list[tuple[Any, str]] = []
    for name, value in pairs:
        problem = _header_problem(name, value)
        if problem is None:
            user.append((name, str(value).strip()))
        else:
            problems.append((name, problem))
    names = frozenset(name.lower() for name, _ in user)
    return tuple(user), names, tuple(problems)


_read_plain_headers = functools.lru_cache(maxsize=HEADERS_CACHE_SIZE)(_read_headers)


def _header_problem(name: Any, value: Any) -> str | None:
    """What is wrong with one of the user's headers, or None."""
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        return "is not a valid header name"
    if name.lower() in _RESERVED_HEADERS:
        return "is set by the check and cannot be given"
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return f"must be text, got {value!r}"
    text = str(value)
    if "\r" in text or "\n" in text or "\0" in text:
        return "must not contain line breaks"
    if not text.isascii():
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            return "must be Latin-1 text"
    return None


def _authorization(options: Mapping[str, Any], errors: list[FieldError]) -> str | None:
    basic = options.get("basic_auth")
    token = options.get("bearer_token")
    if basic is not None and token is not None:
        errors.append(
            FieldError(
                "options.bearer_token", "cannot be combined with options.basic_auth"
            )
        )
        return None
    if token is not None:
        if not isinstance(token, str) or not token or any(c in token for c in "\r\n "):
            errors.append(
                FieldError("options.bearer_token", "must be text without spaces")
            )
            return None
        return f"Bearer {token}"
    if basic is None:
        return None
    if not isinstance(basic, Mapping):
        errors.append(
            FieldError(
                "options.basic_auth", "must be a mapping with username and password"
            )
        )
        return None
    problems = 0
    for key in basic:
        if key not in ("username", "password"):
            errors.append(FieldError(f"options.basic_auth.{key}", "unknown field"))
            problems += 1
    username = basic.get("username")
    password = basic.get("password", "")
    if not isinstance(username, str) or not username or ":" in username:
        errors.append(
            FieldError("options.basic_auth.username", "must be text without ':'")
        )
        problems += 1
    if not isinstance(password, str):
        errors.append(FieldError("options.basic_auth.password", "must be text"))
        problems += 1
    if problems:
        return None
    pair = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _expect_status(value: Any, errors: list[FieldError]) -> _StatusSet:
    """Status codes from a code, a ``200-299`` range, a ``2xx`` class or a list."""
    if value is None:
        return _DEFAULT_STATUSES
    listed = isinstance(value, list | tuple)
    items = tuple(value) if listed else (value,)
    if not items:
        errors.append(FieldError("options.expect_status", "must not be empty"))
        return _DEFAULT_STATUSES
    read = _read_plain_statuses if _is_plain(items) else _read_statuses
    statuses, bad = read(items)
    for index in bad:
        field = f"options.expect_status[{index}]" if listed else "options.expect_status"
        errors.append(
            FieldError(
                field,
                "must be a status code (100-599), a range such as 200-299 "
                f"or a class such as 2xx, got {items[index]!r}",
            )
        )
    return statuses


def _read_statuses(items: tuple[Any, ...]) -> tuple[_StatusSet, tuple[int, ...]]:
    """The codes the items name, and the positions of the items that name none."""
    codes: set[int] = set()
    labels: list[str] = []
    bad: list[int] = []
    for index, item in enumerate(items):
        found = _status_item(item)
        if found is None:
            bad.append(index)
        else:
            codes.update(found)
            labels.append(str(item).strip().lower())
    return _StatusSet(frozenset(codes), ", ".join(labels)), tuple(bad)


_read_plain_statuses = functools.lru_cache(maxsize=STATUS_CACHE_SIZE)(_read_statuses)


def _is_plain(values: Iterable[Any]) -> bool:
    """Whether every value is exactly ``str`` or ``int``.

    Such values are equal only when they behave the same, unlike ``1``,
    ``1.0`` and ``True``, so what a pure function makes of them can be cached
    and shared by every check that gives the same values.
    """
    return _PLAIN_TYPES.issuperset(map(type, values))


_PLAIN_TYPES: Final = frozenset({str, int})


def _status_item(item: Any) -> range | None:
    if isinstance(item, bool):
        return None
    if isinstance(item, int):
        return range(item, item + 1) if 100 <= item <= 599 else None
    if not isinstance(item, str):
        return None
    text = item.strip()
    if text.isdigit():
        return _status_item(int(text))
    matched = _STATUS_RANGE.fullmatch(text)
    if matched:
        low, high = int(matched.group(1)), int(matched.group(2))
        return range(low, high + 1) if low <= high <= 599 else None
    matched = _STATUS_CLASS.fullmatch(text)
    if matched:
        first = int(matched.group(1)) * 100
        return range(first, first + 100)
    return None


def _whole(
    options: Mapping[str, Any],
    name: str,
    default: int | None,
    low: int,
    high: int,
    errors: list[FieldError],
) -> int | None:
    value = options.get(name, default)
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high
    ):
        errors.append(
            FieldError(
                f"options.{name}",
                f"must be a whole number from {low} to {high}, got {value!r}",
            )
        )
        return default
    return value


def _text_option(
    options: Mapping[str, Any], name: str, errors: list[FieldError]
) -> str | None:
    value = options.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        errors.append(
            FieldError(f"options.{name}", f"must be non-empty text, got {value!r}")
        )
        return None
    return value


def _regex_option(
    options: Mapping[str, Any], name: str, errors: list[FieldError]
) -> re.Pattern[str] | None:
    pattern = _text_option(options, name, errors)
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        errors.append(FieldError(f"options.{name}", f"is not a valid regex: {exc}"))
        return None
