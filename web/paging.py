"""Pages of lists: opaque cursors, sorting, and paging a list held in memory.

Every list of the API answers one page at a time: ``limit`` items at most,
and ``next_cursor``, to be sent back as ``cursor`` for the next page (null
on the last page). A cursor is the sort key of the last item a page held,
encoded: pages stay stable while items are added or removed elsewhere in
the list, and a cursor cannot be made up by hand by mistake.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from web.errors import BadRequest
from web.params import Query

Item = TypeVar("Item")


def encode_cursor(key: Sequence[Any]) -> str:
    """A cursor for the sort key ``key`` (JSON values only)."""
    text = json.dumps(list(key), separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[Any, ...]:
    """The sort key a cursor holds; ``BadRequest`` naming ``cursor`` if none."""
    try:
        padded = text + "=" * (-len(text) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    if not isinstance(key, list) or not key:
        raise BadRequest.parameter("cursor", "is not a cursor this list gave")
    return tuple(key)


def cursor_of(query: Query) -> tuple[Any, ...] | None:
    """The request's ``cursor``, decoded, or None for the first page."""
    text = query.text("cursor", limit=500)
    return None if text is None else decode_cursor(text)


def sort_of(query: Query, fields: Sequence[str], default: str) -> tuple[str, bool]:
    """The request's ``sort``: a field and whether it is descending."""
    text = query.text("sort") or default
    name = text.removeprefix("-")
    if name not in fields:
        choices = ", ".join(fields)
        raise BadRequest.parameter(
            "sort", f"must be one of {choices} (- in front reverses), got {text!r}"
        )
    return name, text.startswith("-")


def page_in_memory(
    items: Sequence[Item],
    key: Callable[[Item], tuple[Any, ...]],
    *,
    after: tuple[Any, ...] | None,
    limit: int,
    descending: bool = False,
) -> tuple[list[Item], str | None]:
    """One page of ``items`` in ``key`` order after the key ``after``.

    ``key`` must be total (end with the item's id), so no two items share a
    key. For lists short enough to hold and sort whole: settings, users.
    """
    keyed = sorted(((key(item), item) for item in items), key=lambda pair: pair[0])
    if descending:
        keyed.reverse()
    if after is not None:
        try:
            if descending:
                keyed = [pair for pair in keyed if pair[0] < after]
            else:
                keyed = [pair for pair in keyed if pair[0] > after]
        except TypeError:
            raise BadRequest.parameter(
                "cursor", "is not a cursor of this list in this order"
            ) from None
    page = keyed[:limit]
    following = encode_cursor(page[-1][0]) if len(keyed) > limit else None
    return [item for _, item in page], following
