"""The ``icmp`` check kind (alias ``ping``): echo requests, loss and round trips.

Echoes go out over a non-blocking socket watched by the event loop. The
unprivileged ICMP datagram socket is tried first (Linux allows it to the
groups in ``net.ipv4.ping_group_range``, for IPv6 too); a raw socket is the
fallback when the process holds CAP_NET_RAW. A raw socket sees every ICMP
packet the host receives, so replies are matched by identifier, sequence
and a random token carried in the payload.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import struct
import time
from pathlib import Path
from typing import Any, Self

from engine.checks import register
from engine.checks.base import Check, CheckSpec, unknown_options
from engine.checks.options import is_hostname, is_ipv4
from engine.durations import format_duration, parse_duration
from engine.errors import FieldError, ValidationError
from engine.result import CheckFailure, Observation, Reason

logger = logging.getLogger(__name__)

OPTIONS = ("count", "interval", "wait", "max_loss", "max_rtt_ms", "payload_size")
DEFAULT_COUNT = 3
MAX_COUNT = 100
DEFAULT_INTERVAL = 0.5
MIN_INTERVAL = 0.01
DEFAULT_WAIT = 1.0
DEFAULT_PAYLOAD_SIZE = 56
TOKEN_SIZE = 8
MAX_PAYLOAD_SIZE = 65507 - 8

PING_GROUP_RANGE = Path("/proc/sys/net/ipv4/ping_group_range")

_ECHO: dict[int, tuple[int, int]] = {
    socket.AF_INET: (8, 0),
    socket.AF_INET6: (128, 129),
}
_PROTOCOL: dict[int, int] = {
    socket.AF_INET: socket.IPPROTO_ICMP,
    socket.AF_INET6: socket.IPPROTO_ICMPV6,
}
_HEADER = struct.Struct("!BBHHH")

# The socket constructor, a module attribute so tests can refuse permission.
_new_socket = socket.socket

Address = tuple[Any, ...]


class IcmpCheck(Check):
    """Send ``count`` echo requests to a host and judge loss and round trips."""

    __slots__ = (
        "_address",
        "_count",
        "_host",
        "_interval",
        "_max_loss",
        "_max_rtt_ms",
        "_payload_size",
        "_wait",
    )

    kind = "icmp"

    def __init__(
        self,
        host: str,
        address: tuple[int, Address] | None,
        count: int,
        interval: float,
        wait: float,
        max_loss: float | None,
        max_rtt_ms: float | None,
        payload_size: int,
    ) -> None:
        self._host = host
        self._address = address
        self._count = count
        self._interval = interval
        self._wait = wait
        self._max_loss = max_loss
        self._max_rtt_ms = max_rtt_ms
        self._payload_size = payload_size

    @classmethod
    def prepare(cls, spec: CheckSpec) -> Self:
        """Validate the host and options, reporting every problem together.

        The echoes and the wait for the last reply must fit in the monitor's
        timeout; unless ``wait`` is given it shrinks to make them fit.
        """
        errors: list[FieldError] = []
        options = spec.options
        errors.extend(unknown_options(options, OPTIONS))

        host = spec.target.strip()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        address = _literal_address(host)
        if address is None and not is_hostname(host):
            errors.append(
                FieldError("target", f"must be a host name or IP address, got {host!r}")
            )

        count = _whole(options, "count", DEFAULT_COUNT, 1, MAX_COUNT, errors)
        payload_size = _whole(
            options,
            "payload_size",
            DEFAULT_PAYLOAD_SIZE,
            TOKEN_SIZE,
            MAX_PAYLOAD_SIZE,
            errors,
        )
        interval = _seconds(options, "interval", DEFAULT_INTERVAL, errors)
        if interval is not None and interval < MIN_INTERVAL:
            errors.append(
                FieldError(
                    "options.interval",
                    f"must be at least {format_duration(MIN_INTERVAL)}, "
                    f"got {format_duration(interval)}",
                )
            )
            interval = None
        max_loss = _number(options, "max_loss", 0.0, 100.0, errors)
        max_rtt_ms = _number(options, "max_rtt_ms", 0.0, None, errors)
        if max_rtt_ms == 0:
            errors.append(FieldError("options.max_rtt_ms", "must be above 0, got 0"))

        budget = spec.timeout
        sending = (count - 1) * (interval or DEFAULT_INTERVAL)
        wait = _seconds(options, "wait", None, errors)
        if wait is None and "wait" not in options:
            wait = min(DEFAULT_WAIT, budget - sending)
        fits = wait is None or (wait > 0 and sending + wait <= budget)
        if interval is not None and not fits:
            errors.append(
                FieldError(
                    "options.count",
                    f"{count} echoes {format_duration(interval)} apart and a "
                    f"wait for the last reply must fit in the monitor's timeout "
                    f"({format_duration(spec.timeout)})",
                )
            )

        if errors or interval is None or wait is None:
            raise ValidationError(errors)
        return cls(
            host,
            address,
            count,
            interval,
            wait,
            max_loss,
            max_rtt_ms,
            payload_size,
        )

    async def run(self) -> Observation:
        """Send the echoes on schedule, collect replies, then judge them."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        phases: dict[str, float] = {}
        target = self._address
        if target is None:
            target = await self._resolve(loop)
            phases["dns"] = (time.perf_counter() - started) * 1000.0
        family, address = target

        sock, raw = open_icmp_socket(family)
        session = _EchoSession(sock, family, raw, self._count, loop.create_future())
        payload = session.token + bytes(self._payload_size - TOKEN_SIZE)
        loop.add_reader(sock.fileno(), session.on_readable)
        try:
            await self._send_all(loop, session, address, payload)
            try:
                async with asyncio.timeout(self._wait):
                    await session.complete
            except TimeoutError:
                pass
        finally:
            loop.remove_reader(sock.fileno())
            sock.close()

        phases["total"] = (time.perf_counter() - started) * 1000.0
        return self._judge(session, address, raw, phases)

    async def _send_all(
        self,
        loop: asyncio.AbstractEventLoop,
        session: _EchoSession,
        address: Address,
        payload: bytes,
    ) -> None:
        """One echo every ``interval``, timed from the first to avoid drift."""
        first = time.perf_counter()
        for sequence in range(self._count):
            delay = first + sequence * self._interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            packet = session.packet(sequence, payload)
            session.sent_at[sequence] = time.perf_counter()
            try:
                session.sock.sendto(packet, address)
            except OSError as exc:
                raise CheckFailure(
                    Reason.CONNECT,
                    f"could not send an echo to {self._host}: {exc.strerror or exc}",
                ) from exc

    def _judge(
        self,
        session: _EchoSession,
        address: Address,
        raw: bool,
        phases: dict[str, float],
    ) -> Observation:
        rtts = sorted(session.rtts.values())
        received = len(rtts)
        loss = 100.0 * (self._count - received) / self._count
        details: dict[str, Any] = {
            "address": address[0],
            "socket": "raw" if raw else "datagram",
            "sent": self._count,
            "received": received,
            "loss_percent": round(loss, 2),
        }
        if not rtts:
            raise CheckFailure(
                Reason.TIMEOUT,
                f"no echo reply from {self._host}: {self._count} sent, none "
                f"answered within {format_duration(self._wait)} of the last",
                phases=phases,
                details=details,
            )
        average = sum(rtts) / received
        details.update(
            rtt_min=round(rtts[0], 3),
            rtt_avg=round(average, 3),
            rtt_max=round(rtts[-1], 3),
        )
        if self._max_loss is not None and loss > self._max_loss:
            raise CheckFailure(
                Reason.ASSERTION,
                f"{self._host} lost {loss:g}% of echoes ({self._count - received} "
                f"of {self._count}), more than the allowed {self._max_loss:g}%",
                phases=phases,
                details=details,
            )
        if self._max_rtt_ms is not None and average > self._max_rtt_ms:
            raise CheckFailure(
                Reason.ASSERTION,
                f"average round trip to {self._host} was {average:.3f} ms, "
                f"above the allowed {self._max_rtt_ms:g} ms",
                phases=phases,
                details=details,
            )
        return Observation(average, phases, details)

    async def _resolve(self, loop: asyncio.AbstractEventLoop) -> tuple[int, Address]:
        try:
            infos = await loop.getaddrinfo(self._host, None, type=socket.SOCK_DGRAM)
        except socket.gaierror as exc:
            raise CheckFailure(
                Reason.DNS, f"could not resolve {self._host}: {exc.strerror}"
            ) from exc
        family, _, _, _, address = infos[0]
        return family, address


