"""The icmp check pinging the loopback addresses over the kernel's real sockets."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from engine.checks import CheckSpec, get_kind, icmp
from engine.checks.icmp import (
    IcmpCheck,
    internet_checksum,
    permission_advice,
    ping_group_range,
    unprivileged_ping_allowed,
)
from engine.errors import ValidationError
from engine.result import CheckFailure, Reason


def _loopback_v6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def _icmp_possible() -> bool:
    try:
        sock, _ = icmp.open_icmp_socket(socket.AF_INET)
    except CheckFailure:
        return False
    sock.close()
    return True


needs_icmp = pytest.mark.skipif(
    not _icmp_possible(), reason="this process may open no ICMP socket"
)
needs_v6 = pytest.mark.skipif(not _loopback_v6(), reason="no IPv6 loopback here")


def spec(target: str, timeout: float = 2.0, **options: Any) -> CheckSpec:
    options.setdefault("interval", "20ms")
    return CheckSpec("ping", target, options, interval=60.0, timeout=timeout)


class DroppingSocket:
    """A real ICMP socket that silently skips sending chosen sequence numbers."""

    def __init__(self, sock: socket.socket, dropped: set[int]) -> None:
        self._sock = sock
        self._dropped = dropped

    def sendto(self, packet: bytes, address: Any) -> int:
        sequence = int.from_bytes(packet[6:8], "big")
        if sequence in self._dropped:
            return len(packet)
        return self._sock.sendto(packet, address)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def drop(monkeypatch: pytest.MonkeyPatch, dropped: set[int]) -> None:
    real = socket.socket

    def make(family: int, kind: int, protocol: int) -> Any:
        return DroppingSocket(real(family, kind, protocol), dropped)

    monkeypatch.setattr(icmp, "_new_socket", make)


def test_icmp_is_registered_also_as_ping() -> None:
    assert get_kind("icmp") is IcmpCheck
    assert get_kind("ping") is IcmpCheck


@needs_icmp
@pytest.mark.parametrize(
    "target",
    [
        "127.0.0.1",
        pytest.param("::1", marks=needs_v6),
        pytest.param("[::1]", marks=needs_v6),
    ],
)
async def test_the_loopback_answers_every_echo(target: str) -> None:
    check = IcmpCheck.prepare(spec(target, count=3))

    observation = await check.run()

    details = observation.details
    assert (details["sent"], details["received"], details["loss_percent"]) == (3, 3, 0)
    assert details["rtt_min"] <= details["rtt_avg"] <= details["rtt_max"]
    assert observation.latency_ms > 0


@needs_icmp
async def test_a_host_name_is_resolved_first() -> None:
    observation = await IcmpCheck.prepare(spec("localhost", count=1)).run()

    assert "dns" in observation.phases


@needs_icmp
async def test_a_round_trip_above_the_limit_is_an_assertion_failure() -> None:
    check = IcmpCheck.prepare(spec("127.0.0.1", count=2, max_rtt_ms=0.000001))

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.ASSERTION
    assert "average round trip" in caught.value.message
    assert caught.value.details["received"] == 2


@needs_icmp
async def test_loss_above_max_loss_is_an_assertion_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drop(monkeypatch, {1})
    check = IcmpCheck.prepare(spec("127.0.0.1", count=3, max_loss=10, wait="200ms"))

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.ASSERTION
    assert "lost 33.3333% of echoes (1 of 3)" in caught.value.message
    assert caught.value.details["loss_percent"] == 33.33


@needs_icmp
async def test_partial_loss_passes_without_a_loss_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drop(monkeypatch, {0})
    check = IcmpCheck.prepare(spec("127.0.0.1", count=2, wait="200ms"))

    observation = await check.run()

    assert observation.details["received"] == 1


@needs_icmp
async def test_no_reply_at_all_is_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    drop(monkeypatch, {0, 1})
    check = IcmpCheck.prepare(spec("127.0.0.1", count=2, wait="100ms"))

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.TIMEOUT
    assert "2 sent, none answered" in caught.value.message


async def test_a_refused_socket_fails_with_permission_advice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(family: int, kind: int, protocol: int) -> socket.socket:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(icmp, "_new_socket", refuse)

    with pytest.raises(CheckFailure) as caught:
        await IcmpCheck.prepare(spec("127.0.0.1")).run()

    assert caught.value.reason is Reason.PERMISSION
    assert not caught.value.retryable
    assert "sysctl -w net.ipv4.ping_group_range" in caught.value.message


@pytest.mark.skipif(
    not unprivileged_ping_allowed(), reason="ping_group_range excludes this process"
)
async def test_the_unprivileged_socket_is_preferred_when_allowed() -> None:
    observation = await IcmpCheck.prepare(spec("127.0.0.1", count=1)).run()

    assert observation.details["socket"] == "datagram"


@pytest.mark.skipif(
    unprivileged_ping_allowed() or not _icmp_possible(),
    reason="only when the kernel refuses unprivileged ping but allows raw",
)
async def test_a_raw_socket_is_the_fallback_when_unprivileged_ping_is_refused() -> None:
    observation = await IcmpCheck.prepare(spec("127.0.0.1", count=1)).run()

    assert observation.details["socket"] == "raw"


@pytest.mark.parametrize(
    ("content", "window", "allowed"),
    [
        ("0\t2147483647\n", (0, 2147483647), True),
        ("1\t0\n", (1, 0), False),
        ("garbage", None, False),
    ],
)
def test_the_ping_group_range_decides_unprivileged_ping(
    tmp_path: Path, content: str, window: tuple[int, int] | None, allowed: bool
) -> None:
    path = tmp_path / "ping_group_range"
    path.write_text(content)

    assert ping_group_range(path) == window
    assert unprivileged_ping_allowed(path) is allowed


def test_the_permission_advice_names_the_groups_and_both_remedies(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ping_group_range"
    path.write_text("1\t0\n")

    advice = permission_advice(path)

    assert f"({os.getegid()}" in advice
    assert "ping_group_range (1 0)" in advice
    assert "CAP_NET_RAW" in advice


def test_the_checksum_follows_rfc_1071() -> None:
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert internet_checksum(b"\x00\x01\x02") == 0xFDFE


@pytest.mark.parametrize(
    ("options", "field", "problem"),
    [
        ({"count": 0}, "options.count", "between 1 and 100, got 0"),
        ({"count": "3"}, "options.count", "whole number"),
        ({"interval": "1ms"}, "options.interval", "at least 10ms"),
        ({"interval": "soon"}, "options.interval", "a duration"),
        ({"max_loss": 150}, "options.max_loss", "between 0 and 100"),
        ({"max_rtt_ms": 0}, "options.max_rtt_ms", "above 0"),
        ({"payload_size": 4}, "options.payload_size", "between 8 and"),
        ({"count": 50, "interval": "1s"}, "options.count", "must fit"),
        ({"ttl": 3}, "options.ttl", "unknown option"),
    ],
)
def test_a_bad_option_is_named_with_its_problem(
    options: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        IcmpCheck.prepare(spec("127.0.0.1", **options))

    [error] = caught.value.errors
    assert error.field == field
    assert problem in error.problem


def test_every_problem_is_reported_together() -> None:
    options: dict[str, Any] = {"count": -1, "max_loss": "lots", "payload_size": True}

    with pytest.raises(ValidationError) as caught:
        IcmpCheck.prepare(spec("not a host!", **options))

    assert sorted(error.field for error in caught.value.errors) == [
        "options.count",
        "options.max_loss",
        "options.payload_size",
        "target",
    ]
