"""The gateway serves the dashboard's files: typed, tagged, public, guarded.

Most tests serve a folder of their own through a real server made of the
dashboard's routes and the gateway's protection; the last ones ask the
session's gateway for the files it ships.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sanic import Sanic

from tests.gateway_monitors import WAIT, new_id
from web.dashboard import dashboard_blueprint
from web.protection import ProtectionSettings, install_protection
from web.server import start_gateway

SECURITY_HEADERS = (
    "content-security-policy",
    "strict-transport-security",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
)

SCRIPT = "export const answer = 42;\n" + "// padding for compression\n" * 80

FILES = {
    "index.html": b"<!doctype html><title>Upcast</title>",
    "status.html": b"<!doctype html><title>Status</title>",
    "sw.js": b"self.addEventListener('fetch', () => {});\n",
    "manifest.webmanifest": b'{"name": "Upcast"}',
    "js/app.js": SCRIPT.encode(),
    "css/app.css": b"body { margin: 0; }\n",
    "icons/upcast.svg": b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    "icons/upcast-192.png": b"\x89PNG\r\n\x1a\n" + bytes(2000),
    "data/versions.json": b'{"uPlot": "1.6"}',
    "vendor/font.woff2": b"wOF2" + bytes(100),
    ".env": b"SECRET=1",
    "js/.hidden.js": b"secret();",
}


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[str]:
    """A server of a dashboard folder of its own, with a file outside it that
    links lead to."""
    root = tmp_path / "static"
    for name, body in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(body)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"not for the web")
    (root / "link.txt").symlink_to(outside / "secret.txt")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (tmp_path / "secret.txt").write_bytes(b"not for the web either")

    app: Sanic[Any, Any] = Sanic(
        new_id("dashboard").replace("-", "_"), configure_logging=False
    )
    # Several apps start in this process: none may rewrite Sanic's code.
    app.config.TOUCHUP = False
    app.blueprint(dashboard_blueprint(root))
    install_protection(app, ProtectionSettings(limits={}))
    running = await start_gateway(app)
    try:
        yield running.url
    finally:
        await running.stop()


async def status_of_raw_request(url: str, path: str) -> int:
    """The status a request for ``path`` gets, sent byte for byte as written
    (clients would resolve dot segments before sending)."""
    address = httpx.URL(url)
    reader, writer = await asyncio.open_connection(address.host, address.port)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {address.host}\r\n"
        writer.write(f"{request}Connection: close\r\n\r\n".encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), WAIT)
    finally:
        writer.close()
        await writer.wait_closed()
    return int(status_line.split()[1])


@pytest.mark.parametrize(
    ("path", "content_type", "name"),
    [
        ("/", "text/html; charset=utf-8", "index.html"),
        ("/status/acme", "text/html; charset=utf-8", "status.html"),
        ("/status/another-company", "text/html; charset=utf-8", "status.html"),
        ("/sw.js", "text/javascript; charset=utf-8", "sw.js"),
        ("/manifest.webmanifest", "application/manifest+json", "manifest.webmanifest"),
        ("/ui/js/app.js", "text/javascript; charset=utf-8", "js/app.js"),
        ("/ui/css/app.css", "text/css; charset=utf-8", "css/app.css"),
        ("/ui/icons/upcast.svg", "image/svg+xml", "icons/upcast.svg"),
        ("/ui/icons/upcast-192.png", "image/png", "icons/upcast-192.png"),
        ("/ui/data/versions.json", "application/json", "data/versions.json"),
        ("/ui/vendor/font.woff2", "font/woff2", "vendor/font.woff2"),
        ("/ui/index.html", "text/html; charset=utf-8", "index.html"),
    ],
)
async def test_each_file_is_served_with_its_media_type(
    site: str, path: str, content_type: str, name: str
) -> None:
    async with httpx.AsyncClient(base_url=site, timeout=WAIT) as client:
        answer = await client.get(path, headers={"Accept-Encoding": "identity"})

    assert answer.status_code == 200
    assert answer.headers["content-type"] == content_type
    assert answer.content == FILES[name]
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.headers["etag"].startswith('"')


async def test_a_file_whose_tag_the_client_holds_is_answered_304(site: str) -> None:
    async with httpx.AsyncClient(base_url=site, timeout=WAIT) as client:
        first = await client.get("/ui/css/app.css")
        etag = first.headers["etag"]
        again = await client.get("/ui/css/app.css", headers={"If-None-Match": etag})
        among = await client.get(
            "/ui/css/app.css", headers={"If-None-Match": f'"other", {etag}'}
        )
        stale = await client.get("/ui/css/app.css", headers={"If-None-Match": '"x"'})

    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "no-cache"
    assert among.status_code == 304
    assert stale.status_code == 200
    assert stale.content == FILES["css/app.css"]


async def test_a_compressed_file_has_a_weak_tag_that_still_matches(site: str) -> None:
    async with httpx.AsyncClient(base_url=site, timeout=WAIT) as client:
        first = await client.get("/ui/js/app.js", headers={"Accept-Encoding": "gzip"})
        etag = first.headers["etag"]
        again = await client.get(
            "/ui/js/app.js",
            headers={"Accept-Encoding": "gzip", "If-None-Match": etag},
        )
        image = await client.get(
            "/ui/icons/upcast-192.png", headers={"Accept-Encoding": "gzip"}
        )

    assert first.headers["content-encoding"] == "gzip"
    assert first.content == FILES["js/app.js"]
    assert etag.startswith('W/"')
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    assert "content-encoding" not in image.headers


@pytest.mark.parametrize("coding", ["br", "gzip"])
async def test_a_file_is_compressed_once_and_sent_alike_every_time(
    site: str, coding: str
) -> None:
    async with httpx.AsyncClient(base_url=site, timeout=WAIT) as client:
        answers = [
            await client.get("/ui/js/app.js", headers={"Accept-Encoding": coding})
            for _ in range(2)
        ]
        plain = await client.get(
            "/ui/js/app.js", headers={"Accept-Encoding": "identity"}
        )

    assert [a.headers["content-encoding"] for a in answers] == [coding, coding]
    assert all(a.content == FILES["js/app.js"] for a in answers)
    assert answers[0].headers["etag"] == answers[1].headers["etag"]
    assert "accept-encoding" in answers[0].headers["vary"].lower()
    assert "content-encoding" not in plain.headers
    assert plain.content == FILES["js/app.js"]
    assert "accept-encoding" in plain.headers["vary"].lower()


async def test_a_head_request_gets_the_headers_without_the_body(site: str) -> None:
    async with httpx.AsyncClient(base_url=site, timeout=WAIT) as client:
        got = await client.get("/sw.js")
        answer = await client.head("/sw.js")

    assert answer.status_code == 200
    assert answer.content == b""
    assert answer.headers["etag"] == got.headers["etag"]
    assert answer.headers["content-type"] == "text/javascript; charset=utf-8"


@pytest.mark.parametrize(
    "path",
    [
        "/ui/../secret.txt",
        "/ui/%2e%2e/secret.txt",
        "/ui/js/../../secret.txt",
        "/ui/%2E%2E%2Fsecret.txt",
        "/ui//etc/passwd",
        "/ui/.env",
        "/ui/js/.hidden.js",
        "/ui/link.txt",
        "/ui/linked/secret.txt",
        "/ui/missing.js",
        "/ui/js",
        "/ui/",
        "/ui/./index.html",
        "/status/",
        "/index.html",
    ],
)
async def test_nothing_outside_the_folder_or_hidden_in_it_is_served(
    site: str, path: str
) -> None:
    assert await status_of_raw_request(site, path) == 404


# -- the session's gateway ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/status/acme", "text/html; charset=utf-8"),
        ("/sw.js", "text/javascript; charset=utf-8"),
        ("/manifest.webmanifest", "application/manifest+json"),
        ("/ui/index.html", "text/html; charset=utf-8"),
    ],
)
async def test_the_gateway_serves_its_dashboard_without_credentials(
    gateway_url: str, path: str, content_type: str
) -> None:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=WAIT) as anonymous:
        answer = await anonymous.get(path)

    assert answer.status_code == 200
    assert answer.headers["content-type"] == content_type
    assert answer.content
    for header in SECURITY_HEADERS:
        assert header in answer.headers
    assert "default-src 'self'" in answer.headers["content-security-policy"]


async def test_the_gateway_refuses_a_path_out_of_its_dashboard_folder(
    gateway_url: str,
) -> None:
    for path in ("/ui/../app.py", "/ui/%2e%2e/app.py", "/ui/../../pyproject.toml"):
        assert await status_of_raw_request(gateway_url, path) == 404


async def test_the_dashboard_routes_stay_out_of_the_api_document(
    gateway_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=WAIT) as anonymous:
        document = (await anonymous.get("/api/v1/openapi.json")).json()

    assert document["paths"]
    assert all(path.startswith("/api/v1/") for path in document["paths"])
