"""Real local HTTP and HTTPS servers for testing the http check kind.

The servers run on their own event loop in a background thread, so a test's
loop (whatever its scope) only ever plays the client, as the engine does.
``running_servers()`` starts them all on 127.0.0.1 with ports chosen by the
system, and stops every one of them on the way out.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import socket
import ssl
import tempfile
import threading
import zlib
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvloop
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

T = TypeVar("T")

CERT_DAYS = 30
"""Whole days the test certificate has left (it ends an hour past 30 days)."""

PAGE = "<html><body><h1>All systems operational</h1></body></html>"
PAYLOAD: Mapping[str, Any] = {
    "status": "ok",
    "version": "2.4.1",
    "checks": [{"name": "db", "status": "up"}, {"name": "cache", "status": "up"}],
}


@dataclass(frozen=True)
class RawReply:
    """A scripted reply from the raw server: pieces written with pauses between.

    ``close`` says whether the server closes the connection afterwards; when
    it does not, the connection stays open until the client goes away.
    """

    pieces: tuple[bytes, ...]
    close: bool = True
    pause: float = 0.02


RAW_REPLIES: Mapping[str, RawReply] = {
    "/until-close": RawReply(
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", b"read to the end")
    ),
    "/not-http": RawReply((b"SSH-2.0-OpenSSH_9.6\r\n\r\n",)),
    "/bad-header": RawReply((b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",)),
    "/truncated": RawReply(
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", b"only ten b")
    ),
    "/silent": RawReply(()),
    "/interim": RawReply(
        (
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfinal!",
        )
    ),
    "/split-chunks": RawReply(
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5",
            b"\r\nhel",
            b"lo\r",
            b"\n7;ext=1\r\n, world\r\n0\r\n",
            b"Trailer-Note: done\r\n\r\n",
        )
    ),
    "/bad-chunk": RawReply(
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",)
    ),
    "/endless-head": RawReply(
        (b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"a" * 70_000 + b"\r\n",)
    ),
}


@dataclass
class LocalServers:
    """Addresses of the running servers, as the tests use them."""

    http: str
    https: str
    raw: str
    silent_port: int
    refused_port: int
    cert_pem: Path
    seen: dict[str, Mapping[str, str]] = field(default_factory=dict)
    """The request headers each path last received, for asserting on requests."""


class _LoopThread:
    """An event loop running in a daemon thread, for servers to live on."""

    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> _LoopThread:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)


@contextmanager
def running_servers() -> Iterator[LocalServers]:
    """Start the HTTP, HTTPS, raw and silent servers; stop them all at the end."""
    with tempfile.TemporaryDirectory() as directory, _LoopThread() as thread:
        cert_pem, key_pem = write_self_signed_certificate(Path(directory))
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert_pem, key_pem)

        seen: dict[str, Mapping[str, str]] = {}
        http_runner, http_port = thread.call(_start_app(build_app(seen), None))
        https_runner, https_port = thread.call(_start_app(build_app(seen), tls))
        raw_server = thread.call(_start_raw(RAW_REPLIES))
        silent_server = thread.call(_start_raw({}))
        try:
            yield LocalServers(
                http=f"http://127.0.0.1:{http_port}",
                https=f"https://127.0.0.1:{https_port}",
                raw=f"http://127.0.0.1:{_port(raw_server)}",
                silent_port=_port(silent_server),
                refused_port=refused_port(),
                cert_pem=cert_pem,
                seen=seen,
            )
        finally:
            thread.call(http_runner.cleanup())
            thread.call(https_runner.cleanup())
            thread.call(_stop_raw(raw_server))
            thread.call(_stop_raw(silent_server))


def refused_port() -> int:
    """A port nothing listens on: bound by the system, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def write_self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid for ``CERT_DAYS`` days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "upcast test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=CERT_DAYS, hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_pem = directory / "cert.pem"
    key_pem = directory / "key.pem"
    cert_pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_pem, key_pem


