"""Protecting a gateway: rate limits, CORS, security headers and compression.

Each test serves a small Sanic app of its own on 127.0.0.1 with a real httpx
client. The Redis limiter runs against the real Redis at ``REDIS_URL`` with
keys under a prefix of the test's own, deleted when the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import brotli  # type: ignore[import-untyped]
import httpx
import pytest
from redis.asyncio import Redis
from sanic import HTTPResponse, Request, Sanic
from sanic.response import json as json_response
from sanic.response import raw, text

from web.errors import install_error_handlers
from web.protection import (
    DEFAULT_LIMITS,
    Limit,
    MemoryLimiter,
    ProtectionSettings,
    RateLimiter,
    RedisLimiter,
    install_protection,
    is_compressible,
    limiter_for,
)
from web.server import start_gateway

REDIS_URL = os.environ.get("UPCAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

ORIGIN = "https://status.example.com"
OTHER_ORIGIN = "https://evil.example.net"

# Large enough to be compressed, and compressing well.
BIG = {"monitors": [{"id": f"web-{n}", "state": "up"} for n in range(200)]}
BIG_BYTES = json.dumps(BIG).encode()
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16

SECURITY_HEADERS = (
    "content-security-policy",
    "strict-transport-security",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
)


def tight(**limits: Limit) -> dict[str, Limit]:
    """The default limits with some categories replaced."""
    return {**DEFAULT_LIMITS, **limits}


def protected_app(
    settings: ProtectionSettings,
    *,
    limiter: RateLimiter | None = None,
    category_of: Callable[[Request], str | None] | None = None,
    identity_of: Callable[[Request], str | None] | None = None,
) -> Sanic[Any, Any]:
    """A small app with a route for each kind of answer the tests look at."""
    app: Sanic[Any, Any] = Sanic(
        f"protect-{uuid.uuid4().hex[:12]}", configure_logging=False
    )
    app.config.MOTD = False
    app.config.TOUCHUP = False
    app.config.FALLBACK_ERROR_FORMAT = "json"
    install_error_handlers(app)

    async def sign_in(request: Request) -> None:
        # Stands in for an authentication middleware at the default priority.
        principal = request.headers.get("x-principal")
        if principal is not None:
            request.ctx.principal_id = principal

    app.register_middleware(sign_in, "request")

    @app.get("/healthz")
    async def healthz(request: Request) -> HTTPResponse:
        return json_response({"status": "ok"})

    @app.get("/api/v1/monitors")
    async def monitors(request: Request) -> HTTPResponse:
        return json_response({"monitors": []})

    @app.get("/api/v1/big")
    async def big(request: Request) -> HTTPResponse:
        return json_response(BIG)

    @app.get("/api/v1/page")
    async def page(request: Request) -> HTTPResponse:
        return text("<p>up</p>" * 400, content_type="text/html; charset=utf-8")

    @app.get("/api/v1/small")
    async def small(request: Request) -> HTTPResponse:
        return json_response({"ok": True})

    @app.get("/api/v1/image")
    async def image(request: Request) -> HTTPResponse:
        return raw(PNG, content_type="image/png")

    @app.get("/api/v1/encoded")
    async def encoded(request: Request) -> HTTPResponse:
        return raw(
            gzip.compress(BIG_BYTES, mtime=0),
            content_type="application/json",
            headers={"Content-Encoding": "gzip"},
        )

    @app.get("/api/v1/stream")
    async def stream(request: Request) -> None:
        response = await request.respond(content_type="application/json")
        await response.send(BIG_BYTES)
        await response.eof()

    @app.get("/api/v1/nothing")
    async def nothing(request: Request) -> HTTPResponse:
        return HTTPResponse(status=204)

    @app.get("/api/v1/boom")
    async def boom(request: Request) -> HTTPResponse:
        raise RuntimeError("the handler failed")

    @app.post("/api/v1/auth/login")
    async def login(request: Request) -> HTTPResponse:
        return json_response({"token": "t"})

    @app.post("/push/<monitor_id>")
    async def push(request: Request, monitor_id: str) -> HTTPResponse:
        return json_response({"ok": True})

    install_protection(
        app,
        settings,
        limiter=limiter,
        category_of=category_of,
        identity_of=identity_of,
    )
    return app


@contextlib.asynccontextmanager
async def serving(app: Sanic[Any, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``app`` on a free port with a client pointed at it."""
    running = await start_gateway(app)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=10) as client:
            yield client
    finally:
        await running.stop()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of the test's own; its keys are deleted afterwards."""
    prefix = f"upcast-test:{uuid.uuid4().hex}:"
    yield prefix
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body


