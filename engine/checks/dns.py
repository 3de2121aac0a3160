"""The ``dns`` check kind: ask a resolver for one record type and judge the answers.

Queries go straight to a name server with dnspython's asyncio query functions
rather than through a resolver object, so every answer keeps its response
code: a check can then say whether a name does not exist (NXDOMAIN), the
server failed (SERVFAIL) or the name simply has no records of that type.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import time
from collections.abc import Sequence
from typing import Any, Self

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
from dns.rdata import Rdata

from engine.checks import register
from engine.checks.base import Check, CheckSpec, unknown_options
from engine.checks.options import condition_option
from engine.conditions import Condition
from engine.durations import format_duration
from engine.errors import FieldError, ValidationError
from engine.result import CheckFailure, Observation, Reason

logger = logging.getLogger(__name__)

CONDITION_NAMES = ("answers", "rcode", "response_time")

RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS", "SOA")
TRANSPORTS = ("udp", "tcp")
OPTIONS = (
    "record_type",
    "resolver",
    "expect",
    "expect_rcode",
    "transport",
    "condition",
)
MAX_EXPECTED = 100
DEFAULT_PORT = 53

Server = tuple[str, int]
Servers = Sequence[Server]

NAME_CACHE_SIZE = 4096
"""How many target names keep their parsed ``Name``."""

RESOLVER_CACHE_SIZE = 256
"""How many ``resolver`` values keep their parsed server."""

_SPACE = re.compile(r"\s")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_*-]+(?:\.[A-Za-z0-9_*-]+)*\.?")


class DnsCheck(Check):
    """Resolve ``target`` as one record type and compare the answers."""

    __slots__ = (
        "_condition",
        "_expect_rcode",
        "_expected",
        "_name",
        "_rdtype",
        "_servers",
        "_tcp",
        "_timeout",
    )

    kind = "dns"

    def __init__(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        servers: Servers | None,
        timeout: float,
        expected: tuple[str, ...] = (),
        expect_rcode: dns.rcode.Rcode | None = None,
        tcp: bool = False,
        condition: Condition | None = None,
    ) -> None:
        self._name = name
        self._rdtype = rdtype
        self._servers = servers
        self._timeout = timeout
        self._expected = expected
        self._expect_rcode = expect_rcode
        self._tcp = tcp
        self._condition = condition

    @classmethod
    def prepare(cls, spec: CheckSpec) -> Self:
        """Validate the name and options, reporting every problem together."""
        errors: list[FieldError] = []
        options = spec.options
        errors.extend(unknown_options(options, OPTIONS))

        name = _name(spec.target, errors)
        type_text = options.get("record_type", "A")
        rdtype = dns.rdatatype.A
        if isinstance(type_text, str) and type_text.upper() in RECORD_TYPES:
            rdtype = dns.rdatatype.from_text(type_text.upper())
        else:
            errors.append(
                FieldError(
                    "options.record_type",
                    f"must be one of {', '.join(RECORD_TYPES)}, got {type_text!r}",
                )
            )
            type_text = None
        servers = _resolver(options.get("resolver"), errors)
        expected = _expected(options.get("expect"), type_text, errors)
        expect_rcode = _rcode(options.get("expect_rcode"), errors)
        transport = options.get("transport", "udp")
        if transport not in TRANSPORTS:
            errors.append(
                FieldError(
                    "options.transport",
                    f"must be one of {', '.join(TRANSPORTS)}, got {transport!r}",
                )
            )
        condition = condition_option(options.get("condition"), CONDITION_NAMES, errors)

        if errors or name is None:
            raise ValidationError(errors)
        return cls(
            name,
            rdtype,
            servers,
            spec.timeout,
            expected,
            expect_rcode,
            transport == "tcp",
            condition,
        )

    async def run(self) -> Observation:
        """Query the servers in turn and judge the first response that arrives."""
        started = time.perf_counter()
        deadline = started + self._timeout
        servers = self._servers or _system_servers()
        query = dns.message.make_query(self._name, self._rdtype)
        label = self._name.to_text(omit_final_dot=True)
        type_text = dns.rdatatype.to_text(self._rdtype)

        response, server, used_tcp = await self._ask(query, servers, deadline)
        elapsed = (time.perf_counter() - started) * 1000.0
        phases = {"total": elapsed}
        rcode = response.rcode()
        rcode_text = dns.rcode.to_text(rcode)
        # Records in a set have no order; sorting keeps details comparable.
        answers = sorted(
            format_rdata(rdata)
            for rrset in response.answer
            if rrset.rdtype == self._rdtype
            for rdata in rrset
        )
        details: dict[str, Any] = {
            "answers": answers,
            "rcode": rcode_text,
            "resolver": _show(server),
            "transport": "tcp" if used_tcp else "udp",
        }

        if self._expect_rcode is not None:
            if rcode != self._expect_rcode:
                raise CheckFailure(
                    Reason.ASSERTION,
                    f"{label} {type_text} answered {rcode_text}, "
                    f"expected {dns.rcode.to_text(self._expect_rcode)}",
                    retryable=True,
                    phases=phases,
                    details=details,
                )
        elif rcode == dns.rcode.NXDOMAIN:
            raise CheckFailure(
                Reason.DNS,
                f"{label} does not exist (NXDOMAIN from {_show(server)})",
                retryable=False,
                phases=phases,
                details=details,
            )
        elif rcode != dns.rcode.NOERROR:
            raise CheckFailure(
                Reason.DNS,
                f"{_show(server)} answered {rcode_text} for {label} {type_text}",
                phases=phases,
                details=details,
            )
        elif not answers:
            raise CheckFailure(
                Reason.DNS,
                f"{label} has no {type_text} records (NOERROR with an empty answer)",
                retryable=False,
                phases=phases,
                details=details,
            )

        missing = self._missing(answers)
        if missing:
            got = ", ".join(answers) if answers else "nothing"
            raise CheckFailure(
                Reason.ASSERTION,
                f"{label} {type_text} lacks {', '.join(missing)}; got {got}",
                phases=phases,
                details=details,
            )
        if self._condition is not None:
            env = {"answers": answers, "rcode": rcode_text, "response_time": elapsed}
            problem = self._condition.check(env)
            if problem is not None:
                raise CheckFailure(
                    Reason.ASSERTION, problem, phases=phases, details=details
                )
        return Observation(elapsed, phases, details)

    async def _ask(
        self, query: dns.message.Message, servers: Servers, deadline: float
    ) -> tuple[dns.message.Message, Server, bool]:
        """The first response from ``servers``, each given a fair share of time.

        A server that times out or cannot be reached hands over to the next;
        when none answers, the last problem is the one reported.
        """
        failure: CheckFailure | None = None
        for index, server in enumerate(servers):
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            share = remaining / (len(servers) - index)
            try:
                return await self._exchange(query, server, share, deadline)
            except dns.exception.Timeout as exc:
                failure = CheckFailure(
                    Reason.TIMEOUT,
                    f"no answer from {_show(server)} within {format_duration(share)}",
                )
                failure.__cause__ = exc
            except OSError as exc:
                failure = CheckFailure(
                    Reason.CONNECT,
                    f"could not reach {_show(server)}: {exc.strerror or exc}",
                )
                failure.__cause__ = exc
            except dns.exception.DNSException as exc:
                failure = CheckFailure(
                    Reason.PROTOCOL, f"bad response from {_show(server)}: {exc}"
                )
                failure.__cause__ = exc
        if failure is None:
            failure = CheckFailure(
                Reason.TIMEOUT,
                "no time left to ask a resolver within "
                + format_duration(self._timeout),
            )
        raise failure

    async def _exchange(
        self,
        query: dns.message.Message,
        server: Server,
        budget: float,
        deadline: float,
    ) -> tuple[dns.message.Message, Server, bool]:
        """One query over UDP, retried over TCP when the answer was truncated."""
        host, port = server
        if not self._tcp:
            response = await dns.asyncquery.udp(query, host, budget, port)
            if not response.flags & dns.flags.TC:
                return response, server, False
            logger.debug("answer from %s was truncated; asking again over TCP", host)
            budget = max(deadline - time.perf_counter(), 0.001)
        response = await dns.asyncquery.tcp(query, host, budget, port)
        return response, server, True

    def _missing(self, answers: list[str]) -> list[str]:
        if not self._expected:
            return []
        present: set[str] = set()
        for answer in answers:
            present.update(_answer_keys(answer, self._rdtype))
        return [value for value in self._expected if value not in present]


def format_rdata(rdata: Rdata) -> str:
    """One answer as text: addresses compressed, names without the final dot."""
    rdtype = rdata.rdtype
    if rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return str(rdata.address)  # type: ignore[attr-defined]
    if rdtype in (dns.rdatatype.CNAME, dns.rdatatype.NS):
        return _host(rdata.target)  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.MX:
        return f"{rdata.preference} {_host(rdata.exchange)}"  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.SRV:
        srv: Any = rdata
        return f"{srv.priority} {srv.weight} {srv.port} {_host(srv.target)}"
    if rdtype == dns.rdatatype.SOA:
        soa: Any = rdata
        return (
            f"{_host(soa.mname)} {_host(soa.rname)} {soa.serial} {soa.refresh} "
            f"{soa.retry} {soa.expire} {soa.minimum}"
        )
    return rdata.to_text()


def normalise(value: str, record_type: str) -> str:
    """An expected value or an answer in the form they are compared in.

    Names compare without case or a final dot and whitespace is collapsed.
    TXT data keeps its case because verification tokens are case-sensitive.
    Addresses are compared in their compressed form, so ``2001:DB8:0::1``
    equals ``2001:db8::1``.
    """
    text = " ".join(value.split())
    if record_type == "TXT":
        return text
    if record_type == "A":
        return str(ipaddress.IPv4Address(text))
    if record_type == "AAAA":
        return str(ipaddress.IPv6Address(text))
    return " ".join(word.lower().rstrip(".") or word for word in text.split(" "))


def _answer_keys(answer: str, rdtype: dns.rdatatype.RdataType) -> set[str]:
    """Ways an expected value may name ``answer``: whole, or by its host name.

    ``mail.example.com`` is found among MX answers without its preference,
    and likewise an SRV target or the primary server of an SOA.
    """
    type_text = dns.rdatatype.to_text(rdtype)
    keys = {normalise(answer, type_text)}
    words = answer.split(" ")
    if rdtype in (dns.rdatatype.MX, dns.rdatatype.SRV):
        keys.add(words[-1])
    elif rdtype == dns.rdatatype.SOA:
        keys.add(words[0])
    return keys


@functools.cache
def _system_servers() -> list[Server]:
    """The name servers of the host's resolver configuration, read once."""
    try:
        resolver = dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration as exc:
        raise CheckFailure(
            Reason.DNS,
            "the host has no resolver configured; set options.resolver",
            retryable=False,
        ) from exc
    servers = [(str(address), resolver.port) for address in resolver.nameservers]
    if not servers:
        raise CheckFailure(
            Reason.DNS,
            "the host's resolver configuration names no server; set options.resolver",
            retryable=False,
        )
    return servers


