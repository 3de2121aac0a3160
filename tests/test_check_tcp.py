"""The tcp check against real local servers: open, refused, chatty and silent."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from engine.checks import CheckSpec, get_kind
from engine.checks.tcp import TcpCheck, parse_host_port
from engine.errors import ValidationError
from engine.result import CheckFailure, Reason

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def spec(target: str, timeout: float = 2.0, **options: Any) -> CheckSpec:
    return CheckSpec("port", target, options, interval=60.0, timeout=timeout)


async def serve(handler: Handler) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(4096):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.read()
    finally:
        writer.close()


async def banner_then_silence(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    writer.write(b"220 almost ready")
    await silent(reader, writer)


async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"x" * 100_000)
    await writer.drain()
    writer.close()


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    server, port = await serve(echo)
    async with server:
        yield port


@pytest.fixture
def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def full_backlog_port() -> Iterator[int]:
    """A port whose listener never accepts, so new handshakes stall."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(2):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


def test_tcp_is_a_registered_kind() -> None:
    assert get_kind("tcp") is TcpCheck


async def test_an_open_port_passes_without_a_dns_phase(echo_port: int) -> None:
    check = TcpCheck.prepare(spec(f"127.0.0.1:{echo_port}"))

    observation = await check.run()

    assert set(observation.phases) == {"connect", "total"}
    assert observation.latency_ms == observation.phases["total"]


async def test_a_host_name_is_resolved_and_timed(echo_port: int) -> None:
    check = TcpCheck.prepare(spec(f"localhost:{echo_port}"))

    observation = await check.run()

    assert "dns" in observation.phases


async def test_a_refused_port_fails_to_connect_and_may_be_retried(
    refused_port: int,
) -> None:
    check = TcpCheck.prepare(spec(f"127.0.0.1:{refused_port}"))

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.CONNECT
    assert "connection refused" in caught.value.message
    assert caught.value.retryable


async def test_an_unresolvable_name_fails_with_a_dns_reason() -> None:
    check = TcpCheck.prepare(spec("no-such-host.invalid:80"))

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.DNS
    assert "no-such-host.invalid" in caught.value.message


async def test_a_stalled_handshake_times_out_naming_the_connect_step(
    full_backlog_port: int,
) -> None:
    check = TcpCheck.prepare(spec(f"127.0.0.1:{full_backlog_port}", timeout=0.3))

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.TIMEOUT
    assert caught.value.details["step"] == "connect"
    assert caught.value.message == (
        f"connecting to 127.0.0.1:{full_backlog_port} took longer than 300ms"
    )


async def test_a_timed_out_run_leaves_its_task_free_of_cancellation(
    full_backlog_port: int,
) -> None:
    check = TcpCheck.prepare(spec(f"127.0.0.1:{full_backlog_port}", timeout=0.05))
    task = asyncio.current_task()
    assert task is not None

    with pytest.raises(CheckFailure):
        await check.run()

    assert task.cancelling() == 0


async def test_a_cancellation_from_outside_goes_on_up_instead_of_a_timeout(
    full_backlog_port: int,
) -> None:
    check = TcpCheck.prepare(spec(f"127.0.0.1:{full_backlog_port}", timeout=5.0))
    run = asyncio.ensure_future(check.run())
    await asyncio.sleep(0.05)

    run.cancel()

    with pytest.raises(asyncio.CancelledError):
        await run


@pytest.mark.parametrize(
    "options",
    [
        {"send": "hello upcast\n", "expect": r"hello \w+"},
        {"send_hex": "68 65 6c 6c 6f", "expect": "^hello$"},
        {"send": "anything"},
    ],
    ids=["text", "hex", "first-chunk"],
)
async def test_a_reply_that_matches_passes(
    echo_port: int, options: dict[str, Any]
) -> None:
    check = TcpCheck.prepare(spec(f"127.0.0.1:{echo_port}", **options))

    observation = await check.run()

    assert "first_byte" in observation.phases
    assert observation.details["reply"]


async def test_a_reply_that_does_not_match_quotes_what_came_back(
    echo_port: int,
) -> None:
    options = {"send": "pong\n", "expect": "^PING"}
    check = TcpCheck.prepare(spec(f"127.0.0.1:{echo_port}", timeout=0.5, **options))

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.ASSERTION
    assert "'pong\\n'" in caught.value.message
    assert caught.value.details["reply"] == "pong\n"