# -- rate limits through the gateway -----------------------------------------


async def test_a_client_gets_429_with_retry_after_once_its_burst_is_spent() -> None:
    settings = ProtectionSettings(limits=tight(api=Limit(rate=1, per=60, burst=3)))

    async with serving(protected_app(settings)) as client:
        allowed = [await client.get("/api/v1/monitors") for _ in range(3)]
        refused = await client.get("/api/v1/monitors")

    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert [r.headers["ratelimit-remaining"] for r in allowed] == ["2", "1", "0"]
    assert {r.headers["ratelimit-limit"] for r in allowed} == {"3"}
    assert refused.status_code == 429
    assert 59 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    error = error_of(refused)
    assert error["status"] == 429
    assert "too many api requests" in error["message"]
    assert f"retry in {refused.headers['retry-after']} s" in error["message"]


async def test_retry_after_is_a_whole_second_even_when_the_wait_is_shorter() -> None:
    settings = ProtectionSettings(limits=tight(api=Limit(rate=10, per=1, burst=1)))

    async with serving(protected_app(settings)) as client:
        await client.get("/api/v1/monitors")
        refused = await client.get("/api/v1/monitors")

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"


@pytest.mark.parametrize(
    ("method", "path", "category"),
    [
        ("POST", "/push/backup-job", "ingest"),
        ("POST", "/api/v1/auth/login", "auth"),
        ("POST", "/api/v1/auth/refresh", "auth"),
        ("GET", "/api/v1/admin/settings", "admin"),
        ("GET", "/api/v1/users", "admin"),
        ("DELETE", "/api/v1/users/7", "admin"),
        ("GET", "/api/v1/keys", "admin"),
        ("GET", "/api/v1/activity", "admin"),
        ("GET", "/api/v1/monitors", "api"),
        ("GET", "/api/v1/usersettings", "api"),
    ],
)
async def test_requests_are_sorted_into_categories_by_path(
    method: str, path: str, category: str
) -> None:
    one_each = Limit(rate=1, per=60, burst=1)
    limits = {name: one_each for name in ("ingest", "api", "auth", "admin")}
    settings = ProtectionSettings(limits=limits)

    async with serving(protected_app(settings)) as client:
        first = await client.request(method, path)
        second = await client.request(method, path)

    assert first.status_code != 429
    assert second.status_code == 429
    assert f"too many {category} requests" in error_of(second)["message"]


@pytest.mark.parametrize("path", ["/healthz", "/metrics", "/static/app.js", "/"])
async def test_probes_metrics_and_static_files_are_not_limited(path: str) -> None:
    one_each = Limit(rate=1, per=60, burst=1)
    limits = {name: one_each for name in ("ingest", "api", "auth", "admin")}

    async with serving(protected_app(ProtectionSettings(limits=limits))) as client:
        responses = [await client.get(path) for _ in range(5)]

    assert all(r.status_code != 429 for r in responses)
    assert all("ratelimit-limit" not in r.headers for r in responses)


async def test_spending_one_categorys_budget_leaves_the_others_alone() -> None:
    settings = ProtectionSettings(
        limits=tight(
            auth=Limit(rate=1, per=60, burst=2), api=Limit(rate=1, per=60, burst=2)
        )
    )

    async with serving(protected_app(settings)) as client:
        logins = [await client.post("/api/v1/auth/login") for _ in range(3)]
        reads = [await client.get("/api/v1/monitors") for _ in range(2)]
        ping = await client.post("/push/backup-job")

    assert [r.status_code for r in logins] == [200, 200, 429]
    assert [r.status_code for r in reads] == [200, 200]
    assert ping.status_code == 200