class _EchoSession:
    """The echoes of one run: what went out when, and which replies came back."""

    __slots__ = (
        "_family",
        "_ident",
        "_raw",
        "complete",
        "count",
        "rtts",
        "sent_at",
        "sock",
        "token",
    )

    def __init__(
        self,
        sock: socket.socket,
        family: int,
        raw: bool,
        count: int,
        complete: asyncio.Future[None],
    ) -> None:
        self.sock = sock
        self.count = count
        self.complete = complete
        self.token = os.urandom(TOKEN_SIZE)
        self.sent_at: dict[int, float] = {}
        self.rtts: dict[int, float] = {}
        self._family = family
        self._raw = raw
        self._ident = int.from_bytes(os.urandom(2), "big")

    def packet(self, sequence: int, payload: bytes) -> bytes:
        """An echo request; the kernel fills the IPv6 checksum itself."""
        request, _ = _ECHO[self._family]
        header = _HEADER.pack(request, 0, 0, self._ident, sequence)
        if self._family == socket.AF_INET6:
            return header + payload
        checksum = internet_checksum(header + payload)
        return _HEADER.pack(request, 0, checksum, self._ident, sequence) + payload

    def on_readable(self) -> None:
        """Drain the socket, timing every reply that belongs to this run."""
        while True:
            try:
                data = self.sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                logger.debug("ICMP receive failed: %s", exc)
                return
            received_at = time.perf_counter()
            sequence = self._sequence_of(data)
            if sequence is None or sequence in self.rtts:
                continue
            sent_at = self.sent_at.get(sequence)
            if sent_at is None:
                continue
            self.rtts[sequence] = (received_at - sent_at) * 1000.0
            if len(self.rtts) == self.count and not self.complete.done():
                self.complete.set_result(None)

    def _sequence_of(self, data: bytes) -> int | None:
        """The sequence number of an echo reply to this run, else None.

        Raw IPv4 sockets hand over the IP header too. Datagram sockets have
        their identifier rewritten by the kernel, which also filters replies
        for them, so only the raw case compares it.
        """
        offset = 0
        if self._raw and self._family == socket.AF_INET and data:
            offset = (data[0] & 0x0F) * 4
        if len(data) < offset + _HEADER.size + TOKEN_SIZE:
            return None
        kind, _, _, ident, sequence = _HEADER.unpack_from(data, offset)
        if kind != _ECHO[self._family][1]:
            return None
        if self._raw and ident != self._ident:
            return None
        start = offset + _HEADER.size
        if data[start : start + TOKEN_SIZE] != self.token:
            return None
        return int(sequence)