async def test_a_long_reply_is_cut_at_max_bytes_and_marked_truncated() -> None:
    server, port = await serve(flood)
    async with server:
        options: dict[str, Any] = {"expect": "never", "max_bytes": 1000}
        check = TcpCheck.prepare(spec(f"127.0.0.1:{port}", **options))

        with pytest.raises(CheckFailure) as caught:
            await check.run()

    assert caught.value.reason is Reason.ASSERTION
    assert "(truncated)" in caught.value.message
    assert len(caught.value.details["reply"]) == 1000


async def test_a_silent_server_times_out_waiting_for_the_reply() -> None:
    server, port = await serve(silent)
    async with server:
        check = TcpCheck.prepare(spec(f"127.0.0.1:{port}", timeout=0.3, expect="OK"))

        with pytest.raises(CheckFailure) as caught:
            await check.run()

    assert caught.value.reason is Reason.TIMEOUT
    assert caught.value.details["step"] == "reply"


async def test_a_partial_reply_at_the_timeout_is_an_assertion_failure() -> None:
    server, port = await serve(banner_then_silence)
    async with server:
        check = TcpCheck.prepare(
            spec(f"127.0.0.1:{port}", timeout=0.3, expect="^220 ready")
        )

        with pytest.raises(CheckFailure) as caught:
            await check.run()

    assert caught.value.reason is Reason.ASSERTION
    assert "220 almost ready" in caught.value.message


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("example.com:443", ("example.com", 443)),
        ("10.0.0.1:22", ("10.0.0.1", 22)),
        ("[::1]:80", ("::1", 80)),
        ("[2001:db8::5]:8443", ("2001:db8::5", 8443)),
    ],
)
def test_targets_split_into_host_and_port(
    target: str, expected: tuple[str, int]
) -> None:
    assert parse_host_port(target) == expected


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("example.com", "must be host:port"),
        ("::1:80", "needs brackets"),
        ("[::1]80", "must be host:port"),
        ("[nope]:80", "not an IPv6 address"),
        ("example.com:0", "between 1 and 65535"),
        ("example.com:http", "between 1 and 65535"),
        ("bad_-.name..x:80", "not a valid host name"),
    ],
)
def test_malformed_targets_are_rejected_naming_the_target(
    target: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        TcpCheck.prepare(spec(target))

    assert [error.field for error in caught.value.errors] == ["target"]
    assert problem in caught.value.errors[0].problem


def test_every_bad_option_is_reported_together() -> None:
    options: dict[str, Any] = {
        "send": "a",
        "send_hex": "zz",
        "expect": "([",
        "max_bytes": 0,
        "colour": "red",
    }

    with pytest.raises(ValidationError) as caught:
        TcpCheck.prepare(spec("example.com:99999", **options))

    fields = sorted(error.field for error in caught.value.errors)
    assert fields == [
        "options.colour",
        "options.expect",
        "options.max_bytes",
        "options.send_hex",
        "target",
    ]


def test_send_hex_must_be_hexadecimal() -> None:
    with pytest.raises(ValidationError) as caught:
        TcpCheck.prepare(spec("example.com:80", send_hex="0x0g"))

    assert str(caught.value).startswith("options.send_hex: must be hexadecimal")


async def test_a_condition_on_the_reply_passes_when_it_holds(echo_port: int) -> None:
    options: dict[str, Any] = {
        "send": "hello\n",
        "condition": 'reply =~ "^hel" and response_time < 5000',
    }
    check = TcpCheck.prepare(spec(f"127.0.0.1:{echo_port}", **options))

    observation = await check.run()

    assert observation.details["reply"] == "hello\n"


async def test_a_condition_that_fails_explains_itself(echo_port: int) -> None:
    options: dict[str, Any] = {"send": "hello\n", "condition": 'reply contains "bye"'}
    check = TcpCheck.prepare(spec(f"127.0.0.1:{echo_port}", **options))

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.ASSERTION
    assert caught.value.message.startswith('reply contains "bye" failed')


@pytest.mark.parametrize(
    ("condition", "problem"),
    [
        ("status == 200", "reads status, which this check does not provide"),
        ("reply ==", "at column"),
    ],
)
def test_a_condition_must_parse_and_read_only_what_tcp_provides(
    condition: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        TcpCheck.prepare(spec("example.com:80", condition=condition))

    [error] = caught.value.errors
    assert error.field == "options.condition"
    assert problem in error.problem


def _loopback_v6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _loopback_v6(), reason="no IPv6 loopback here")
async def test_an_ipv6_target_in_brackets_connects() -> None:
    server = await asyncio.start_server(echo, "::1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        check = TcpCheck.prepare(spec(f"[::1]:{port}", send="six\n", expect="six"))

        observation = await check.run()

    assert observation.details["address"] == f"[::1]:{port}"