@pytest.mark.parametrize(
    ("header", "first", "second"),
    [
        ("x-client", "alice", "bob"),
        ("x-principal", "user-1", "user-2"),
    ],
)
async def test_each_client_has_a_budget_of_its_own(
    header: str, first: str, second: str
) -> None:
    settings = ProtectionSettings(limits=tight(api=Limit(rate=1, per=60, burst=1)))

    def by_client_header(request: Request) -> str | None:
        return request.headers.get("x-client")

    identity_of = by_client_header if header == "x-client" else None
    app = protected_app(settings, identity_of=identity_of)
    async with serving(app) as client:
        a1 = await client.get("/api/v1/monitors", headers={header: first})
        a2 = await client.get("/api/v1/monitors", headers={header: first})
        b1 = await client.get("/api/v1/monitors", headers={header: second})

    assert [a1.status_code, a2.status_code, b1.status_code] == [200, 429, 200]


async def test_a_limiter_passed_in_is_used_and_left_open() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(clock=clock)
    settings = ProtectionSettings(limits=tight(api=Limit(rate=1, per=60, burst=1)))

    async with serving(protected_app(settings, limiter=limiter)) as client:
        allowed = await client.get("/api/v1/monitors")
        refused = await client.get("/api/v1/monitors")
        clock.now += 60
        again = await client.get("/api/v1/monitors")

    statuses = [r.status_code for r in (allowed, refused, again)]
    assert statuses == [200, 429, 200]
    assert len(limiter) == 1


async def test_a_signed_in_principal_is_counted_apart_from_its_address() -> None:
    settings = ProtectionSettings(limits=tight(api=Limit(rate=1, per=60, burst=1)))

    async with serving(protected_app(settings)) as client:
        anonymous = await client.get("/api/v1/monitors")
        signed_in = await client.get("/api/v1/monitors", headers={"x-principal": "7"})
        anonymous_again = await client.get("/api/v1/monitors")

    statuses = [r.status_code for r in (anonymous, signed_in, anonymous_again)]
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize(
    ("category", "limited"),
    [("reports", True), ("unlisted", False), (None, False)],
)
async def test_a_category_of_the_callers_own_is_limited_only_if_it_has_a_limit(
    category: str | None, limited: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="web.protection")
    settings = ProtectionSettings(limits={"reports": Limit(rate=1, per=60, burst=1)})

    def everything_is(request: Request) -> str | None:
        return category

    app = protected_app(settings, category_of=everything_is)
    async with serving(app) as client:
        responses = [await client.get("/healthz") for _ in range(3)]

    statuses = [r.status_code for r in responses]
    assert statuses == ([200, 429, 429] if limited else [200, 200, 200])
    warnings = [r.getMessage() for r in caplog.records if r.name == "web.protection"]
    if category == "unlisted":
        assert warnings == ["rate limit category unlisted has no limit"]
    else:
        assert warnings == []


# -- the limiters on their own ------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "hits", "allowed", "remaining"),
    [
        (Limit(1, 60, 3), 5, [True] * 3 + [False] * 2, [2, 1, 0, 0, 0]),
        (Limit(100, 60, 20), 21, [True] * 20 + [False], [*range(19, -1, -1), 0]),
        (Limit(10, 1, 1), 2, [True, False], [0, 0]),
    ],
)
async def test_the_memory_limiter_allows_the_burst_then_refuses(
    limit: Limit, hits: int, allowed: list[bool], remaining: list[int]
) -> None:
    limiter = MemoryLimiter(clock=FakeClock())

    decisions = [await limiter.hit("k", limit) for _ in range(hits)]

    assert [d.allowed for d in decisions] == allowed
    assert [d.remaining for d in decisions] == remaining
    assert decisions[-1].retry_after == pytest.approx(limit.interval)


