"""Conditional GETs: entity tags for answers, and 304 when the client has one.

An answer the gateway keeps encoded (a dashboard file, the overview) gets a
strong tag made from its bytes, so every gateway serving the same bytes
gives the same tag. ``web.protection`` marks the tag weak when it compresses
the body; a client then sends the weak form back, which ``not_modified``
accepts, as RFC 9110 has ``If-None-Match`` compared weakly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from sanic import HTTPResponse, Request
from sanic.response import empty


def strong_etag(body: bytes) -> str:
    """A strong entity tag for ``body``: a quoted hash of its bytes."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def tag_held(request: Request, etag: str) -> str | None:
    """The form of ``etag`` the request's ``If-None-Match`` names, if any.

    A client that was sent the compressed body holds the weak form, and is
    told that form again; ``*`` names any tag.
    """
    header: str | None = request.headers.get("if-none-match")
    if not header:
        return None
    wanted = etag.removeprefix("W/")
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*":
            return etag
        if tag.removeprefix("W/") == wanted:
            return tag
    return None


def not_modified(etag: str, headers: Mapping[str, str]) -> HTTPResponse:
    """The 304 answer: no body, the tag and the caching headers of a 200."""
    return empty(status=304, headers={**headers, "ETag": etag})
