"""Calling actors as if they were local objects."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from ray.exceptions import RayTaskError

T = TypeVar("T")


async def actor_call(ref: Awaitable[T]) -> T:
    """Await an actor call, raising what the actor raised rather than Ray's wrapper."""
    try:
        return await ref
    except RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, Exception):
            raise cause from None
        raise