@pytest.mark.parametrize(
    ("wait", "allowed", "remaining"),
    [
        (0.5, False, 0),
        (1.0, True, 0),
        (2.0, True, 1),
        (3.0, True, 2),
        (600.0, True, 2),
    ],
)
async def test_the_memory_limiter_refills_one_request_per_interval(
    wait: float, allowed: bool, remaining: int
) -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(clock=clock)
    limit = Limit(rate=1, per=1, burst=3)
    for _ in range(3):
        await limiter.hit("k", limit)

    clock.now += wait
    decision = await limiter.hit("k", limit)

    assert decision.allowed is allowed
    assert decision.remaining == remaining


async def test_the_memory_limiter_forgets_keys_once_their_budget_is_full() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(clock=clock, sweep_every=10)
    limit = Limit(rate=1, per=1, burst=5)
    for n in range(50):
        await limiter.hit(f"client-{n}", limit)
    assert len(limiter) == 50

    clock.now += 11
    await limiter.hit("late", limit)

    assert len(limiter) == 1


async def test_the_memory_limiter_holds_at_most_max_keys() -> None:
    limiter = MemoryLimiter(clock=FakeClock(), max_keys=10)
    limit = Limit(rate=1, per=60, burst=2)

    for n in range(100):
        await limiter.hit(f"client-{n}", limit)

    assert len(limiter) == 10
    # The most recent clients keep their counts; the oldest start afresh.
    assert (await limiter.hit("client-99", limit)).remaining == 0
    assert (await limiter.hit("client-0", limit)).remaining == 1


LimiterFactory = Callable[[str], Awaitable[RateLimiter]]


async def memory_limiter(prefix: str) -> RateLimiter:
    return MemoryLimiter()


async def redis_limiter(prefix: str) -> RateLimiter:
    return RedisLimiter(REDIS_URL, prefix=prefix)


@pytest.mark.parametrize("make", [memory_limiter, redis_limiter])
@pytest.mark.parametrize(
    ("limit", "hits", "allowed", "remaining"),
    [
        (Limit(1, 60, 3), 5, [True] * 3 + [False] * 2, [2, 1, 0, 0, 0]),
        (Limit(600, 60, 10), 11, [True] * 10 + [False], [*range(9, -1, -1), 0]),
    ],
)
async def test_both_limiters_count_alike(
    make: LimiterFactory,
    redis_prefix: str,
    limit: Limit,
    hits: int,
    allowed: list[bool],
    remaining: list[int],
) -> None:
    limiter = await make(redis_prefix)
    try:
        decisions = [await limiter.hit("client", limit) for _ in range(hits)]
    finally:
        await limiter.close()

    assert [d.allowed for d in decisions] == allowed
    assert [d.remaining for d in decisions] == remaining
    assert 0 < decisions[-1].retry_after <= limit.interval


@pytest.mark.parametrize("make", [memory_limiter, redis_limiter])
async def test_both_limiters_allow_again_after_retry_after(
    make: LimiterFactory, redis_prefix: str
) -> None:
    limit = Limit(rate=1, per=0.2, burst=1)
    limiter = await make(redis_prefix)
    try:
        first = await limiter.hit("client", limit)
        refused = await limiter.hit("client", limit)
        await asyncio.sleep(refused.retry_after + 0.02)
        again = await limiter.hit("client", limit)
    finally:
        await limiter.close()

    assert [first.allowed, refused.allowed, again.allowed] == [True, False, True]
    assert 0 < refused.retry_after <= 0.2


async def test_two_redis_limiters_share_one_budget(redis_prefix: str) -> None:
    limit = Limit(rate=1, per=60, burst=3)
    one = RedisLimiter(REDIS_URL, prefix=redis_prefix)
    two = RedisLimiter(REDIS_URL, prefix=redis_prefix)
    try:
        decisions = [
            await one.hit("client", limit),
            await two.hit("client", limit),
            await one.hit("client", limit),
            await two.hit("client", limit),
        ]
    finally:
        await one.close()
        await two.close()

    assert [d.allowed for d in decisions] == [True, True, True, False]


