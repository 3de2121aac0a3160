"""What guards a Sanic app at its edge: rate limits, CORS, headers, compression.

``install_protection`` adds request and response middleware to any Sanic app.
It needs nothing from the app's routes: requests are sorted into rate limit
categories by path (or by a function the caller passes), and every response,
errors included, leaves with the security headers, the CORS headers its
origin is entitled to, and a compressed body when the client accepts one.

Rate limits are kept by a ``RateLimiter``: ``MemoryLimiter`` counts in this
process, ``RedisLimiter`` counts in Redis so that every process and instance
of the gateway shares one budget per client. Both implement the generic cell
rate algorithm (GCRA), which keeps a single timestamp per client.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import brotli  # type: ignore[import-untyped]
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from sanic import HTTPResponse, Request, Sanic
from sanic.compat import Header
from sanic.response import BaseHTTPResponse

from web.errors import error_response

logger = logging.getLogger(__name__)

PREFLIGHT_PRIORITY = 1000
"""Request middleware priority of the CORS preflight answer: before all else.

Preflights carry no credentials, so they are answered before any
authentication middleware could refuse them.
"""

RATE_LIMIT_PRIORITY = -1000
"""Request middleware priority of the rate limiter: after the app's own.

Sanic runs request middleware from the highest priority down, so an
authentication middleware registered at the default priority (0) has set
``request.ctx.principal_id`` by the time requests are counted. Requests such
a middleware refuses are not counted.
"""

RESPONSE_PRIORITY = 1000
"""Response middleware priority: Sanic runs response middleware from the
lowest priority up, so the body is compressed after every other change."""

THREADED_COMPRESSION_SIZE = 256 * 1024
"""Bodies at least this large are compressed in a worker thread, so that
compressing a large listing does not stall every other request on the loop."""


@dataclass(frozen=True, slots=True)
class Limit:
    """A request budget: ``rate`` requests per ``per`` seconds, ``burst`` at once.

    The budget refills evenly, one request every ``per / rate`` seconds, up to
    ``burst``: a client that has been quiet may send ``burst`` requests at
    once, and after that one per interval.
    """

    rate: float
    per: float
    burst: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"rate: must be a positive number, got {self.rate!r}")
        if not (math.isfinite(self.per) and self.per > 0):
            raise ValueError(f"per: must be a positive number, got {self.per!r}")
        if self.burst < 1:
            raise ValueError(f"burst: must be at least 1, got {self.burst!r}")

    @property
    def interval(self) -> float:
        """Seconds between two requests once the burst is spent."""
        return self.per / self.rate

    def __str__(self) -> str:
        return f"{self.rate:g} per {self.per:g} s (burst {self.burst})"


@dataclass(frozen=True, slots=True)
class Decision:
    """A limiter's answer to one request.

    ``retry_after`` is how many seconds the client must wait before its next
    request can be allowed (0 when this one was), ``remaining`` how many more
    requests it may send right now, and ``reset_after`` how many seconds
    until its whole burst is available again.
    """

    allowed: bool
    retry_after: float
    remaining: int
    reset_after: float = 0.0


DEFAULT_LIMITS: Mapping[str, Limit] = MappingProxyType(
    {
        # Push pings from monitored jobs: one host may run many jobs.
        "ingest": Limit(rate=600, per=60, burst=120),
        # The dashboard fires a few dozen requests when a page opens.
        "api": Limit(rate=600, per=60, burst=100),
        # Logins and token refreshes: slow password guessing down.
        "auth": Limit(rate=10, per=60, burst=10),
        # Users, keys and the activity log: rarely touched, worth guarding.
        "admin": Limit(rate=60, per=60, burst=20),
    }
)
"""The budget of each rate limit category, per client."""

DEFAULT_CSP = "; ".join(
    (
        "default-src 'self'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "img-src 'self' data:",
    )
)
"""A Content-Security-Policy for a dashboard served from the gateway's origin:
scripts, styles, fetches and websockets from the same origin only, no
plugins, and no framing by any page."""

_CODINGS = ("br", "gzip")


def _default_limits() -> Mapping[str, Limit]:
    return dict(DEFAULT_LIMITS)


@dataclass(frozen=True)
class ProtectionSettings:
    """How an app is protected; the defaults suit a gateway on its own origin.

    ``limits`` maps each rate limit category to its budget per client; to
    change one, pass ``{**DEFAULT_LIMITS, "auth": Limit(5, 60, 5)}``. A
    category missing from it is not limited. With ``redis_url`` the limits
    are counted in Redis and shared by every process using the same URL and
    ``redis_prefix``; without it each process counts on its own.

    ``cors_origins`` lists the origins (``https://status.example.com``)
    allowed to call the app from a browser; empty sends no CORS headers at
    all, and ``"*"`` allows any origin but cannot be combined with
    ``cors_credentials``. ``hsts_max_age`` of 0 and an empty string for any
    other header leave that header out. ``compression`` lists the codings
    offered, in order of preference; empty turns compression off.
    """

    limits: Mapping[str, Limit] = field(default_factory=_default_limits)
    redis_url: str | None = None
    redis_prefix: str = "upcast:ratelimit:"

    cors_origins: tuple[str, ...] = ()
    cors_methods: tuple[str, ...] = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
    cors_headers: tuple[str, ...] = ("Authorization", "Content-Type")
    cors_expose_headers: tuple[str, ...] = (
        "Location",
        "Retry-After",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
    )
    cors_credentials: bool = False
    cors_max_age: int = 600

    content_security_policy: str = DEFAULT_CSP
    hsts_max_age: int = 365 * 24 * 3600
    frame_options: str = "DENY"
    referrer_policy: str = "no-referrer"

    compression: tuple[str, ...] = _CODINGS
    compress_min_size: int = 1024
    # API answers are made once and read once: the fastest levels cost a
    # tenth of the default ones' time for answers about a tenth larger.
    gzip_level: int = 1
    brotli_quality: int = 1

    def __post_init__(self) -> None:
        for origin in self.cors_origins:
            if origin != "*" and not _is_origin(origin):
                raise ValueError(
                    f"cors_origins: {origin!r} is not an origin "
                    "(scheme://host or scheme://host:port, no path)"
                )
        if "*" in self.cors_origins and self.cors_credentials:
            raise ValueError(
                "cors_origins: '*' cannot be combined with cors_credentials; "
                "list the origins instead"
            )
        unknown = [coding for coding in self.compression if coding not in _CODINGS]
        if unknown:
            raise ValueError(f"compression: unknown codings {unknown}; use br, gzip")
        if self.cors_max_age < 0 or self.hsts_max_age < 0:
            raise ValueError("cors_max_age and hsts_max_age cannot be negative")
        if self.compress_min_size < 0:
            raise ValueError("compress_min_size cannot be negative")


def _is_origin(value: str) -> bool:
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return False
    return (
        (port is None or port > 0)
        and parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and parts.path == ""
        and not parts.query
        and not parts.fragment
        and "@" not in parts.netloc
    )


# -- rate limiters ------------------------------------------------------------


class RateLimiter(Protocol):
    """Counts requests per key against a ``Limit``."""

    async def hit(self, key: str, limit: Limit) -> Decision:
        """Count one request for ``key`` and say whether it is allowed."""
        ...

    async def close(self) -> None:
        """Release what the limiter holds (connections); it is not used after."""
        ...


_US = 1_000_000


def _interval_us(limit: Limit) -> int:
    """A limit's interval in whole microseconds, the unit both limiters count in.

    Whole numbers keep the arithmetic exact: in floats, twenty intervals of
    0.6 s add up to a hair over 12 s, and the twentieth request of a burst of
    20 would be refused.
    """
    return max(1, round(limit.interval * _US))


def _gcra(tat: int, now: int, limit: Limit) -> tuple[Decision, int | None]:
    """One GCRA step: the decision, and the key's new arrival time if allowed.

    Times are in microseconds.

    1. The theoretical arrival time (TAT) is when the client's budget would
       be full again; a TAT in the past means a full budget.
    2. Counting a request moves the TAT one interval later; the request is
       allowed if the new TAT is at most ``burst`` intervals ahead of now.
    3. What is left of the burst is how many whole intervals remain between
       that point and now.
    """
    interval = _interval_us(limit)
    tat = max(tat, now)
    new_tat = tat + interval
    allow_at = new_tat - limit.burst * interval
    if now < allow_at:
        return Decision(False, (allow_at - now) / _US, 0, (tat - now) / _US), None
    remaining = (now - allow_at) // interval
    return Decision(True, 0.0, remaining, (new_tat - now) / _US), new_tat


class MemoryLimiter:
    """A rate limiter counting in this process's memory.

    Each key costs one integer. A key whose budget has refilled completely
    holds nothing a fresh key would not, so idle keys are swept away every
    ``sweep_every`` seconds. If more than ``max_keys`` keys are still busy,
    the least recently seen are forgotten: those clients get a fresh budget,
    which only happens when that many clients are limited at the same time.

    Counts are per process: gateways running as several processes or
    instances each allow the full budget. Use ``RedisLimiter`` to share one.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
        sweep_every: float = 30.0,
    ) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._sweep_every = sweep_every
        # Insertion order is kept as recency: a key is moved to the end when hit.
        self._tats: dict[str, int] = {}
        self._swept_at = round(clock() * _US)
        # Gateways may run on several threads' loops and share a limiter.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._tats)

    async def hit(self, key: str, limit: Limit) -> Decision:
        with self._lock:
            now = round(self._clock() * _US)
            if now - self._swept_at >= self._sweep_every * _US:
                self._sweep(now)

            tat = self._tats.pop(key, now)
            decision, new_tat = _gcra(tat, now, limit)
            if new_tat is not None:
                tat = new_tat
            if tat > now:
                self._tats[key] = tat

            if len(self._tats) > self._max_keys:
                self._sweep(now)
                while len(self._tats) > self._max_keys:
                    del self._tats[next(iter(self._tats))]
            return decision

    async def close(self) -> None:
        with self._lock:
            self._tats.clear()

    def _sweep(self, now: int) -> None:
        self._swept_at = now
        idle = [key for key, tat in self._tats.items() if tat <= now]
        for key in idle:
            del self._tats[key]


