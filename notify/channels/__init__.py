"""Channel plugins, each in a module of its own, found by their ``kind``.

``register`` adds a class to the table; the built-in channels register
themselves when this package is imported. ``channel_from_config`` builds a
channel from its stored configuration, checking every field.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from notify.channels.base import Channel

__all__ = ["Channel", "channel_from_config", "kind_class", "kind_names", "register"]

_KINDS: dict[str, type[Channel]] = {}


def register(cls: type[Channel]) -> type[Channel]:
    """Add a channel class under its ``kind``; usable as a decorator."""
    if cls.kind in _KINDS:
        raise ValueError(f"channel kind {cls.kind!r} is already registered")
    _KINDS[cls.kind] = cls
    return cls


def kind_names() -> list[str]:
    return sorted(_KINDS)


def kind_class(kind: object) -> type[Channel] | None:
    """The channel class registered as ``kind``, or None."""
    return _KINDS.get(kind) if isinstance(kind, str) else None


def channel_from_config(config: Mapping[str, Any]) -> Channel:
    """The channel ``config["kind"]`` names, built from the rest of ``config``.

    Raises ``engine.errors.ValidationError`` naming every bad field.
    """
    from engine.errors import FieldError, ValidationError

    kind = config.get("kind")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(kind_names())
        raise ValidationError(
            [FieldError("kind", f"must be one of {known}, got {kind!r}")]
        )
    return cls.from_config(config)


BUILTIN_MODULES = (
    "notify.channels.discord",
    "notify.channels.email",
    "notify.channels.opsgenie",
    "notify.channels.pagerduty",
    "notify.channels.slack",
    "notify.channels.teams",
    "notify.channels.telegram",
    "notify.channels.webhook",
)
"""The modules of the built-in channels, each registering its class on import.

They import ``register`` from this package, so they are loaded last.
"""

for _module in BUILTIN_MODULES:
    importlib.import_module(_module)
