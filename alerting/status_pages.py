"""Status pages: which monitors a public page shows, and what they add up to.

A status page is a setting kept with the alert settings (kind
``status_page``). It names monitors by id and by tag; anyone with its
address may read it, signed in or not, so it shows only what it says it
shows: the monitors' names, states, latencies if asked, uptime and
incidents, never their targets or options.

The dictionary form (``to_dict``/``status_page_from_dict``) is the shape the
REST API receives and returns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from engine.errors import FieldError, ValidationError
from engine.ids import ID_PATTERN
from engine.result import MonitorState

SLUG: Final = re.compile(r"[a-z0-9-]{1,64}")
"""A page's id, which is also its address: lowercase letters, digits, dashes."""

MAX_MONITORS: Final = 500
"""The most monitors one page names, and the most it shows with its tags."""

MAX_TAGS: Final = 50
MAX_TAG: Final = 64
MAX_TITLE: Final = 200
MAX_DESCRIPTION: Final = 4000

FIELDS: Final = ("id", "title", "description", "monitors", "tags", "show_latency")

_UP: Final = str(MonitorState.UP)
_DOWN: Final = str(MonitorState.DOWN)
_MAINTENANCE: Final = str(MonitorState.MAINTENANCE)
_UNKNOWN: Final = str(MonitorState.UNKNOWN)
_TROUBLED: Final = frozenset(
    {str(MonitorState.DOWN), str(MonitorState.PENDING), str(MonitorState.DEGRADED)}
)
_NOT_CHECKED: Final = frozenset({str(MonitorState.PAUSED), _UNKNOWN})


@dataclass(frozen=True, slots=True)
class StatusPage:
    """A public page of some monitors' health, by its slug ``id``."""

    id: str
    title: str
    description: str = ""
    monitors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    show_latency: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The definition, in the shape ``status_page_from_dict`` reads back."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "monitors": list(self.monitors),
            "tags": list(self.tags),
            "show_latency": self.show_latency,
        }


def status_page_from_dict(data: Any) -> StatusPage:
    """A page from its definition, with every problem reported together.

    Raises ``ValidationError`` whose entries name their field, e.g.
    ``monitors[2]: must be a monitor id, got ''``. A field given as null
    counts as not given.
    """
    if not isinstance(data, Mapping):
        raise ValidationError([FieldError("", f"must be a mapping, got {data!r}")])
    errors = [
        FieldError(str(key), f"unknown field; known: {', '.join(FIELDS)}")
        for key in data
        if key not in FIELDS
    ]
    given = {key: value for key, value in data.items() if value is not None}

    page_id = given.get("id")
    if not isinstance(page_id, str) or not SLUG.fullmatch(page_id):
        errors.append(
            FieldError(
                "id",
                f"must be 1-64 lowercase letters, digits and dashes, got {page_id!r}",
            )
        )
    title = _text(given, "title", MAX_TITLE, errors, required=True)
    description = _text(given, "description", MAX_DESCRIPTION, errors)
    monitors = _listed(given, "monitors", MAX_MONITORS, _is_monitor_id, errors)
    tags = _listed(given, "tags", MAX_TAGS, _is_tag, errors)
    show_latency = given.get("show_latency", True)
    if not isinstance(show_latency, bool):
        errors.append(
            FieldError("show_latency", f"must be true or false, got {show_latency!r}")
        )

    if errors:
        raise ValidationError(errors)
    assert isinstance(page_id, str)
    return StatusPage(
        id=page_id,
        title=title,
        description=description,
        monitors=monitors,
        tags=tags,
        show_latency=show_latency,
    )


def overall_state(states: Iterable[str]) -> str:
    """What a page's monitors come to together, for its headline.

    Paused monitors and those not checked yet do not count. Of the rest:
    ``down`` when every one is down; ``degraded`` when some are down,
    pending or degraded; ``maintenance`` when some are under maintenance
    and the others up; ``up`` when all are up; ``unknown`` when none counts.
    """
    counted = [state for state in states if state not in _NOT_CHECKED]
    if not counted:
        return _UNKNOWN
    if all(state == _DOWN for state in counted):
        return _DOWN
    if any(state in _TROUBLED for state in counted):
        return str(MonitorState.DEGRADED)
    if any(state == _MAINTENANCE for state in counted):
        return _MAINTENANCE
    return _UP


def _text(
    given: Mapping[str, Any],
    name: str,
    most: int,
    errors: list[FieldError],
    *,
    required: bool = False,
) -> str:
    value = given.get(name, "")
    if not isinstance(value, str) or len(value) > most:
        errors.append(
            FieldError(
                name, f"must be text of at most {most} characters, got {value!r}"
            )
        )
        return ""
    if required and not value.strip():
        errors.append(FieldError(name, "is required"))
    return value


def _listed(
    given: Mapping[str, Any],
    name: str,
    most: int,
    valid: Any,
    errors: list[FieldError],
) -> tuple[str, ...]:
    """A list of ids or tags, each checked by ``valid``, without repeats."""
    value = given.get(name, [])
    if isinstance(value, str) or not isinstance(value, list | tuple):
        errors.append(FieldError(name, f"must be a list, got {value!r}"))
        return ()
    if len(value) > most:
        errors.append(FieldError(name, f"must name at most {most}, got {len(value)}"))
        return ()
    kind = "a monitor id" if name == "monitors" else f"a tag of 1-{MAX_TAG} characters"
    bad = [
        FieldError(f"{name}[{index}]", f"must be {kind}, got {item!r}")
        for index, item in enumerate(value)
        if not valid(item)
    ]
    errors.extend(bad)
    return () if bad else tuple(dict.fromkeys(value))


def _is_monitor_id(value: Any) -> bool:
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def _is_tag(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_TAG and not value.isspace()
