"""The browser dashboard's files, served by the gateway from ``web/static``.

The dashboard has no build step: its ES modules, style sheets, icons and
vendored libraries are served as they are kept. ``dashboard_blueprint``
reads the folder once, when the app is made (it is small), and answers
from memory:

- ``/`` is ``index.html``, the dashboard itself;
- ``/status/<slug>`` is ``status.html``, a public status page, the same
  file for every slug (the page reads its slug from its address);
- ``/ui/<path>`` is any file of the folder, by its path in it;
- ``/sw.js`` (the service worker, served from the root so that it may
  control every page) and ``/manifest.webmanifest``.

Nothing outside the folder can be reached: only the files read are served,
by their exact path, and dot-files and links leading out of the folder are
never read. Every answer carries a strong ``ETag`` and ``Cache-Control:
no-cache``: file names carry no fingerprint, so browsers ask again each
time and are answered 304 while a file is unchanged. These routes need no
credentials; the app's security headers and compression apply to them as
to every answer (``web.protection``), except that compression is done once
per file and content coding, at a higher level than for API answers, and
kept: the files never change while the gateway runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

from sanic import Blueprint, HTTPResponse, Request
from sanic.response import raw

from web.access import public
from web.conditional import not_modified, strong_etag, tag_held
from web.errors import error_response
from web.protection import choose_encoding, compress, is_compressible

logger = logging.getLogger(__name__)

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
"""Where the dashboard's files are kept."""

MAX_FOLDER_BYTES: Final = 64 * 1024 * 1024
"""The most the files held in memory may weigh together; files beyond it
are left out, with a warning, rather than the gateway's memory growing."""

CACHE_CONTROL: Final = "no-cache"

CONTENT_TYPES: Final = MappingProxyType(
    {
        ".html": "text/html; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".mjs": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".json": "application/json",
        ".map": "application/json",
        ".webmanifest": "application/manifest+json",
        ".svg": "image/svg+xml",
        ".png": "image/png",
        ".webp": "image/webp",
        ".ico": "image/x-icon",
        ".woff2": "font/woff2",
        ".woff": "font/woff",
        ".txt": "text/plain; charset=utf-8",
        ".md": "text/markdown; charset=utf-8",
    }
)
"""The media type of each kind of file, by its suffix."""

UNKNOWN_TYPE: Final = "application/octet-stream"

COMPRESS_FROM: Final = 1024
"""Files smaller than this are sent as they are."""

# Each file is compressed once and the result kept, so the slower, smaller
# levels pay: a sixth to a fifth fewer bytes on every load.
BROTLI_QUALITY: Final = 9
GZIP_LEVEL: Final = 9


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file as it is served: its bytes, media type and entity tag."""

    body: bytes
    content_type: str
    etag: str
    compressed: dict[str, bytes | None] = field(default_factory=dict)
    """The body in each content coding asked for so far, or None where
    compressing did not make it smaller."""

    @property
    def compressible(self) -> bool:
        return len(self.body) >= COMPRESS_FROM and is_compressible(self.content_type)

    async def encoded(self, coding: str) -> bytes | None:
        """The body in ``coding`` ("br" or "gzip"), made the first time it
        is asked for; None if it would be no smaller."""
        if coding not in self.compressed:
            made = await asyncio.to_thread(
                compress,
                self.body,
                coding,
                brotli_quality=BROTLI_QUALITY,
                gzip_level=GZIP_LEVEL,
            )
            self.compressed[coding] = made if len(made) < len(self.body) else None
        return self.compressed[coding]


def read_folder(root: Path) -> dict[str, StaticFile]:
    """Every file under ``root``, by its path in it (``js/app.js``).

    Dot-files and dot-folders are skipped, and so is anything whose real
    place is outside ``root`` (a link leading out). A missing folder holds
    nothing.
    """
    if not root.is_dir():
        logger.warning("the dashboard's folder %s is missing", root)
        return {}
    real_root = root.resolve()
    files: dict[str, StaticFile] = {}
    total = 0
    for folder, folders, names in os.walk(real_root):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = Path(folder, name)
            real = path.resolve()
            if not real.is_relative_to(real_root) or not real.is_file():
                logger.warning("skipped %s: it leads out of %s", path, root)
                continue
            body = real.read_bytes()
            total += len(body)
            if total > MAX_FOLDER_BYTES:
                logger.warning(
                    "skipped %s: the dashboard's files pass %d bytes",
                    path,
                    MAX_FOLDER_BYTES,
                )
                continue
            content_type = CONTENT_TYPES.get(path.suffix.lower(), UNKNOWN_TYPE)
            relative = path.relative_to(real_root).as_posix()
            files[relative] = StaticFile(body, content_type, strong_etag(body))
    logger.debug("the dashboard has %d files, %d bytes", len(files), total)
    return files


def dashboard_blueprint(
    root: Path = STATIC_DIR, codings: tuple[str, ...] = ("br", "gzip")
) -> Blueprint:
    """The routes of the dashboard's files, read from ``root`` now, offered
    compressed in ``codings`` (none: as they are)."""
    files: Mapping[str, StaticFile] = read_folder(root)
    dashboard = Blueprint("dashboard")

    async def answer(request: Request, relative: str) -> HTTPResponse:
        found = files.get(relative)
        if found is None:
            return error_response(404, "nothing is there")
        headers = {"Cache-Control": CACHE_CONTROL}
        body, etag = found.body, found.etag
        if found.compressible and codings:
            headers["Vary"] = "Accept-Encoding"
            accepted = request.headers.get("accept-encoding", "")
            coding = choose_encoding(accepted, codings)
            encoded = None if coding is None else await found.encoded(coding)
            if coding is not None and encoded is not None:
                body = encoded
                headers["Content-Encoding"] = coding
                # The bytes differ from the file's, so the tag is weak.
                etag = "W/" + etag
        held = tag_held(request, etag)
        if held is not None:
            return not_modified(held, headers)
        return raw(
            body, content_type=found.content_type, headers={**headers, "ETag": etag}
        )

    async def index(request: Request) -> HTTPResponse:
        return await answer(request, "index.html")

    async def status_page(request: Request, slug: str) -> HTTPResponse:
        return await answer(request, "status.html")

    async def ui(request: Request, path: str) -> HTTPResponse:
        return await answer(request, path)

    async def service_worker(request: Request) -> HTTPResponse:
        return await answer(request, "sw.js")

    async def manifest(request: Request) -> HTTPResponse:
        return await answer(request, "manifest.webmanifest")

    for handler, path in (
        (index, "/"),
        (status_page, "/status/<slug:str>"),
        (ui, "/ui/<path:path>"),
        (service_worker, "/sw.js"),
        (manifest, "/manifest.webmanifest"),
    ):
        dashboard.add_route(
            public(handler), path, methods=["GET", "HEAD"], name=handler.__name__
        )

    return dashboard
