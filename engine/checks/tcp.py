"""The ``tcp`` check kind: connect to a port, optionally talk, and judge the reply.

The connect-only path is the hot one (a shard may hold hundreds of thousands
of port checks), so it avoids streams and extra tasks: the loop creates,
connects and closes the socket itself, and one timer bounds the run. When the
host is an IP literal its address family is worked out once, at prepare time,
so a run needs no resolver. A check keeps little else, since a shard holds so
many: the text of a failure is only made when a run fails.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

from engine.checks import register
from engine.checks.base import Check, CheckSpec
from engine.checks.options import condition_option, is_hostname, is_ipv4, shared_port
from engine.conditions import Condition
from engine.durations import format_duration
from engine.errors import FieldError, ValidationError
from engine.result import CheckFailure, Observation, Reason

logger = logging.getLogger(__name__)

CONDITION_NAMES = ("reply", "response_time")

DEFAULT_MAX_BYTES = 64 * 1024
MAX_MAX_BYTES = 1024 * 1024
QUOTED_REPLY_CHARS = 200
KEPT_REPLY_CHARS = 1024

OPTIONS = ("send", "send_hex", "expect", "max_bytes", "condition")


Address = tuple[Any, ...]
Addresses = Sequence[tuple[int, Address]]
"""The socket family and address of each place to try, in order."""


class TcpCheck(Check):
    """Connect to ``host:port``; optionally send a payload and match the reply."""

    __slots__ = (
        "_condition",
        "_family",
        "_host",
        "_max_bytes",
        "_pattern",
        "_payload",
        "_port",
        "_talks",
        "_timeout",
    )

    kind = "tcp"

    def __init__(
        self,
        host: str,
        port: int,
        family: int | None,
        timeout: float,
        payload: bytes | None = None,
        pattern: re.Pattern[bytes] | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        condition: Condition | None = None,
    ) -> None:
        self._host = host
        self._port = shared_port(port)
        self._family = family
        self._timeout = timeout
        self._payload = payload
        self._pattern = pattern
        self._max_bytes = max_bytes
        self._condition = condition
        self._talks = (
            payload is not None or pattern is not None or condition is not None
        )

    @classmethod
    def prepare(cls, spec: CheckSpec) -> Self:
        """Validate the target and options, reporting every problem together."""
        errors: list[FieldError] = []
        options = spec.options
        _reject_unknown(options, OPTIONS, errors)

        host, port = "", 0
        try:
            host, port = parse_host_port(spec.target)
        except ValueError as exc:
            errors.append(FieldError("target", str(exc)))
        if not options:
            # A connect-only check, the common kind, has no more to read.
            if errors:
                raise ValidationError(errors)
            return cls(host, port, _literal_family(host), spec.timeout)

        payload = _payload(options, errors)
        pattern = _pattern(options.get("expect"), errors)
        max_bytes = _max_bytes(options.get("max_bytes", DEFAULT_MAX_BYTES), errors)
        condition = condition_option(options.get("condition"), CONDITION_NAMES, errors)

        if errors:
            raise ValidationError(errors)
        return cls(
            host,
            port,
            _literal_family(host),
            spec.timeout,
            payload,
            pattern,
            max_bytes,
            condition,
        )

    @property
    def _where(self) -> str:
        """The target as failures name it."""
        return f"{self._host}:{self._port}"

    @property
    def talks(self) -> bool:
        """Whether a run reads a reply rather than only connecting."""
        return self._talks

    async def run(self) -> Observation:
        """Connect, then talk when asked to; the monitor's timeout bounds it all.

        The timeout is one timer that cancels this task, rather than a timeout
        context, because a connect-only run is little more than that timer and
        a connection. A cancellation becomes a timeout failure only when that
        timer fired and nobody else asked for it; any other goes on up.
        """
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        deadline = _Deadline(task)
        timer = loop.call_later(self._timeout, deadline.expire)
        started = time.perf_counter()
        phases: dict[str, float] = {}
        step = "connect"
        reader: _ReplyReader | None = None
        try:
            family = self._family
            if family is None:
                step = "dns"
                addresses = await self._resolve(loop)
                phases["dns"] = _ms(started)
                step = "connect"
            else:
                addresses = self._literal_addresses(family)

            connect_started = time.perf_counter()
            if not self._talks:
                # The base protocol ignores everything, which is all a
                # connect-only run asks of the connection before closing it.
                transport, _ = await self._connect(loop, addresses, asyncio.Protocol)
                transport.close()
                phases["connect"] = _ms(connect_started)
                phases["total"] = _ms(started)
                return Observation(phases["total"], phases)

            reader = _ReplyReader(loop.create_future(), self._pattern, self._max_bytes)
            transport, address = await self._connect(loop, addresses, reader.itself)
            phases["connect"] = _ms(connect_started)
            step = "reply"
            await self._exchange(transport, reader)
        except asyncio.CancelledError:
            if not deadline.expired or task.uncancel() > 0:
                raise
            raise self._timed_out(step, reader, phases, started) from None
        except TimeoutError as exc:
            # The system gave up on the connection before the timer did.
            raise self._timed_out(step, reader, phases, started) from exc
        except CheckFailure as failure:
            failure.phases.update(phases)
            failure.phases["total"] = _ms(started)
            raise
        finally:
            timer.cancel()

        phases["total"] = _ms(started)
        if reader.first_byte_at is not None:
            phases["first_byte"] = (reader.first_byte_at - started) * 1000.0
        if self._pattern is not None and not reader.matched:
            raise self._mismatch(reader, phases, "at EOF" if reader.eof else "")
        reply = reader.text()
        details = {"address": _show(address), "reply": reply[:KEPT_REPLY_CHARS]}
        if self._condition is not None:
            env = {"reply": reply, "response_time": phases["total"]}
            problem = self._condition.check(env)
            if problem is not None:
                raise CheckFailure(
                    Reason.ASSERTION, problem, phases=phases, details=details
                )
        return Observation(phases["total"], phases, details)

    def _literal_addresses(self, family: int) -> Addresses:
        """The socket address of an IP literal host, made for each run.

        Three small tuples cost a run next to nothing; kept on each check they
        would cost a shard of a million checks some 160 MB.
        """
        if family == socket.AF_INET6:
            return ((family, (self._host, self._port, 0, 0)),)
        return ((family, (self._host, self._port)),)

    async def _resolve(self, loop: asyncio.AbstractEventLoop) -> Addresses:
        try:
            infos = await loop.getaddrinfo(
                self._host, self._port, type=socket.SOCK_STREAM
            )
        except socket.gaierror as exc:
            raise CheckFailure(
                Reason.DNS, f"could not resolve {self._host}: {exc.strerror}"
            ) from exc
        return [(family, address) for family, _, _, _, address in infos]

    async def _connect(
        self,
        loop: asyncio.AbstractEventLoop,
        addresses: Addresses,
        protocol: Callable[[], asyncio.Protocol],
    ) -> tuple[asyncio.Transport, Address]:
        """A connection to the first address that accepts, tried in order.

        The loop creates and closes the socket, which costs a connect-only run
        far less than building a ``socket.socket`` here.
        """
        failure: OSError | None = None
        for family, address in addresses:
            try:
                transport, _ = await loop.create_connection(
                    protocol, address[0], address[1], family=family
                )
            except TimeoutError:
                raise
            except OSError as exc:
                failure = exc
                continue
            return transport, address
        assert failure is not None
        if isinstance(failure, ConnectionRefusedError):
            problem = "connection refused"
        else:
            problem = failure.strerror or str(failure)
        raise CheckFailure(
            Reason.CONNECT, f"could not connect to {self._where}: {problem}"
        ) from failure

    async def _exchange(
        self, transport: asyncio.Transport, reader: _ReplyReader
    ) -> None:
        try:
            if self._payload:
                transport.write(self._payload)
            await reader.done
        except ConnectionError as exc:
            if not reader.buffer:
                raise CheckFailure(
                    Reason.CONNECT,
                    f"{self._where} dropped the connection: {exc}",
                ) from exc
        finally:
            transport.close()

    def _timed_out(
        self,
        step: str,
        reader: _ReplyReader | None,
        phases: dict[str, float],
        started: float,
    ) -> CheckFailure:
        """The failure for a run cut short, naming the step that ran out of time.

        A reply that had begun but not matched is reported as the mismatch it
        is, since the text it quotes says more than the timeout would.
        """
        phases["total"] = _ms(started)
        if reader is not None and reader.buffer:
            return self._mismatch(reader, phases, "before the timeout")
        what = {
            "dns": f"resolving {self._host}",
            "connect": f"connecting to {self._where}",
            "reply": f"waiting for a reply from {self._where}",
        }[step]
        return CheckFailure(
            Reason.TIMEOUT,
            f"{what} took longer than {format_duration(self._timeout)}",
            phases=phases,
            details={"step": step},
        )

    def _mismatch(
        self, reader: _ReplyReader, phases: dict[str, float], when: str
    ) -> CheckFailure:
        assert self._pattern is not None
        reply = reader.text()
        quoted = repr(reply[:QUOTED_REPLY_CHARS])
        if len(reply) > QUOTED_REPLY_CHARS or reader.truncated:
            quoted += " (truncated)"
        expected = self._pattern.pattern.decode("utf-8", "replace")
        suffix = f" {when}" if when else ""
        return CheckFailure(
            Reason.ASSERTION,
            f"reply did not match /{expected}/{suffix}; got {quoted}",
            phases=phases,
            details={"reply": reply[:KEPT_REPLY_CHARS], "truncated": reader.truncated},
        )


class _Deadline:
    """The timer callback that ends a run at its timeout, and says whether it did.

    ``run`` needs to tell its own cancellation from one that came from outside
    (the scheduler closing, a monitor removed), which must not become a
    timeout failure.
    """

    __slots__ = ("_task", "expired")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self._task = task
        self.expired = False

    def expire(self) -> None:
        self.expired = True
        self._task.cancel()


class _ReplyReader(asyncio.Protocol):
    """Collect a reply until the pattern matches, the peer closes, or the cap.

    Without a pattern the first chunk that arrives is the reply: that is
    what a banner check (SSH, SMTP) wants.
    """

    __slots__ = (
        "_limit",
        "_pattern",
        "buffer",
        "done",
        "eof",
        "first_byte_at",
        "matched",
        "truncated",
    )

    def __init__(
        self,
        done: asyncio.Future[None],
        pattern: re.Pattern[bytes] | None,
        limit: int,
    ) -> None:
        self.done = done
        self.buffer = bytearray()
        self.first_byte_at: float | None = None
        self.matched = False
        self.truncated = False
        self.eof = False
        self._pattern = pattern
        self._limit = limit

    def itself(self) -> _ReplyReader:
        """This reader, as the protocol factory for each address tried."""
        return self

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        if self.first_byte_at is None:
            self.first_byte_at = time.perf_counter()
        self.buffer += data
        if len(self.buffer) >= self._limit:
            self.truncated = len(self.buffer) > self._limit
            del self.buffer[self._limit :]
        if self._pattern is not None:
            self.matched = self._pattern.search(self.buffer) is not None
            if self.matched or len(self.buffer) >= self._limit:
                self.done.set_result(None)
        else:
            self.done.set_result(None)

    def eof_received(self) -> bool | None:
        self.eof = True
        if not self.done.done():
            self.done.set_result(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done.done():
            return
        if exc is None or self.buffer:
            self.done.set_result(None)
        else:
            self.done.set_exception(exc)

    def text(self) -> str:
        return self.buffer.decode("utf-8", "replace")


def parse_host_port(target: str) -> tuple[str, int]:
    """Split ``host:port`` or ``[ipv6]:port``; raise ``ValueError`` saying why not."""
    text = target.strip()
    shape = f"must be host:port or [ipv6]:port, got {target!r}"
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or text[close + 1 : close + 2] != ":":
            raise ValueError(shape)
        host, port_text = text[1:close], text[close + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} in brackets is not an IPv6 address") from None
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon or not host:
            raise ValueError(shape)
        if ":" in host:
            raise ValueError(
                f"an IPv6 address needs brackets, e.g. [::1]:80, got {target!r}"
            )
        if not is_ipv4(host) and not is_hostname(host):
            raise ValueError(f"{host!r} is not a valid host name or IP address")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port must be between 1 and 65535, got {port_text!r}")
    return host, int(port_text)


def _literal_family(host: str) -> int | None:
    """The address family of an IP literal, or None for a name to resolve."""
    if is_ipv4(host):
        return socket.AF_INET
    if ":" not in host:
        return None
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return None
    return socket.AF_INET6


def _reject_unknown(
    options: Mapping[str, Any], known: tuple[str, ...], errors: list[FieldError]
) -> None:
    for key in options:
        if key not in known:
            errors.append(
                FieldError(
                    f"options.{key}", f"unknown option; known: {', '.join(known)}"
                )
            )


def _payload(options: Mapping[str, Any], errors: list[FieldError]) -> bytes | None:
    text, hex_text = options.get("send"), options.get("send_hex")
    if text is not None and hex_text is not None:
        errors.append(
            FieldError("options.send_hex", "cannot be used together with options.send")
        )
        return None
    if text is not None:
        if not isinstance(text, str):
            errors.append(FieldError("options.send", f"must be text, got {text!r}"))
            return None
        return text.encode("utf-8")
    if hex_text is not None:
        try:
            if not isinstance(hex_text, str):
                raise ValueError
            return bytes.fromhex(hex_text)
        except ValueError:
            errors.append(
                FieldError(
                    "options.send_hex",
                    f"must be hexadecimal bytes such as '0d 0a', got {hex_text!r}",
                )
            )
    return None


def _pattern(value: Any, errors: list[FieldError]) -> re.Pattern[bytes] | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        errors.append(
            FieldError("options.expect", f"must be a regular expression, got {value!r}")
        )
        return None
    try:
        return re.compile(value.encode("utf-8"))
    except re.error as exc:
        errors.append(
            FieldError("options.expect", f"is not a valid regular expression: {exc}")
        )
        return None


def _max_bytes(value: Any, errors: list[FieldError]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(
            FieldError("options.max_bytes", f"must be a whole number, got {value!r}")
        )
        return DEFAULT_MAX_BYTES
    if not 1 <= value <= MAX_MAX_BYTES:
        errors.append(
            FieldError(
                "options.max_bytes",
                f"must be between 1 and {MAX_MAX_BYTES}, got {value}",
            )
        )
        return DEFAULT_MAX_BYTES
    return value


def _show(address: Address) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0


register(TcpCheck)
