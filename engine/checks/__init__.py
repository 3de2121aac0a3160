"""The registry of check kinds.

Built-in kinds register themselves here; third-party kinds are found through
the ``upcast.checks`` entry point group, each entry naming a ``Check``
subclass, and are loaded the first time an unknown kind is asked for.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points

from engine.checks.base import Check, CheckSpec

__all__ = ["Check", "CheckSpec", "get_kind", "kind_names", "register"]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "upcast.checks"

_BUILTIN_MODULES = (
    "engine.checks.http",
    "engine.checks.tcp",
    "engine.checks.dns",
    "engine.checks.icmp",
    "engine.checks.push",
    "engine.checks.composite",
)

_kinds: dict[str, type[Check]] = {}
_loaded = False


def register(cls: type[Check], *aliases: str) -> type[Check]:
    """Make ``cls`` available under its ``kind`` name and any aliases."""
    for name in (cls.kind, *aliases):
        existing = _kinds.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"check kind {name!r} is already registered")
        _kinds[name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        importlib.import_module(module)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = entry.load()
        except Exception:
            logger.exception("could not load check kind %s from %s", entry.name, entry)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Check)):
            logger.error("entry point %s does not name a Check subclass", entry.name)
            continue
        if entry.name not in _kinds:
            register(cls, *([entry.name] if entry.name != cls.kind else []))


def get_kind(name: str) -> type[Check] | None:
    """The check class registered as ``name``, or None.

    Every monitor built asks for its kind, so once the registry is loaded the
    answer is one dictionary lookup.
    """
    if not _loaded:
        _load()
    return _kinds.get(name)


def kind_names() -> list[str]:
    if not _loaded:
        _load()
    return sorted(_kinds)