async def test_redis_keys_carry_the_prefix_and_expire_when_the_budget_refills(
    redis_prefix: str,
) -> None:
    limiter = RedisLimiter(REDIS_URL, prefix=redis_prefix)
    try:
        await limiter.hit("api:address:10.0.0.1", Limit(rate=1, per=60, burst=3))
    finally:
        await limiter.close()

    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=redis_prefix + "*")]
        ttl = await client.pttl(keys[0])
    finally:
        await client.aclose()
    assert keys == [f"{redis_prefix}api:address:10.0.0.1".encode()]
    assert 59_000 < ttl <= 60_000


async def test_two_gateways_on_one_redis_share_a_clients_budget(
    redis_prefix: str,
) -> None:
    settings = ProtectionSettings(
        limits=tight(api=Limit(rate=1, per=60, burst=2)),
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
    )

    async with (
        serving(protected_app(settings)) as first,
        serving(protected_app(settings)) as second,
    ):
        statuses = [
            (await first.get("/api/v1/monitors")).status_code,
            (await second.get("/api/v1/monitors")).status_code,
            (await first.get("/api/v1/monitors")).status_code,
            (await second.get("/api/v1/monitors")).status_code,
        ]

    assert statuses == [200, 200, 429, 429]


async def test_an_unreachable_redis_lets_requests_through_and_warns_once(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="web.protection")
    limiter = RedisLimiter(f"redis://:hunter2@127.0.0.1:{closed_port}/0", retry_every=0)
    limit = Limit(rate=1, per=60, burst=1)
    try:
        decisions = [await limiter.hit("client", limit) for _ in range(5)]
    finally:
        await limiter.close()

    assert all(d.allowed for d in decisions)
    warnings = [r for r in caplog.records if r.name == "web.protection"]
    assert len(warnings) == 1
    assert "rate limits are not enforced" in warnings[0].getMessage()
    assert "hunter2" not in warnings[0].getMessage()


async def test_a_gateway_with_an_unreachable_redis_serves_every_request(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="web.protection")
    settings = ProtectionSettings(
        limits=tight(api=Limit(rate=1, per=60, burst=1)),
        redis_url=f"redis://127.0.0.1:{closed_port}/0",
    )

    async with serving(protected_app(settings)) as client:
        responses = [await client.get("/api/v1/monitors") for _ in range(4)]

    assert [r.status_code for r in responses] == [200] * 4
    assert len([r for r in caplog.records if r.name == "web.protection"]) == 1


@pytest.mark.parametrize(
    ("redis_url", "kind"),
    [(None, MemoryLimiter), (REDIS_URL, RedisLimiter)],
)
async def test_limiter_for_counts_in_redis_only_when_a_url_is_set(
    redis_url: str | None, kind: type
) -> None:
    limiter = limiter_for(ProtectionSettings(redis_url=redis_url))

    assert isinstance(limiter, kind)
    await limiter.close()


# -- CORS ---------------------------------------------------------------------


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.startswith("access-control-")
    }


PREFLIGHT = {"Access-Control-Request-Method": "POST"}


@pytest.mark.parametrize(
    "path", ["/api/v1/monitors", "/api/v1/auth/login", "/api/v1/no-such-thing"]
)
async def test_a_preflight_from_an_allowed_origin_is_answered_204(path: str) -> None:
    settings = ProtectionSettings(cors_origins=(ORIGIN,))

    async with serving(protected_app(settings)) as client:
        response = await client.options(path, headers={"Origin": ORIGIN, **PREFLIGHT})

    assert response.status_code == 204
    headers = cors_headers(response)
    assert headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in headers["access-control-allow-methods"]
    assert "Authorization" in headers["access-control-allow-headers"]
    assert headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in headers
    assert "Origin" in response.headers["vary"]
    assert "ratelimit-limit" not in response.headers


@pytest.mark.parametrize(
    ("origins", "origin", "status"),
    [
        ((ORIGIN,), OTHER_ORIGIN, 403),
        ((ORIGIN,), "https://status.example.com.evil.net", 403),
        ((), ORIGIN, 405),
    ],
)
async def test_a_preflight_from_another_origin_gets_no_cors_headers(
    origins: tuple[str, ...], origin: str, status: int
) -> None:
    settings = ProtectionSettings(cors_origins=origins)

    async with serving(protected_app(settings)) as client:
        response = await client.options(
            "/api/v1/monitors", headers={"Origin": origin, **PREFLIGHT}
        )

    assert response.status_code == status
    assert cors_headers(response) == {}


