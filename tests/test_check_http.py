"""The http check kind against real local HTTP, HTTPS and raw TCP servers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import pytest

from engine.checks import get_kind
from engine.checks.base import CheckSpec
from engine.checks.http import HttpCheck, _split_any_url, _split_plain_url
from engine.errors import ValidationError
from engine.result import CheckFailure, Observation, Reason
from engine.scheduler import BACKSTOP_GRACE
from tests.http_servers import CERT_DAYS, LocalServers, running_servers

PHASES = {"dns", "connect", "tls", "first_byte", "total"}


@pytest.fixture(scope="module")
def servers() -> Iterator[LocalServers]:
    with running_servers() as running:
        yield running


def prepare(
    target: str, options: Mapping[str, Any] | None = None, within: float = 3.0
) -> HttpCheck:
    spec = CheckSpec(
        monitor_id="web",
        target=target,
        options=options or {},
        interval=60.0,
        timeout=within,
    )
    return HttpCheck.prepare(spec)


async def check(
    target: str, options: Mapping[str, Any] | None = None, within: float = 3.0
) -> Observation:
    """Run a check on ``target`` once, with ``within`` seconds as its timeout."""
    return await prepare(target, options, within).run()


async def failure_of(
    target: str, options: Mapping[str, Any] | None = None, within: float = 3.0
) -> CheckFailure:
    with pytest.raises(CheckFailure) as caught:
        await check(target, options, within)
    return caught.value


def problems_of(target: str, options: Mapping[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        prepare(target, options)
    return {error.field: error.problem for error in caught.value.errors}


# -- preparing ---------------------------------------------------------------


def test_the_kind_is_registered_as_http_and_https() -> None:
    assert get_kind("http") is HttpCheck
    assert get_kind("https") is HttpCheck


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("", "is required"),
        ("ftp://files.example/", "must be an http:// or https:// URL"),
        ("example.com/health", "must be an http:// or https:// URL"),
        ("http://", "has no host"),
        ("http://example.com:99999/", "invalid port"),
        ("http://example.com:0/", "invalid port"),
        ("http://alice:secret@example.com/", "use options.basic_auth"),
        ("http://bad host!/", "invalid host name"),
    ],
)
def test_a_target_that_is_not_a_usable_url_is_refused(
    target: str, problem: str
) -> None:
    assert problem in problems_of(target, {})["target"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"method": "FETCH"}, "options.method"),
        ({"method": "GET", "body": "x"}, "options.body"),
        ({"method": "POST", "body": "x", "json": {}}, "options.json"),
        ({"method": "POST", "json": {1, 2}}, "options.json"),
        ({"headers": ["X-A: b"]}, "options.headers"),
        ({"headers": {"Bad Name": "x"}}, "options.headers.Bad Name"),
        ({"headers": {"X-Split": "a\r\nb"}}, "options.headers.X-Split"),
        ({"headers": {"Content-Length": "3"}}, "options.headers.Content-Length"),
        ({"basic_auth": "alice:secret"}, "options.basic_auth"),
        ({"basic_auth": {"username": "alice", "pw": "x"}}, "options.basic_auth.pw"),
        ({"basic_auth": {"password": "x"}}, "options.basic_auth.username"),
        (
            {"basic_auth": {"username": "a"}, "bearer_token": "t"},
            "options.bearer_token",
        ),
        ({"bearer_token": "two words"}, "options.bearer_token"),
        ({"expect_status": []}, "options.expect_status"),
        ({"expect_status": 999}, "options.expect_status"),
        ({"expect_status": [200, "300-200"]}, "options.expect_status[1]"),
        ({"expect_status": ["2xx", "teapot"]}, "options.expect_status[1]"),
        ({"max_redirects": -1}, "options.max_redirects"),
        ({"max_redirects": True}, "options.max_redirects"),
        ({"max_body_bytes": "1MB"}, "options.max_body_bytes"),
        ({"cert_days_min": 2.5}, "options.cert_days_min"),
        ({"verify_tls": "no"}, "options.verify_tls"),
        ({"keyword": ""}, "options.keyword"),
        ({"keyword_absent": 5}, "options.keyword_absent"),
        ({"regex": "(unclosed"}, "options.regex"),
        ({"regex_absent": "[z-a]"}, "options.regex_absent"),
        ({"timeout_ms": 5}, "options.timeout_ms"),
    ],
)
def test_a_bad_option_is_named_in_the_error(
    options: dict[str, Any], field: str
) -> None:
    assert field in problems_of("http://example.com/", options)


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        "gopher://example.com/",
        {"method": 7, "max_redirects": "ten", "regex": "(", "colour": "red"},
    )

    assert set(problems) == {
        "target",
        "options.method",
        "options.max_redirects",
        "options.regex",
        "options.colour",
    }


def test_a_well_formed_definition_prepares_a_check() -> None:
    prepared = prepare(
        "https://Example.COM:8443/status?full=1",
        {
            "method": "post",
            "json": {"probe": True},
            "headers": {"X-Probe": "upcast"},
            "bearer_token": "t0ken",
            "expect_status": [200, "204", "300-302", "4xx"],
            "max_redirects": 0,
            "keyword": "ok",
            "verify_tls": False,
            "cert_days_min": 14,
            "max_body_bytes": 4096,
        },
    )

    assert isinstance(prepared, HttpCheck)


def split_with(read: Callable[[str], object], target: str) -> object:
    """What ``read`` makes of ``target``: its parts, or the problem it names."""
    try:
        return read(target)
    except ValueError as exc:
        return f"refused: {exc}"


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:8000/health",
        "https://example.com",
        "http://Example.COM/Path/",
        "https://example.com:443/x",
        "http://example.com:80",
        "http://example.com:0080/",
        "https://api.example.com/v1/status?full=1&at=a:b@c?d",
        "http://example.com?only=query",
        "http://example.com/%41'()*+,;=~!$&:@",
        "http://example..com/",
        "http://-example.com/",
        "http://1.2.3.256/",
        "http://1.2.3.4.5/",
        "http://" + "a" * 64 + ".example/",
    ],
)
def test_a_plain_url_reads_as_urlsplit_reads_it(target: str) -> None:
    read = split_with(_split_plain_url, target)

    assert read is not None
    assert read == split_with(_split_any_url, target)


@pytest.mark.parametrize(
    "target",
    [
        "HTTP://example.com/",
        "http://example.com/#top",
        "http://[::1]:8080/",
        "http://example.com:/",
        "http://example.com:0/",
        "http://example.com:99999/",
        "http://alice@example.com/",
        "http://example.com/caf\u00e9",
        "http://example.com/a b",
        "http://example.com/?",
    ],
)
def test_a_url_the_pattern_does_not_read_is_left_to_urlsplit(target: str) -> None:
    assert _split_plain_url(target) is None


@pytest.mark.parametrize(
    ("accepted", "refused", "field"),
    [
        ({"max_redirects": 1}, {"max_redirects": True}, "options.max_redirects"),
        ({"verify_tls": False}, {"verify_tls": 0}, "options.verify_tls"),
        (
            {"headers": {"X-Count": 1}},
            {"headers": {"X-Count": True}},
            "options.headers.X-Count",
        ),
        (
            {"expect_status": ["200"]},
            {"expect_status": ["200", 200.5]},
            "options.expect_status[1]",
        ),
    ],
)
def test_options_equal_to_accepted_ones_but_of_another_type_are_refused(
    accepted: dict[str, Any], refused: dict[str, Any], field: str
) -> None:
    prepare("http://127.0.0.1/", accepted)

    assert field in problems_of("http://127.0.0.1/", refused)


# -- healthy responses -------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "options"),
    [
        ("/ok", {}),
        ("/ok", {"keyword": "operational"}),
        ("/ok", {"keyword_absent": "error"}),
        ("/ok", {"regex": r"<h1>All \w+"}),
        ("/ok", {"regex_absent": r"\b5\d\d\b"}),
        ("/ok", {"method": "HEAD"}),
        ("/status/503", {"expect_status": "5xx"}),
        ("/status/404", {"expect_status": [404, "500-599"]}),
        ("/no-content", {"expect_status": "200-204"}),
        ("/chunked", {"keyword": "the needle"}),
        ("/gzip", {"keyword": "operational"}),
        ("/deflate", {"keyword": "operational"}),
        ("/latin-1", {"keyword": "Caf\u00e9"}),
        ("/basic", {"basic_auth": {"username": "alice", "password": "s3cr3t"}}),
        ("/bearer", {"bearer_token": "t0ken", "keyword": "welcome holder"}),
        ("/echo", {"headers": {"X-Probe": "upcast-7"}, "keyword": "upcast-7"}),
        ("/echo", {"method": "PUT", "body": "payload!", "keyword": "payload!"}),
        ("/echo", {"json": {"probe": 7}, "regex": r'"method": "POST".*probe'}),
        ("/large?size=1000", {"max_body_bytes": 1000}),
    ],
)
async def test_a_healthy_response_passes(
    servers: LocalServers, path: str, options: dict[str, Any]
) -> None:
    observation = await check(servers.http + path, options)

    assert observation.details["redirects"] == 0
    assert set(observation.phases) == PHASES


@pytest.mark.parametrize(
    ("path", "keyword"),
    [
        ("/until-close", "read to the end"),
        ("/interim", "final!"),
        ("/split-chunks", "hello, world"),
    ],
)
async def test_a_response_framed_unusually_is_still_read_whole(
    servers: LocalServers, path: str, keyword: str
) -> None:
    observation = await check(servers.raw + path, {"keyword": keyword})

    assert observation.details["status"] == 200
    assert observation.details["size"] > 0


async def test_details_report_status_size_and_no_redirects(
    servers: LocalServers,
) -> None:
    observation = await check(servers.http + "/large?size=1234")

    assert observation.details == {"status": 200, "size": 1234, "redirects": 0}


async def test_phases_add_up_and_plain_http_spends_nothing_on_tls(
    servers: LocalServers,
) -> None:
    observation = await check(servers.http + "/ok")
    phases = observation.phases

    assert phases["dns"] == 0
    assert phases["tls"] == 0
    assert phases["connect"] > 0
    assert phases["first_byte"] > 0
    assert phases["total"] >= phases["connect"] + phases["first_byte"]
    assert observation.latency_ms == phases["total"]


async def test_a_host_name_is_resolved_and_timed(servers: LocalServers) -> None:
    port = servers.http.rsplit(":", 1)[1]

    observation = await check(f"http://localhost:{port}/ok")

    assert observation.phases["dns"] > 0
    assert observation.details["status"] == 200


async def test_options_beside_a_refused_target_apply_to_a_good_one(
    servers: LocalServers,
) -> None:
    options = {"headers": {"X-Probe": "second"}, "keyword": "second"}
    problems_of("ftp://files.example/", dict(options))

    await check(servers.http + "/echo", dict(options))

    assert servers.seen["/echo"]["X-Probe"] == "second"


async def test_accept_encoding_is_sent_only_when_the_body_is_read(
    servers: LocalServers,
) -> None:
    await check(servers.http + "/echo")
    without_rules = dict(servers.seen["/echo"])
    await check(servers.http + "/echo", {"keyword": "method"})
    with_rules = dict(servers.seen["/echo"])

    assert "Accept-Encoding" not in without_rules
    assert with_rules["Accept-Encoding"] == "gzip, deflate"
    assert with_rules["Connection"] == "close"


async def test_a_prepared_check_runs_many_times_at_once(servers: LocalServers) -> None:
    prepared = prepare(servers.http + "/ok", {"keyword": "operational"})

    observations = await asyncio.gather(*(prepared.run() for _ in range(50)))

    assert all(item.details["status"] == 200 for item in observations)


# -- unhealthy responses -----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "options", "reason", "message"),
    [
        ("/status/503", {}, Reason.STATUS, "expected 200-399, got 503"),
        (
            "/status/404",
            {"expect_status": [200, "300-302"]},
            Reason.STATUS,
            "expected 200, 300-302, got 404",
        ),
        ("/basic", {}, Reason.STATUS, "got 401"),
        (
            "/basic",
            {"basic_auth": {"username": "alice", "password": "guess"}},
            Reason.STATUS,
            "got 401",
        ),
        ("/bearer", {"bearer_token": "stale"}, Reason.STATUS, "got 401"),
        ("/ok", {"keyword": "maintenance"}, Reason.ASSERTION, "does not contain"),
        ("/ok", {"keyword_absent": "operational"}, Reason.ASSERTION, "contains"),
        ("/ok", {"regex": "^Down"}, Reason.ASSERTION, "does not match /^Down/"),
        ("/ok", {"regex_absent": r"All \w+"}, Reason.ASSERTION, "matches"),
        ("/gzip", {"keyword": "offline"}, Reason.ASSERTION, "does not contain"),
        ("/large", {}, Reason.SIZE, "over the limit of 1048576"),
        ("/large-chunked", {}, Reason.SIZE, "options.max_body_bytes"),
        ("/large?size=1001", {"max_body_bytes": 1000}, Reason.SIZE, "1001 bytes"),
        ("/gzip-bomb", {"keyword": "z"}, Reason.SIZE, "decompresses to more than"),
        ("/brotli", {"keyword": "x"}, Reason.PROTOCOL, "Content-Encoding 'br'"),
        ("/redirect-loop", {}, Reason.STATUS, "stopped after 10 redirects"),
        ("/redirect/3", {"max_redirects": 2}, Reason.STATUS, "stopped after 2"),
        (
            "/redirect/1",
            {"max_redirects": 0, "expect_status": 200},
            Reason.STATUS,
            "302",
        ),
        ("/redirect-elsewhere", {}, Reason.PROTOCOL, "unusable location"),
    ],
)
async def test_an_unhealthy_response_fails_for_its_reason(
    servers: LocalServers,
    path: str,
    options: dict[str, Any],
    reason: Reason,
    message: str,
) -> None:
    failure = await failure_of(servers.http + path, options)

    assert failure.reason is reason
    assert message in failure.message
    assert failure.retryable
    assert set(failure.phases) == PHASES


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/not-http", "malformed status line"),
        ("/bad-header", "malformed header line"),
        ("/truncated", "closed after 10 body bytes"),
        ("/silent", "without responding"),
        ("/bad-chunk", "malformed chunk size"),
        ("/endless-head", "headers exceed 64 KiB"),
    ],
)
async def test_a_malformed_response_fails_as_a_protocol_error(
    servers: LocalServers, path: str, message: str
) -> None:
    failure = await failure_of(servers.raw + path)

    assert failure.reason is Reason.PROTOCOL
    assert message in failure.message


async def test_a_status_failure_keeps_the_details_it_saw(servers: LocalServers) -> None:
    failure = await failure_of(servers.http + "/status/500")

    assert failure.details == {"status": 500, "size": 6, "redirects": 0}


# -- redirects ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "redirects"),
    [
        ("/redirect/1", 1),
        ("/redirect/3", 3),
        ("/redirect/10", 10),
        ("/relative-redirect", 1),
        ("/absolute-redirect", 1),
        ("/redirect-to?url=%2Fok", 1),
    ],
)
async def test_redirects_are_followed_to_the_final_page(
    servers: LocalServers, path: str, redirects: int
) -> None:
    observation = await check(servers.http + path, {"keyword": "operational"})

    assert observation.details["redirects"] == redirects
    assert observation.details["final_url"] == servers.http + "/ok"


async def test_a_see_other_turns_a_post_into_a_get_without_body(
    servers: LocalServers,
) -> None:
    observation = await check(
        servers.http + "/see-other",
        {"method": "POST", "json": {"probe": 1}, "regex": '"method": "GET"'},
    )

    assert observation.details["final_url"] == servers.http + "/echo"
    assert "Content-Type" not in servers.seen["/echo"]


async def test_a_redirect_is_judged_itself_when_redirects_are_off(
    servers: LocalServers,
) -> None:
    observation = await check(servers.http + "/redirect/1", {"max_redirects": 0})

    assert observation.details == {"status": 302, "size": 0, "redirects": 0}


@pytest.mark.parametrize(
    ("leads_elsewhere", "sent"),
    [(False, True), (True, False)],
)
async def test_credentials_follow_a_redirect_only_within_the_origin(
    servers: LocalServers, leads_elsewhere: bool, sent: bool
) -> None:
    destination = servers.https + "/echo" if leads_elsewhere else "/echo"
    await check(
        servers.http + "/redirect-to?url=" + quote(destination, safe=""),
        {"bearer_token": "t0ken", "verify_tls": False},
    )

    assert ("Authorization" in servers.seen["/echo"]) is sent


# -- connections and timeouts -----------------------------------------------


async def test_a_refused_connection_fails_as_connect(servers: LocalServers) -> None:
    failure = await failure_of(f"http://127.0.0.1:{servers.refused_port}/")

    assert failure.reason is Reason.CONNECT
    assert failure.message == f"connection refused by 127.0.0.1:{servers.refused_port}"
    assert failure.retryable
    assert set(failure.phases) == {"dns", "total"}


async def test_a_name_that_does_not_resolve_fails_as_dns() -> None:
    failure = await failure_of("http://upcast-test.invalid/")

    assert failure.reason is Reason.DNS
    assert "upcast-test.invalid" in failure.message
    assert set(failure.phases) == {"total"}


@pytest.mark.parametrize(
    ("target", "phase", "reached"),
    [
        ("{http}/slow-head?delay=2", "waiting for the first byte", {"connect", "tls"}),
        ("{http}/slow-body?delay=2", "reading the body", {"first_byte"}),
        ("http://127.0.0.1:{silent}/", "waiting for the first byte", {"tls"}),
        ("https://127.0.0.1:{silent}/", "during the TLS handshake", {"connect"}),
    ],
)
async def test_a_timeout_says_which_phase_it_cut_short(
    servers: LocalServers, target: str, phase: str, reached: set[str]
) -> None:
    url = target.format(http=servers.http, silent=servers.silent_port)

    failure = await failure_of(url, within=0.3)

    assert failure.reason is Reason.TIMEOUT
    assert failure.message == f"timed out after 300ms {phase}"
    assert reached <= set(failure.phases)
    assert failure.phases["total"] >= 290


async def test_the_phase_is_named_under_the_schedulers_backstop(
    servers: LocalServers,
) -> None:
    prepared = prepare(servers.http + "/slow-head?delay=2", within=0.3)

    with pytest.raises(CheckFailure) as caught:
        async with asyncio.timeout(0.3 + BACKSTOP_GRACE):
            await prepared.run()

    assert caught.value.message == "timed out after 300ms waiting for the first byte"


async def test_cancelling_a_run_is_not_mistaken_for_a_timeout(
    servers: LocalServers,
) -> None:
    run = asyncio.ensure_future(check(servers.http + "/slow-head?delay=2", within=1))
    await asyncio.sleep(0.1)
    run.cancel()

    with pytest.raises(asyncio.CancelledError):
        await run


# -- TLS ---------------------------------------------------------------------


async def test_an_unverified_certificate_still_reports_its_days_left(
    servers: LocalServers,
) -> None:
    observation = await check(
        servers.https + "/chunked", {"verify_tls": False, "keyword": "needle"}
    )

    assert observation.details["cert_days"] == CERT_DAYS
    assert observation.phases["tls"] > 0


async def test_a_self_signed_certificate_fails_verification_for_good(
    servers: LocalServers,
) -> None:
    failure = await failure_of(servers.https + "/ok")

    assert failure.reason is Reason.TLS
    assert "certificate verification failed" in failure.message
    assert not failure.retryable
    assert set(failure.phases) == {"dns", "connect", "total"}


@pytest.mark.parametrize(
    ("minimum", "passes"),
    [(7, True), (CERT_DAYS, True), (CERT_DAYS + 1, False), (60, False)],
)
async def test_a_certificate_close_to_expiry_fails_for_good(
    servers: LocalServers, minimum: int, passes: bool
) -> None:
    options = {"verify_tls": False, "cert_days_min": minimum}
    if passes:
        observation = await check(servers.https + "/ok", options)
        assert observation.details["cert_days"] == CERT_DAYS
        return

    failure = await failure_of(servers.https + "/ok", options)

    assert failure.reason is Reason.TLS
    assert failure.message == (
        f"the certificate expires in {CERT_DAYS} days, "
        f"fewer than the {minimum} required"
    )
    assert not failure.retryable
    assert failure.details["cert_days"] == CERT_DAYS


async def test_a_redirect_to_https_reports_that_certificate(
    servers: LocalServers,
) -> None:
    observation = await check(
        servers.http + "/redirect-to?url=" + quote(servers.https + "/ok", safe=""),
        {"verify_tls": False},
    )

    assert observation.details["cert_days"] == CERT_DAYS
    assert observation.details["final_url"] == servers.https + "/ok"


# -- conditions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "condition"),
    [
        ("{http}/json", 'body.status == "ok" and all(body.checks, it.status == "up")'),
        ("{http}/json", 'headers["Content-Type"] contains "json" and size > 10'),
        ("{http}/ok", "status == 200 and response_time < 5000"),
        ("{http}/ok", 'text contains "operational"'),
        ("{http}/gzip", 'body contains "operational"'),
        ("{http}/not-json", 'body == "{broken"'),
        ("{http}/ok", "cert_days == null"),
        ("{https}/ok", "cert_days >= 30"),
    ],
)
async def test_a_condition_that_holds_passes(
    servers: LocalServers, url: str, condition: str
) -> None:
    target = url.format(http=servers.http, https=servers.https)

    observation = await check(target, {"condition": condition, "verify_tls": False})

    assert observation.details["status"] == 200


@pytest.mark.parametrize(
    ("url", "condition", "explanation"),
    [
        ("{http}/json", 'body.version == "9.9"', 'body.version == "9.9" failed'),
        ("{http}/json", "len(body.checks) > 2", "len(body.checks) > 2 failed"),
        ("{http}/ok", "status == 201", "status is 200"),
        ("{https}/ok", "cert_days > 60", "cert_days > 60 failed"),
    ],
)
async def test_a_condition_that_fails_is_explained(
    servers: LocalServers, url: str, condition: str, explanation: str
) -> None:
    target = url.format(http=servers.http, https=servers.https)

    failure = await failure_of(target, {"condition": condition, "verify_tls": False})

    assert failure.reason is Reason.ASSERTION
    assert explanation in failure.message
    assert failure.retryable


def test_a_condition_that_does_not_parse_is_refused_with_its_column() -> None:
    problems = problems_of("http://example.com/", {"condition": "status == (200"})

    assert "at column" in problems["options.condition"]