# The GCRA step of ``_gcra`` run inside Redis, so that it is atomic across
# every client of the server. Times are whole microseconds of Redis's own
# clock (exact in Lua's doubles), so gateways with skewed clocks agree.
# KEYS[1] the key; ARGV[1] the interval in microseconds; ARGV[2] the burst.
# Returns allowed (0 or 1), retry after, remaining, reset after (microseconds).
_GCRA_SCRIPT = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
    tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
    return {0, allow_at - now, 0, tat - now}
end
local ttl_ms = math.ceil((new_tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', ttl_ms)
return {1, 0, math.floor((now - allow_at) / interval), new_tat - now}
"""


class RedisLimiter:
    """A rate limiter counting in Redis, shared by every process that uses it.

    Each key is one Redis string under ``prefix`` holding the key's GCRA
    arrival time, updated by one Lua script (atomic on the server) and set
    to expire when the key's budget is full again, so idle clients cost
    nothing. The Redis server's clock is used, never the gateway's.

    When Redis cannot be reached or fails, the limiter fails open: requests
    are allowed, as if each key had its full budget, and a warning is logged
    at most once per ``warn_every`` seconds (a minute by default) while it
    lasts. Rate limits protect the gateway; losing them for a while does
    less harm than refusing every client because Redis is down. After a
    failure Redis is left alone for ``retry_every`` seconds, so that requests
    do not each wait for a connection timeout.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "upcast:ratelimit:",
        timeout: float = 0.5,
        warn_every: float = 60.0,
        retry_every: float = 1.0,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._warn_every = warn_every
        self._retry_every = retry_every
        # One attempt per call: a retry with back-off would hold the request.
        self._client: Redis = Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._client.register_script(_GCRA_SCRIPT)
        self._failing = False
        self._warned_at: float | None = None
        self._paused_until = 0.0

    async def hit(self, key: str, limit: Limit) -> Decision:
        now = time.monotonic()
        if now < self._paused_until:
            return _unlimited(limit)

        try:
            reply = await self._script(
                keys=[self._prefix + key], args=[_interval_us(limit), limit.burst]
            )
        except (RedisError, OSError) as exc:
            self._paused_until = now + self._retry_every
            self._failed(now, exc)
            return _unlimited(limit)

        if self._failing:
            self._failing = False
            logger.info("redis at %s answers again: rate limits are enforced", self)
        allowed, retry_after, remaining, reset_after = (int(n) for n in reply)
        return Decision(
            allowed=allowed == 1,
            retry_after=retry_after / _US,
            remaining=remaining,
            reset_after=reset_after / _US,
        )

    async def close(self) -> None:
        await self._client.aclose()

    def _failed(self, now: float, exc: BaseException) -> None:
        self._failing = True
        if self._warned_at is not None and now - self._warned_at < self._warn_every:
            return
        self._warned_at = now
        logger.warning(
            "rate limits are not enforced: redis at %s failed: %s", self, exc
        )

    def __str__(self) -> str:
        return _without_password(self._url)


def _unlimited(limit: Limit) -> Decision:
    return Decision(True, 0.0, limit.burst - 1, 0.0)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


def limiter_for(settings: ProtectionSettings) -> RateLimiter:
    """The limiter ``settings`` ask for: in Redis when a URL is set."""
    if settings.redis_url:
        return RedisLimiter(settings.redis_url, prefix=settings.redis_prefix)
    return MemoryLimiter()


# -- sorting requests ---------------------------------------------------------

_ADMIN_PATHS = ("/api/v1/admin", "/api/v1/users", "/api/v1/keys", "/api/v1/activity")


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def default_category(request: Request) -> str | None:
    """The rate limit category of a request to the Upcast gateway, by path.

    Push pings are ``ingest``; logins and token refreshes ``auth``; users,
    keys, the activity log and ``/api/v1/admin`` are ``admin``; the rest of
    ``/api`` is ``api``, a user's preferences too (a dashboard saves them as
    its layout changes, far more often than anyone signs in). Health
    probes, ``/metrics``, live updates and static files are not limited
    (None).
    """
    path = request.path
    if _under(path, "/push"):
        return "ingest"
    if _under(path, "/api/v1/auth/me/preferences"):
        return "api"
    if _under(path, "/api/v1/auth"):
        return "auth"
    if any(_under(path, prefix) for prefix in _ADMIN_PATHS):
        return "admin"
    if _under(path, "/api"):
        return "api"
    return None


def default_identity(request: Request) -> str:
    """Who is counted: the signed-in principal if any, else the client address.

    ``request.remote_addr`` is the address forwarded by trusted proxies (see
    Sanic's ``PROXIES_COUNT`` and ``REAL_IP_HEADER``); without them it is
    empty and the peer's own address is used.
    """
    principal = getattr(request.ctx, "principal_id", None)
    if principal is not None:
        return f"principal:{principal}"
    return f"address:{request.remote_addr or request.ip}"


# -- the middleware -----------------------------------------------------------


def install_protection(
    app: Sanic[Any, Any],
    settings: ProtectionSettings,
    *,
    category_of: Callable[[Request], str | None] | None = None,
    identity_of: Callable[[Request], str | None] | None = None,
    limiter: RateLimiter | None = None,
) -> None:
    """Rate limit, CORS, security headers and compression for ``app``.

    ``category_of`` names a request's rate limit category (None: not
    limited), ``identity_of`` the client it is counted for (None: not
    limited); ``default_category`` and ``default_identity`` are used when
    they are not given. Without ``limiter`` one is made by ``limiter_for``
    and closed when the server stops; a limiter passed in stays the
    caller's to close.

    Call it before the app starts serving. The middleware priorities are
    ``PREFLIGHT_PRIORITY``, ``RATE_LIMIT_PRIORITY`` and ``RESPONSE_PRIORITY``.
    """
    guard = _Guard(
        settings,
        category_of or default_category,
        identity_of or default_identity,
        limiter if limiter is not None else limiter_for(settings),
    )
    if settings.cors_origins:
        app.register_middleware(
            guard.answer_preflight, "request", priority=PREFLIGHT_PRIORITY
        )
    app.register_middleware(guard.limit_rate, "request", priority=RATE_LIMIT_PRIORITY)
    app.register_middleware(guard.finish, "response", priority=RESPONSE_PRIORITY)

    if limiter is None:

        async def close_limiter(app: Sanic[Any, Any]) -> None:
            await guard.limiter.close()

        app.register_listener(close_limiter, "after_server_stop")


@dataclass(frozen=True, slots=True)
class _Counted:
    """What the rate limiter said about a request, kept for its response."""

    limit: Limit
    decision: Decision


class _Guard:
    """The middleware of one protected app, sharing its settings and limiter."""

    def __init__(
        self,
        settings: ProtectionSettings,
        category_of: Callable[[Request], str | None],
        identity_of: Callable[[Request], str | None],
        limiter: RateLimiter,
    ) -> None:
        self.settings = settings
        self.category_of = category_of
        self.identity_of = identity_of
        self.limiter = limiter
        self._unknown_categories: set[str] = set()
        self._any_origin = "*" in settings.cors_origins
        self._origins = frozenset(
            origin.lower() for origin in settings.cors_origins if origin != "*"
        )
        self._security_headers = _security_headers(settings)

    async def answer_preflight(self, request: Request) -> HTTPResponse | None:
        """Answer a CORS preflight: 204 for an allowed origin, 403 otherwise."""
        if request.method != "OPTIONS":
            return None
        origin = request.headers.get("origin")
        if origin is None or "access-control-request-method" not in request.headers:
            return None

        if not self._allows(origin):
            logger.debug("refused a preflight from origin %s", origin)
            return error_response(
                403, "cross-origin requests from this origin are not allowed"
            )

        settings = self.settings
        response = HTTPResponse(status=204)
        headers = response.headers
        headers["Access-Control-Allow-Methods"] = ", ".join(settings.cors_methods)
        if settings.cors_headers:
            headers["Access-Control-Allow-Headers"] = ", ".join(settings.cors_headers)
        headers["Access-Control-Max-Age"] = str(settings.cors_max_age)
        self._add_cors_headers(request, response)
        return response

    async def limit_rate(self, request: Request) -> HTTPResponse | None:
        """Count the request against its category; 429 once the budget is spent."""
        category = self.category_of(request)
        if category is None:
            return None
        limit = self.settings.limits.get(category)
        if limit is None:
            if category not in self._unknown_categories:
                self._unknown_categories.add(category)
                logger.warning("rate limit category %s has no limit", category)
            return None
        identity = self.identity_of(request)
        if identity is None:
            return None

        decision = await self.limiter.hit(f"{category}:{identity}", limit)
        request.ctx.rate_limit = _Counted(limit, decision)
        if decision.allowed:
            return None

        seconds = _whole_seconds(decision.retry_after)
        logger.debug(
            "refused %s %s: category=%s identity=%s retry_after=%.3f",
            request.method,
            request.path,
            category,
            identity,
            decision.retry_after,
        )
        response = error_response(
            429,
            f"too many {category} requests: the limit is {limit}; retry in {seconds} s",
        )
        response.headers["Retry-After"] = str(seconds)
        return response

    async def finish(self, request: Request, response: BaseHTTPResponse) -> None:
        """Add the headers every response carries, then compress the body.

        Counted requests get the three fields of the IETF rate limit draft
        (draft-ietf-httpapi-ratelimit-headers-04): ``RateLimit-Limit`` is the
        burst, the most requests a client with a full budget may send at
        once; ``RateLimit-Remaining`` how many it may still send now; and
        ``RateLimit-Reset`` the seconds until its budget is full again.
        """
        headers = response.headers
        for name, value in self._security_headers:
            headers.setdefault(name, value)
        if self.settings.cors_origins:
            self._add_cors_headers(request, response)

        counted = getattr(request.ctx, "rate_limit", None)
        if isinstance(counted, _Counted):
            decision = counted.decision
            headers["RateLimit-Limit"] = str(counted.limit.burst)
            headers["RateLimit-Remaining"] = str(decision.remaining)
            headers["RateLimit-Reset"] = str(math.ceil(decision.reset_after))

        if self.settings.compression and isinstance(response, HTTPResponse):
            await self._compress(request, response)

    def _allows(self, origin: str) -> bool:
        return self._any_origin or origin.lower() in self._origins

    def _add_cors_headers(self, request: Request, response: BaseHTTPResponse) -> None:
        headers = response.headers
        settings = self.settings
        # Answers differ by origin unless every origin gets the same one.
        if not self._any_origin:
            _add_vary(headers, "Origin")
        origin = request.headers.get("origin")
        if origin is None or not self._allows(origin):
            return

        if self._any_origin:
            headers["Access-Control-Allow-Origin"] = "*"
        else:
            headers["Access-Control-Allow-Origin"] = origin
        if settings.cors_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        if settings.cors_expose_headers and request.method != "OPTIONS":
            exposed = ", ".join(settings.cors_expose_headers)
            headers["Access-Control-Expose-Headers"] = exposed

    async def _compress(self, request: Request, response: HTTPResponse) -> None:
        """Compress the body if it is worth it and the client accepts a coding.

        Left alone: streamed responses (their body is not here), bodies under
        ``compress_min_size``, responses without a body (204, 304), partial
        content, bodies already encoded, ``Cache-Control: no-transform``, and
        content types that do not compress (images, archives, fonts).
        """
        settings = self.settings
        body = response.body
        headers = response.headers
        if not body or len(body) < settings.compress_min_size:
            return
        if response.status in (204, 206, 304) or response.status < 200:
            return
        if "content-encoding" in headers or "content-range" in headers:
            return
        if "no-transform" in headers.get("cache-control", "").lower():
            return
        if not is_compressible(headers.get("content-type") or response.content_type):
            return

        # The answer now depends on Accept-Encoding, whatever this client sent.
        _add_vary(headers, "Accept-Encoding")
        accepted = request.headers.get("accept-encoding", "")
        coding = choose_encoding(accepted, settings.compression)
        if coding is None:
            return

        if len(body) >= THREADED_COMPRESSION_SIZE:
            encoded = await asyncio.to_thread(self._encode, body, coding)
        else:
            encoded = self._encode(body, coding)
        if len(encoded) >= len(body):
            return

        response.body = encoded
        headers["Content-Encoding"] = coding
        # Sanic sets the length of the body it sends.
        headers.pop("content-length", None)
        etag = headers.get("etag")
        if etag is not None and not etag.startswith("W/"):
            # The bytes differ from the identity body's, so the tag is weak.
            headers["ETag"] = "W/" + etag

    def _encode(self, body: bytes, coding: str) -> bytes:
        settings = self.settings
        return compress(
            body,
            coding,
            brotli_quality=settings.brotli_quality,
            gzip_level=settings.gzip_level,
        )


def compress(
    body: bytes, coding: str, *, brotli_quality: int, gzip_level: int
) -> bytes:
    """``body`` in a content coding, "br" or "gzip", at the given level."""
    if coding == "br":
        encoded: bytes = brotli.compress(body, quality=brotli_quality)
        return encoded
    return gzip.compress(body, compresslevel=gzip_level, mtime=0)


def _security_headers(settings: ProtectionSettings) -> tuple[tuple[str, str], ...]:
    headers = [
        ("Content-Security-Policy", settings.content_security_policy),
        ("X-Frame-Options", settings.frame_options),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", settings.referrer_policy),
    ]
    if settings.hsts_max_age:
        headers.append(
            ("Strict-Transport-Security", f"max-age={settings.hsts_max_age}")
        )
    return tuple((name, value) for name, value in headers if value)


def _whole_seconds(seconds: float) -> int:
    """A wait as a Retry-After value: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(seconds))


def _add_vary(headers: Header, token: str) -> None:
    """Add ``token`` to the Vary header unless it, or ``*``, is there already."""
    tokens = [
        part.strip()
        for value in headers.getall("vary", [])
        for part in value.split(",")
        if part.strip()
    ]
    lowered = {part.lower() for part in tokens}
    if "*" in lowered or token.lower() in lowered:
        return
    headers["Vary"] = ", ".join([*tokens, token])


# -- compression --------------------------------------------------------------

_COMPRESSIBLE_TYPES = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/ecmascript",
        "application/x-javascript",
        "application/xml",
        "application/x-ndjson",
        "application/graphql-response+json",
        "application/wasm",
        "image/svg+xml",
        "image/x-icon",
        "font/ttf",
        "font/otf",
    }
)


def is_compressible(content_type: str | None) -> bool:
    """Whether a body of this media type shrinks when compressed.

    Text, JSON, JavaScript, XML and SVG do; images other than SVG, audio,
    video, woff fonts and archives are compressed already.
    """
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return (
        media.startswith("text/")
        or media in _COMPRESSIBLE_TYPES
        or media.endswith(("+json", "+xml"))
    )


def choose_encoding(accept_encoding: str, offered: tuple[str, ...]) -> str | None:
    """The content coding to answer with, from the client's Accept-Encoding.

    Each offered coding gets the quality the client gave it (or the one it
    gave ``*``); the highest nonzero quality wins, and a tie goes to the
    coding offered first (brotli, by default). None means no compression.
    """
    qualities: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, parameters = item.partition(";")
        name = name.strip().lower()
        if not name:
            continue
        quality = 1.0
        for parameter in parameters.split(";"):
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[name] = quality

    best, best_quality = None, 0.0
    for coding in offered:
        quality = qualities.get(coding, qualities.get("*", 0.0))
        if quality > best_quality:
            best, best_quality = coding, quality
    return best