def open_icmp_socket(family: int) -> tuple[socket.socket, bool]:
    """A non-blocking ICMP socket for ``family`` and whether it is raw.

    Raises ``CheckFailure`` with ``Reason.PERMISSION`` when the kernel allows
    neither kind, with advice the operator can act on.
    """
    protocol = _PROTOCOL[family]
    try:
        sock = _new_socket(family, socket.SOCK_DGRAM, protocol)
        raw = False
    except OSError:
        try:
            sock = _new_socket(family, socket.SOCK_RAW, protocol)
            raw = True
        except PermissionError as exc:
            raise CheckFailure(
                Reason.PERMISSION, permission_advice(), retryable=False
            ) from exc
        except OSError as exc:
            version = "IPv4" if family == socket.AF_INET else "IPv6"
            problem = exc.strerror or exc
            raise CheckFailure(
                Reason.CONNECT,
                f"this host cannot open an {version} ICMP socket: {problem}",
                retryable=False,
            ) from exc
    sock.setblocking(False)
    return sock, raw


def permission_advice(path: Path = PING_GROUP_RANGE) -> str:
    """Why this process may not ping, and the two ways to allow it."""
    groups = sorted({os.getegid(), *os.getgroups()})
    window = ping_group_range(path)
    shown = "unknown" if window is None else f"{window[0]} {window[1]}"
    return (
        "the kernel refused an ICMP socket: the process groups "
        f"({', '.join(map(str, groups))}) are outside net.ipv4.ping_group_range "
        f"({shown}) and it lacks CAP_NET_RAW. Allow unprivileged ping with "
        '`sysctl -w net.ipv4.ping_group_range="0 2147483647"` (persist it in '
        "/etc/sysctl.d/; it covers IPv6 too), or grant CAP_NET_RAW, e.g. "
        "`setcap cap_net_raw+ep` on the Python binary or `cap_add: [NET_RAW]` "
        "for a container"
    )


def ping_group_range(path: Path = PING_GROUP_RANGE) -> tuple[int, int] | None:
    """The group ids allowed unprivileged ICMP sockets, or None if unknown."""
    try:
        low, high = path.read_text(encoding="ascii").split()
        return int(low), int(high)
    except (OSError, ValueError):
        return None


def unprivileged_ping_allowed(path: Path = PING_GROUP_RANGE) -> bool:
    """Whether one of this process's groups lies in ``ping_group_range``."""
    window = ping_group_range(path)
    if window is None:
        return False
    low, high = window
    return any(low <= group <= high for group in {os.getegid(), *os.getgroups()})


def internet_checksum(data: bytes) -> int:
    """The 16-bit ones' complement sum of RFC 1071 over ``data``."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _literal_address(host: str) -> tuple[int, Address] | None:
    if is_ipv4(host):
        return socket.AF_INET, (host, 0)
    if ":" not in host:
        return None
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return None
    return socket.AF_INET6, (host, 0, 0, 0)


def _whole(
    options: Any,
    key: str,
    default: int,
    low: int,
    high: int,
    errors: list[FieldError],
) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(
            FieldError(f"options.{key}", f"must be a whole number, got {value!r}")
        )
        return default
    if not low <= value <= high:
        errors.append(
            FieldError(
                f"options.{key}", f"must be between {low} and {high}, got {value}"
            )
        )
        return default
    return value


def _number(
    options: Any,
    key: str,
    low: float,
    high: float | None,
    errors: list[FieldError],
) -> float | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append(FieldError(f"options.{key}", f"must be a number, got {value!r}"))
        return None
    if value < low or (high is not None and value > high):
        bounds = (
            f"between {low:g} and {high:g}" if high is not None else f"above {low:g}"
        )
        errors.append(FieldError(f"options.{key}", f"must be {bounds}, got {value!r}"))
        return None
    return float(value)


def _seconds(
    options: Any, key: str, default: float | None, errors: list[FieldError]
) -> float | None:
    value = options.get(key)
    if value is None:
        return default
    try:
        return parse_duration(value)
    except ValueError as exc:
        errors.append(FieldError(f"options.{key}", str(exc)))
        return None


register(IcmpCheck, "ping")
