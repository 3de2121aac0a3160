"""A small authoritative DNS server for tests, over UDP and TCP on 127.0.0.1.

It answers from an in-memory zone built with dnspython, follows CNAMEs the
way a recursive resolver would, answers NXDOMAIN for names it does not hold
and SERVFAIL for names marked broken, and truncates UDP answers that do not
fit 512 bytes so that clients must ask again over TCP.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

UDP_LIMIT = 512

Records = Mapping[tuple[str, str], Iterable[str]]

ZONE: Records = {
    ("example.test", "SOA"): [
        "ns1.example.test. hostmaster.example.test. 2024010101 3600 600 86400 300"
    ],
    ("example.test", "NS"): ["ns1.example.test.", "ns2.example.test."],
    ("example.test", "MX"): ["10 mail.example.test.", "20 backup.example.test."],
    ("example.test", "TXT"): ['"v=spf1 -all"', '"Hello " "World"'],
    ("www.example.test", "A"): ["192.0.2.10", "192.0.2.11"],
    ("www.example.test", "AAAA"): ["2001:db8::10"],
    ("alias.example.test", "CNAME"): ["www.example.test."],
    ("_sip._tcp.example.test", "SRV"): ["10 5 5060 sip.example.test."],
    ("mail.example.test", "A"): ["192.0.2.25"],
    ("big.example.test", "TXT"): [
        f'"{"padding-" * 20}{index:03d}"' for index in range(8)
    ],
}


@dataclass
class ZoneServer:
    """Serve ``records`` until ``stop``; ``queries`` logs (name, type, transport)."""

    records: Records = field(default_factory=lambda: ZONE)
    broken: frozenset[str] = frozenset({"broken.example.test"})
    host: str = "127.0.0.1"
    port: int = 0
    queries: list[tuple[str, str, str]] = field(default_factory=list)
    _udp: asyncio.DatagramTransport | None = None
    _tcp: asyncio.Server | None = None

    async def start(self) -> ZoneServer:
        """Bind UDP on a free port, then TCP on the same port."""
        loop = asyncio.get_running_loop()
        for _ in range(20):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.host, 0)
            )
            port = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port)
            except OSError:
                transport.close()
                continue
            self._udp = transport
            self.port = port
            return self
        raise RuntimeError("no port was free for both UDP and TCP")

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()

    async def __aenter__(self) -> ZoneServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        """The wire reply to one query, or None when it cannot be parsed."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        type_text = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, type_text, transport))

        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self.broken:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif not any(owner == name for owner, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            response.answer.extend(self._lookup(name, type_text))

        if transport == "tcp":
            return response.to_wire()
        limit = query.payload if query.edns >= 0 else UDP_LIMIT
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.AA | dns.flags.TC
            return truncated.to_wire()

    def _lookup(self, name: str, type_text: str) -> list[dns.rrset.RRset]:
        """The answer section, following at most a few CNAMEs."""
        found: list[dns.rrset.RRset] = []
        for _ in range(8):
            values = self.records.get((name, type_text))
            if values is not None:
                found.append(_rrset(name, type_text, values))
                break
            target = self.records.get((name, "CNAME"))
            if target is None:
                break
            found.append(_rrset(name, "CNAME", target))
            name = next(iter(target)).rstrip(".").lower()
        return found

    async def _serve_tcp(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                reply = self.answer(await reader.readexactly(size), "tcp")
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: ZoneServer) -> None:
        self._server = server
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's datagram transport does not inherit from asyncio's class.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        reply = self._server.answer(data, "udp")
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)


def _rrset(name: str, type_text: str, values: Iterable[str]) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(
        dns.name.from_text(name), 300, dns.rdataclass.IN, type_text, list(values)
    )