def _name(target: str, errors: list[FieldError]) -> dns.name.Name | None:
    text = target.strip()
    if not text or _SPACE.search(text):
        errors.append(FieldError("target", f"must be a DNS name, got {target!r}"))
        return None
    try:
        return _dns_name(text)
    except dns.exception.DNSException as exc:
        errors.append(FieldError("target", f"is not a valid DNS name: {exc}"))
        return None


@functools.lru_cache(maxsize=NAME_CACHE_SIZE)
def _dns_name(text: str) -> dns.name.Name:
    """``dns.name.from_text``, reading the plain names most targets are directly.

    ``from_text`` walks its text a byte at a time for escapes; a plain name
    (letters, digits, ``-``, ``_`` and ``*`` in labels between dots) splits
    at its dots into the same labels, and ``Name`` checks their lengths as
    ``from_text`` would. Names are immutable, so checks of one name share it.
    """
    if _PLAIN_NAME.fullmatch(text):
        labels = text.encode("ascii").split(b".")
        if labels[-1]:
            labels.append(b"")
        return dns.name.Name(labels)
    return dns.name.from_text(text)


def _resolver(value: Any, errors: list[FieldError]) -> Servers | None:
    """``host`` or ``host:port`` (``[v6]:port``) of the server to ask."""
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(FieldError("options.resolver", _resolver_shape(value)))
        return None
    try:
        return _servers_at(value)
    except ValueError as exc:
        errors.append(FieldError("options.resolver", str(exc)))
        return None