def build_app(seen: dict[str, Mapping[str, str]]) -> web.Application:
    """The routes the tests request; each one shows one behaviour of a server."""
    routes = web.RouteTableDef()

    @web.middleware
    async def record(
        request: web.Request,
        handler: Any,
    ) -> web.StreamResponse:
        seen[request.path] = dict(request.headers)
        response: web.StreamResponse = await handler(request)
        return response

    @routes.get("/ok")
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    @routes.get("/status/{code}")
    async def status(request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="status")

    @routes.get("/redirect/{count}")
    async def redirect(request: web.Request) -> web.Response:
        left = int(request.match_info["count"])
        target = "/ok" if left <= 1 else f"/redirect/{left - 1}"
        return web.Response(status=302, headers={"Location": target})

    @routes.get("/relative-redirect")
    async def relative_redirect(request: web.Request) -> web.Response:
        return web.Response(status=301, headers={"Location": "../ok"})

    @routes.get("/absolute-redirect")
    async def absolute_redirect(request: web.Request) -> web.Response:
        location = f"{request.scheme}://{request.host}/ok"
        return web.Response(status=307, headers={"Location": location})

    @routes.get("/redirect-to")
    async def redirect_to(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": request.query["url"]})

    @routes.get("/redirect-loop")
    async def redirect_loop(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "/redirect-loop"})

    @routes.get("/redirect-elsewhere")
    async def redirect_elsewhere(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "ftp://files.example/"})

    @routes.post("/see-other")
    async def see_other(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=303, headers={"Location": "/echo"})

    @routes.route("*", "/echo")
    async def echo(request: web.Request) -> web.Response:
        body = await request.text()
        return web.json_response(
            {"method": request.method, "body": body, "headers": dict(request.headers)}
        )

    @routes.get("/json")
    async def payload(request: web.Request) -> web.Response:
        return web.json_response(PAYLOAD)

    @routes.get("/not-json")
    async def not_json(request: web.Request) -> web.Response:
        return web.Response(text="{broken", content_type="application/json")

    @routes.get("/chunked")
    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        response.content_type = "text/plain"
        await response.prepare(request)
        for piece in (b"first piece, ", b"the needle, ", b"last piece"):
            await response.write(piece)
        await response.write_eof()
        return response

    @routes.get("/large")
    async def large(request: web.Request) -> web.Response:
        size = int(request.query.get("size", "2000000"))
        return web.Response(body=b"x" * size, content_type="text/plain")

    @routes.get("/large-chunked")
    async def large_chunked(request: web.Request) -> web.StreamResponse:
        size = int(request.query.get("size", "2000000"))
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(0, size, 65536):
            await response.write(b"y" * 65536)
        await response.write_eof()
        return response

    @routes.get("/slow-head")
    async def slow_head(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("delay", "2")))
        return web.Response(text="late")

    @routes.get("/slow-body")
    async def slow_body(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 100
        await response.prepare(request)
        await response.write(b"a" * 10)
        await asyncio.sleep(float(request.query.get("delay", "2")))
        await response.write(b"b" * 90)
        return response

    @routes.get("/gzip")
    async def gzipped(request: web.Request) -> web.Response:
        body = gzip.compress(PAGE.encode())
        headers = {"Content-Encoding": "gzip"}
        return web.Response(body=body, headers=headers, content_type="text/html")

    @routes.get("/deflate")
    async def deflated(request: web.Request) -> web.Response:
        body = zlib.compress(PAGE.encode())
        headers = {"Content-Encoding": "deflate"}
        return web.Response(body=body, headers=headers, content_type="text/html")

    @routes.get("/gzip-bomb")
    async def gzip_bomb(request: web.Request) -> web.Response:
        body = gzip.compress(b"z" * 3_000_000)
        headers = {"Content-Encoding": "gzip"}
        return web.Response(body=body, headers=headers, content_type="text/plain")

    @routes.get("/brotli")
    async def brotli(request: web.Request) -> web.Response:
        headers = {"Content-Encoding": "br"}
        return web.Response(body=b"\x0b\x02\x80", headers=headers)

    @routes.get("/latin-1")
    async def latin_1(request: web.Request) -> web.Response:
        body = "Caf\u00e9 ouvert".encode("latin-1")
        return web.Response(
            body=body, headers={"Content-Type": "text/plain; charset=ISO-8859-1"}
        )

    @routes.get("/no-content")
    async def no_content(request: web.Request) -> web.Response:
        return web.Response(status=204)

    @routes.get("/basic")
    async def basic(request: web.Request) -> web.Response:
        expected = "Basic YWxpY2U6czNjcjN0"  # alice:s3cr3t
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, text="who are you?")
        return web.Response(text="welcome alice")

    @routes.get("/bearer")
    async def bearer(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer t0ken":
            return web.Response(status=401, text="who are you?")
        return web.Response(text="welcome holder")

    app = web.Application(middlewares=[record])
    app.add_routes(routes)
    return app


async def _start_app(
    app: web.Application, tls: ssl.SSLContext | None
) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(
        app, handler_cancellation=True, access_log=None, shutdown_timeout=0.5
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port: int = runner.addresses[0][1]
    return runner, port


@dataclass
class _RawServer:
    server: asyncio.Server
    writers: set[asyncio.StreamWriter]


async def _start_raw(replies: Mapping[str, RawReply]) -> _RawServer:
    """A server that answers each request path with its scripted bytes.

    A path without a script gets no answer at all: the connection stays open
    and silent, which is what a hung backend looks like.
    """
    writers: set[asyncio.StreamWriter] = set()

    async def answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            reply = replies.get(path)
            if reply is None:
                await reader.read()
                return
            for index, piece in enumerate(reply.pieces):
                if index:
                    await asyncio.sleep(reply.pause)
                writer.write(piece)
                await writer.drain()
            if not reply.close:
                await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return _RawServer(server, writers)


async def _stop_raw(raw: _RawServer) -> None:
    """Stop listening, then hang up on every client still connected."""
    raw.server.close()
    for writer in list(raw.writers):
        writer.transport.abort()
    await asyncio.wait_for(raw.server.wait_closed(), 5)


def _port(raw: _RawServer) -> int:
    port: int = raw.server.sockets[0].getsockname()[1]
    return port


__all__ = [
    "CERT_DAYS",
    "PAGE",
    "PAYLOAD",
    "LocalServers",
    "RawReply",
    "refused_port",
    "running_servers",
    "write_self_signed_certificate",
]