@pytest.mark.parametrize(
    ("origins", "credentials", "origin", "allowed_as"),
    [
        ((ORIGIN,), False, ORIGIN, ORIGIN),
        ((ORIGIN,), True, ORIGIN, ORIGIN),
        (("*",), False, ORIGIN, "*"),
        ((ORIGIN,), False, OTHER_ORIGIN, None),
        ((), False, ORIGIN, None),
    ],
)
async def test_a_request_from_an_allowed_origin_may_be_read_by_it(
    origins: tuple[str, ...], credentials: bool, origin: str, allowed_as: str | None
) -> None:
    settings = ProtectionSettings(cors_origins=origins, cors_credentials=credentials)

    async with serving(protected_app(settings)) as client:
        response = await client.get("/api/v1/monitors", headers={"Origin": origin})

    assert response.status_code == 200
    headers = cors_headers(response)
    if allowed_as is None:
        assert headers == {}
        return
    assert headers["access-control-allow-origin"] == allowed_as
    assert "RateLimit-Remaining" in headers["access-control-expose-headers"]
    if credentials:
        assert headers["access-control-allow-credentials"] == "true"
    else:
        assert "access-control-allow-credentials" not in headers
    if allowed_as != "*":
        assert "Origin" in response.headers["vary"]


async def test_a_refused_request_can_still_be_read_by_an_allowed_origin() -> None:
    settings = ProtectionSettings(
        cors_origins=(ORIGIN,), limits=tight(api=Limit(rate=1, per=60, burst=1))
    )

    async with serving(protected_app(settings)) as client:
        await client.get("/api/v1/monitors", headers={"Origin": ORIGIN})
        refused = await client.get("/api/v1/monitors", headers={"Origin": ORIGIN})

    assert refused.status_code == 429
    assert cors_headers(refused)["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"cors_origins": ("*",), "cors_credentials": True}, "cors_credentials"),
        ({"cors_origins": ("https://status.example.com/",)}, "not an origin"),
        ({"cors_origins": ("status.example.com",)}, "not an origin"),
        ({"cors_origins": ("https://status.example.com:99999",)}, "not an origin"),
        ({"compression": ("zstd",)}, "unknown codings"),
        ({"cors_max_age": -1}, "cannot be negative"),
    ],
)
def test_settings_that_cannot_work_are_refused(
    fields: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        ProtectionSettings(**fields)


@pytest.mark.parametrize(
    ("rate", "per", "burst"),
    [(0, 60, 1), (-1, 60, 1), (1, 0, 1), (1, float("inf"), 1), (1, 60, 0)],
)
def test_limits_that_cannot_work_are_refused(
    rate: float, per: float, burst: int
) -> None:
    with pytest.raises(ValueError, match="must be"):
        Limit(rate, per, burst)


# -- security headers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/monitors", 200),
        ("GET", "/healthz", 200),
        ("GET", "/api/v1/nothing", 204),
        ("GET", "/no/such/page", 404),
        ("POST", "/healthz", 405),
        ("GET", "/api/v1/boom", 500),
    ],
)
async def test_every_response_carries_the_security_headers(
    method: str, path: str, status: int
) -> None:
    async with serving(protected_app(ProtectionSettings())) as client:
        response = await client.request(method, path)

    assert response.status_code == status
    headers = response.headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["strict-transport-security"] == "max-age=31536000"
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    if status >= 400:
        assert error_of(response)["status"] == status


async def test_a_refusal_carries_the_security_headers_too() -> None:
    settings = ProtectionSettings(limits=tight(api=Limit(rate=1, per=60, burst=1)))

    async with serving(protected_app(settings)) as client:
        await client.get("/api/v1/monitors")
        refused = await client.get("/api/v1/monitors")

    assert refused.status_code == 429
    assert all(name in refused.headers for name in SECURITY_HEADERS)


