"""The dns check against a real local name server serving a small test zone."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import dns.exception
import dns.name
import pytest

from engine.checks import CheckSpec, get_kind
from engine.checks.dns import DnsCheck, _dns_name, normalise
from engine.errors import ValidationError
from engine.result import CheckFailure, Reason
from tests.dns_server import ZoneServer


@pytest.fixture
async def server() -> AsyncIterator[ZoneServer]:
    async with ZoneServer() as running:
        yield running


@pytest.fixture
def mute_port() -> Iterator[int]:
    """A UDP port that takes queries and never answers them."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def spec(name: str, timeout: float = 2.0, **options: Any) -> CheckSpec:
    return CheckSpec("records", name, options, interval=60.0, timeout=timeout)


async def run(server: ZoneServer, name: str, **options: Any) -> dict[str, Any]:
    check = DnsCheck.prepare(spec(name, resolver=server.address, **options))
    observation = await check.run()
    return observation.details


def test_dns_is_a_registered_kind() -> None:
    assert get_kind("dns") is DnsCheck


@pytest.mark.parametrize(
    ("record_type", "name", "expect"),
    [
        ("A", "www.example.test", ["192.0.2.10", "192.0.2.11"]),
        ("AAAA", "www.example.test", ["2001:DB8:0::10"]),
        ("CNAME", "alias.example.test", ["WWW.Example.Test."]),
        ("MX", "example.test", ["10 mail.example.test", "backup.example.test."]),
        ("TXT", "example.test", ["v=spf1 -all", "Hello World"]),
        ("SRV", "_sip._tcp.example.test", ["10 5 5060 sip.example.test"]),
        ("NS", "example.test", ["ns1.example.test", "ns2.example.test."]),
        ("SOA", "example.test", ["ns1.example.test"]),
    ],
)
async def test_every_record_type_passes_when_the_expected_values_are_present(
    server: ZoneServer, record_type: str, name: str, expect: list[str]
) -> None:
    details = await run(server, name, record_type=record_type, expect=expect)

    assert details["rcode"] == "NOERROR"
    assert details["answers"]


@pytest.mark.parametrize(
    ("record_type", "name", "expect", "got"),
    [
        ("A", "www.example.test", ["192.0.2.99"], "192.0.2.10, 192.0.2.11"),
        ("AAAA", "www.example.test", ["2001:db8::99"], "2001:db8::10"),
        ("CNAME", "alias.example.test", ["web.example.test"], "www.example.test"),
        ("MX", "example.test", ["5 mail.example.test"], "10 mail.example.test"),
        ("TXT", "example.test", ["hello world"], "Hello World"),
        ("SRV", "_sip._tcp.example.test", ["sip2.example.test"], "5060"),
        ("NS", "example.test", ["ns3.example.test"], "ns1.example.test"),
        ("SOA", "example.test", ["ns9.example.test"], "2024010101"),
    ],
)
async def test_every_record_type_fails_listing_what_came_back(
    server: ZoneServer, record_type: str, name: str, expect: list[str], got: str
) -> None:
    check = DnsCheck.prepare(
        spec(name, resolver=server.address, record_type=record_type, expect=expect)
    )

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.ASSERTION
    assert f"lacks {normalise(expect[0], record_type)}" in caught.value.message
    assert got in caught.value.message
    assert caught.value.details["answers"]


async def test_an_address_query_follows_a_cname(server: ZoneServer) -> None:
    details = await run(server, "alias.example.test", expect=["192.0.2.10"])

    assert details["answers"] == ["192.0.2.10", "192.0.2.11"]


@pytest.mark.parametrize(
    ("name", "record_type", "words", "retryable"),
    [
        ("nowhere.example.test", "A", "does not exist (NXDOMAIN", False),
        ("broken.example.test", "A", "answered SERVFAIL", True),
        ("mail.example.test", "AAAA", "has no AAAA records", False),
    ],
    ids=["nxdomain", "servfail", "no-answer"],
)
async def test_a_missing_answer_fails_with_a_dns_reason_saying_which(
    server: ZoneServer, name: str, record_type: str, words: str, retryable: bool
) -> None:
    check = DnsCheck.prepare(
        spec(name, resolver=server.address, record_type=record_type)
    )

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.DNS
    assert words in caught.value.message
    assert caught.value.retryable is retryable


async def test_an_expected_nxdomain_passes(server: ZoneServer) -> None:
    details = await run(server, "gone.example.test", expect_rcode="nxdomain")

    assert details["rcode"] == "NXDOMAIN"
    assert details["answers"] == []


async def test_an_unexpected_rcode_is_an_assertion_failure(server: ZoneServer) -> None:
    check = DnsCheck.prepare(
        spec("www.example.test", resolver=server.address, expect_rcode="NXDOMAIN")
    )

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.ASSERTION
    assert "answered NOERROR, expected NXDOMAIN" in caught.value.message


