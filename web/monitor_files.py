"""Monitor files over HTTP: monitors written as one, and one read as YAML.

A monitor file is what ``upcast apply`` reads (``engine.model``): YAML or
JSON, a list of definitions or ``{"monitors": [...]}``. An export
(``GET /api/v1/monitors/export``, ``export_response``) writes monitors as
one, secrets shown as the placeholder the API always shows; ``POST
/api/v1/apply`` puts the stored secret back wherever the placeholder
returns, so a file exported and applied again changes nothing.
``yaml_definitions`` reads an apply body sent as YAML with the loader the
command line uses.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Final

import yaml
from sanic import HTTPResponse, Request
from sanic.response import raw

from engine.errors import FieldError, ValidationError
from engine.model import definitions_of, load_yaml, monitor_file_text
from web.errors import BadRequest
from web.redact import redact_monitor

logger = logging.getLogger(__name__)

YAML_MEDIA_TYPES: Final = frozenset(
    {"application/yaml", "application/x-yaml", "text/yaml"}
)
"""Content types that make an apply body a YAML monitor file."""

FORMATS: Final = {"yaml": "application/yaml", "json": "application/json"}
"""What an export can be written as, and the content type of each."""

MAX_VALUES: Final = 2_000_000
"""The most values (each mapping, list and scalar) a YAML body may hold.

Ten thousand monitors of two hundred values each; YAML aliases can make a
small text stand for far more, and this is where they stop.
"""

MAX_DEPTH: Final = 64
"""How deep the values of a YAML body may nest."""

MAX_TAGS: Final = 100


def export_tags(text: str | None) -> frozenset[str] | None:
    """The tags an export keeps, from ``tags=a,b``; None keeps every monitor."""
    if text is None:
        return None
    tags = frozenset(tag.strip() for tag in text.split(",") if tag.strip())
    if not tags or len(tags) > MAX_TAGS:
        raise BadRequest.parameter(
            "tags", f"must list 1 to {MAX_TAGS} tags separated by commas"
        )
    return tags


def export_response(
    monitors: list[dict[str, Any]], file_format: str, tags: frozenset[str] | None
) -> HTTPResponse:
    """The monitor file of ``monitors`` with any of ``tags``, as an attachment.

    Monitors are ordered by id, each as its file holds it: secrets
    redacted, no status.
    """
    definitions = []
    for monitor in sorted(monitors, key=lambda monitor: str(monitor["id"])):
        if tags is not None and tags.isdisjoint(monitor.get("tags") or ()):
            continue
        shown = redact_monitor(monitor)
        shown.pop("status", None)
        definitions.append(shown)
    text = monitor_file_text(definitions, file_format)
    logger.debug("exported %d monitors as %s", len(definitions), file_format)
    return raw(
        text.encode(),
        content_type=f"{FORMATS[file_format]}; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="monitors.{file_format}"'
        },
    )


def sent_as_yaml(request: Request) -> bool:
    """Whether a request's body is YAML, by its Content-Type."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0]
    return media_type.strip().lower() in YAML_MEDIA_TYPES


def yaml_definitions(body: bytes) -> list[Any]:
    """The definitions of a monitor file sent as YAML, as plain JSON values.

    Read as ``upcast apply`` reads a file (a safe load). Raises
    ``ValidationError``: for text that is not YAML, naming the line and
    column where it stops being so; for values JSON has no word for (a
    timestamp, binary data), naming their place.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            [FieldError("body", f"is not UTF-8 text (at byte {exc.start})")]
        ) from None
    if not text.strip():
        raise ValidationError(
            [FieldError("body", "must be a monitor file, got nothing")]
        )
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ValidationError([FieldError("body", _yaml_problem(exc))]) from None
    except RecursionError:
        raise ValidationError(
            [FieldError("body", f"nests deeper than {MAX_DEPTH} levels")]
        ) from None

    definitions = definitions_of(document)
    errors: list[FieldError] = []
    budget = _Budget(MAX_VALUES)
    plain = [
        _plain(definition, f"monitors[{index}]", 0, budget, errors)
        for index, definition in enumerate(definitions)
    ]
    if errors:
        raise ValidationError(errors)
    return plain


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """What is wrong with a YAML text, and where: ``line 3, column 7: ...``."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        problem = exc.problem or "cannot be read"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        place = f"line {mark.line + 1}, column {mark.column + 1}"
        return f"is not valid YAML: {place}: {problem}"
    return f"is not valid YAML: {exc}"


class _Budget:
    """How many more values a body may hold before it is refused."""

    def __init__(self, left: int) -> None:
        self.left = left

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise ValidationError(
                [
                    FieldError(
                        "body",
                        f"holds more than {MAX_VALUES:,} values once its aliases "
                        "are expanded",
                    )
                ]
            )


def _plain(
    value: Any, place: str, depth: int, budget: _Budget, errors: list[FieldError]
) -> Any:
    """``value`` as JSON would carry it, or a problem naming ``place``.

    Mapping keys that are whole numbers become text, as JSON makes them.
    """
    budget.take()
    if depth > MAX_DEPTH:
        errors.append(FieldError(place, f"nests deeper than {MAX_DEPTH} levels"))
        return None
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            errors.append(FieldError(place, f"must be a finite number, got {value}"))
        return value
    if isinstance(value, list):
        return [
            _plain(item, f"{place}[{index}]", depth + 1, budget, errors)
            for index, item in enumerate(value)
        ]
    if isinstance(value, dict):
        plain: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, int) and not isinstance(key, bool):
                key = str(key)
            if not isinstance(key, str):
                errors.append(FieldError(place, f"has a key that is not text: {key!r}"))
                continue
            plain[key] = _plain(item, f"{place}.{key}", depth + 1, budget, errors)
        return plain
    errors.append(
        FieldError(
            place,
            f"is a YAML {type(value).__name__}, which JSON cannot carry; "
            "quote it to send it as text",
        )
    )
    return None