async def test_security_headers_set_to_empty_are_left_out() -> None:
    settings = ProtectionSettings(
        content_security_policy="", hsts_max_age=0, referrer_policy=""
    )

    async with serving(protected_app(settings)) as client:
        response = await client.get("/healthz")

    assert "content-security-policy" not in response.headers
    assert "strict-transport-security" not in response.headers
    assert "referrer-policy" not in response.headers
    assert response.headers["x-frame-options"] == "DENY"


# -- compression --------------------------------------------------------------


async def fetch_raw(
    client: httpx.AsyncClient, path: str, accept_encoding: str
) -> tuple[httpx.Response, bytes]:
    """A response and its body exactly as sent, not decoded by httpx."""
    headers = {"Accept-Encoding": accept_encoding}
    async with client.stream("GET", path, headers=headers) as response:
        body = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, body


def decoded(body: bytes, coding: str | None) -> bytes:
    if coding == "br":
        result: bytes = brotli.decompress(body)
        return result
    if coding == "gzip":
        return gzip.decompress(body)
    return body


@pytest.mark.parametrize(
    ("accept_encoding", "coding"),
    [
        ("br", "br"),
        ("gzip", "gzip"),
        ("gzip, deflate, br", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("gzip;q=0.8, br;q=0.9", "br"),
        ("*", "br"),
        ("*;q=0.5, gzip", "gzip"),
        ("deflate", None),
        ("identity", None),
        ("br;q=0, gzip;q=0", None),
        ("", None),
    ],
)
async def test_the_body_is_compressed_with_the_coding_the_client_prefers(
    accept_encoding: str, coding: str | None
) -> None:
    async with serving(protected_app(ProtectionSettings())) as client:
        response, body = await fetch_raw(client, "/api/v1/big", accept_encoding)

    assert response.headers.get("content-encoding") == coding
    assert "Accept-Encoding" in response.headers["vary"]
    assert json.loads(decoded(body, coding)) == BIG
    assert int(response.headers["content-length"]) == len(body)
    if coding is not None:
        assert len(body) < len(BIG_BYTES) / 3


async def test_html_is_compressed_like_json() -> None:
    async with serving(protected_app(ProtectionSettings())) as client:
        response, body = await fetch_raw(client, "/api/v1/page", "gzip")

    assert response.headers["content-encoding"] == "gzip"
    assert decoded(body, "gzip") == b"<p>up</p>" * 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/small",
        "/api/v1/image",
        "/api/v1/encoded",
        "/api/v1/stream",
        "/api/v1/nothing",
    ],
)
async def test_some_bodies_are_never_compressed(path: str) -> None:
    async with serving(protected_app(ProtectionSettings())) as client:
        response, body = await fetch_raw(client, path, "br, gzip")

    if path == "/api/v1/encoded":
        assert response.headers["content-encoding"] == "gzip"
        assert gzip.decompress(body) == BIG_BYTES
    else:
        assert "content-encoding" not in response.headers
    if path == "/api/v1/stream":
        assert body == BIG_BYTES


async def test_compression_can_be_turned_off() -> None:
    settings = ProtectionSettings(compression=())

    async with serving(protected_app(settings)) as client:
        response, body = await fetch_raw(client, "/api/v1/big", "br, gzip")

    assert "content-encoding" not in response.headers
    assert json.loads(body) == BIG


@pytest.mark.parametrize(
    ("content_type", "compressible"),
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("text/html; charset=utf-8", True),
        ("text/plain; version=0.0.4", True),
        ("text/css", True),
        ("application/javascript", True),
        ("image/svg+xml", True),
        ("application/problem+json", True),
        ("image/png", False),
        ("image/jpeg", False),
        ("application/gzip", False),
        ("application/octet-stream", False),
        ("font/woff2", False),
        (None, False),
    ],
)
def test_only_content_types_that_shrink_are_compressible(
    content_type: str | None, compressible: bool
) -> None:
    assert is_compressible(content_type) is compressible