@functools.lru_cache(maxsize=RESOLVER_CACHE_SIZE, typed=True)
def _servers_at(value: str) -> Servers:
    """The one server ``value`` names, shared by every check that names it.

    Raises ``ValueError`` with the problem, fit to follow the field name.
    """
    host, port_text = value.strip(), str(DEFAULT_PORT)
    if host.startswith("[") and "]" in host:
        host, _, rest = host[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(_resolver_shape(value))
            port_text = rest[1:]
    elif host.count(":") == 1:
        host, _, port_text = host.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(_resolver_shape(value)) from None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port must be between 1 and 65535, got {port_text!r}")
    return ((str(address), int(port_text)),)


def _resolver_shape(value: Any) -> str:
    return (
        "must be an IP address with an optional port, such as 9.9.9.9, "
        f"9.9.9.9:5353 or [::1]:53, got {value!r}"
    )


def _expected(
    value: Any, record_type: str | None, errors: list[FieldError]
) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not value:
        errors.append(
            FieldError("options.expect", f"must be a list of values, got {value!r}")
        )
        return ()
    if len(value) > MAX_EXPECTED:
        errors.append(
            FieldError("options.expect", f"must hold at most {MAX_EXPECTED} values")
        )
        return ()
    expected: list[str] = []
    for index, item in enumerate(value):
        field = f"options.expect[{index}]"
        if not isinstance(item, str | int) or isinstance(item, bool) or item == "":
            errors.append(FieldError(field, f"must be text, got {item!r}"))
            continue
        if record_type is None:
            continue
        try:
            expected.append(normalise(str(item), record_type))
        except ValueError:
            errors.append(
                FieldError(field, f"is not an {record_type} address, got {item!r}")
            )
    return tuple(expected)


def _rcode(value: Any, errors: list[FieldError]) -> dns.rcode.Rcode | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        return dns.rcode.from_text(value.upper())
    except (ValueError, dns.exception.DNSException):
        known = "NOERROR, NXDOMAIN, SERVFAIL, REFUSED"
        errors.append(
            FieldError(
                "options.expect_rcode",
                f"must be a response code such as {known}, got {value!r}",
            )
        )
        return None


def _host(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower()


def _show(server: Server) -> str:
    host, port = server
    shown = f"[{host}]" if ":" in host else host
    return shown if port == DEFAULT_PORT else f"{shown}:{port}"


register(DnsCheck)