async def test_a_truncated_udp_answer_is_asked_again_over_tcp(
    server: ZoneServer,
) -> None:
    details = await run(server, "big.example.test", record_type="TXT")

    assert details["transport"] == "tcp"
    assert len(details["answers"]) == 8
    transports = [transport for name, _, transport in server.queries]
    assert transports == ["udp", "tcp"]


async def test_the_tcp_transport_skips_udp(server: ZoneServer) -> None:
    details = await run(server, "www.example.test", transport="tcp")

    assert details["transport"] == "tcp"
    assert [transport for _, _, transport in server.queries] == ["tcp"]


async def test_a_resolver_that_never_answers_times_out(mute_port: int) -> None:
    check = DnsCheck.prepare(
        spec("www.example.test", timeout=0.3, resolver=f"127.0.0.1:{mute_port}")
    )

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.TIMEOUT
    assert f"127.0.0.1:{mute_port}" in caught.value.message


@pytest.mark.parametrize(
    ("value", "record_type", "expected"),
    [
        ("Mail.Example.COM.", "CNAME", "mail.example.com"),
        ("10   MX.example.com.", "MX", "10 mx.example.com"),
        ("2001:DB8:0:0::1", "AAAA", "2001:db8::1"),
        ("Token=AbC", "TXT", "Token=AbC"),
    ],
)
def test_values_are_normalised_before_comparison(
    value: str, record_type: str, expected: str
) -> None:
    assert normalise(value, record_type) == expected


@pytest.mark.parametrize(
    ("options", "field", "problem"),
    [
        (
            {"record_type": "XX"},
            "options.record_type",
            "must be one of A, AAAA, CNAME, MX, TXT, SRV, NS, SOA, got 'XX'",
        ),
        (
            {"resolver": "dns.example:53"},
            "options.resolver",
            "must be an IP address with an optional port",
        ),
        ({"resolver": "9.9.9.9:0"}, "options.resolver", "between 1 and 65535"),
        ({"expect": ["not-an-ip"]}, "options.expect[0]", "is not an A address"),
        ({"expect_rcode": "MAYBE"}, "options.expect_rcode", "a response code"),
        ({"transport": "quic"}, "options.transport", "must be one of udp, tcp"),
        ({"ttl": 5}, "options.ttl", "unknown option"),
    ],
)
def test_a_bad_option_is_named_with_its_problem(
    options: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        DnsCheck.prepare(spec("example.test", **options))

    [error] = caught.value.errors
    assert error.field == field
    assert problem in error.problem


def test_every_problem_is_reported_together() -> None:
    options: dict[str, Any] = {"record_type": "XX", "resolver": "nowhere", "expect": 7}

    with pytest.raises(ValidationError) as caught:
        DnsCheck.prepare(spec("", **options))

    assert sorted(error.field for error in caught.value.errors) == [
        "options.expect",
        "options.record_type",
        "options.resolver",
        "target",
    ]


def read_name(parse: Callable[[str], dns.name.Name], text: str) -> object:
    """The labels ``parse`` makes of ``text``, or the error it raises."""
    try:
        return parse(text).labels
    except dns.exception.DNSException as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize(
    "text",
    [
        "example.com",
        "Example.COM.",
        "_sip._tcp.example.com",
        "*.example.com",
        "a" * 63 + ".com",
        "a" * 64 + ".com",
        ".".join(["a" * 63] * 4),
        "a..b",
        ".a",
        "a\\.b.example",
        "\\065.example",
        "@",
        ".",
        "caf\u00e9.example",
    ],
)
def test_a_name_reads_as_dnspython_reads_it(text: str) -> None:
    assert read_name(_dns_name, text) == read_name(dns.name.from_text, text)


def test_the_resolver_accepts_bracketed_ipv6_with_a_port() -> None:
    check = DnsCheck.prepare(spec("example.test", resolver="[::1]:5353"))

    assert check is not None


async def test_a_condition_on_the_answers_passes_when_it_holds(
    server: ZoneServer,
) -> None:
    condition = '"192.0.2.10" in answers and rcode == "NOERROR" and len(answers) == 2'

    details = await run(server, "www.example.test", condition=condition)

    assert details["answers"] == ["192.0.2.10", "192.0.2.11"]


async def test_a_condition_that_fails_explains_itself(server: ZoneServer) -> None:
    check = DnsCheck.prepare(
        spec("www.example.test", resolver=server.address, condition="len(answers) > 5")
    )

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.ASSERTION
    assert caught.value.message.startswith("len(answers) > 5 failed")


def test_a_condition_may_read_only_what_dns_provides() -> None:
    with pytest.raises(ValidationError) as caught:
        DnsCheck.prepare(spec("example.test", condition="reply == 1"))

    assert str(caught.value).startswith("options.condition: reads reply")
