"""The monitor: what to check, how often, and how patiently.

A ``Monitor`` is immutable and always valid: it is only built from a
definition that passed validation, and it carries its prepared check. The
dictionary form (``to_dict``/``monitor_from_dict``) is the schema shared by
YAML and JSON files and the API.
"""

from __future__ import annotations

import enum
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from engine.checks import Check, CheckSpec, get_kind, kind_names
from engine.durations import format_duration, parse_duration
from engine.errors import FieldError, ValidationError
from engine.ids import ID_PATTERN

MIN_INTERVAL = 1.0
MAX_INTERVAL = 86400.0
MAX_RETRIES = 10
DEFAULT_INTERVAL = 60.0
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRY_INTERVAL = 20.0

_ID = ID_PATTERN
_ID_MATCH = _ID.fullmatch
_EMPTY_OPTIONS: Mapping[str, Any] = MappingProxyType({})

TAGS_CACHE_SIZE = 4096
"""How many distinct tag lists keep their checked tuple, shared by monitors."""

OPTIONS_CACHE_SIZE = 4096
"""How many distinct sets of plain options keep one copy, shared by monitors."""

# libyaml's parser and emitter, when PyYAML was built with them, read and
# write the same documents as the pure ones several times faster.
_YAML_LOADER: type[yaml.CSafeLoader | yaml.SafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)
_YAML_DUMPER: type[yaml.CSafeDumper | yaml.SafeDumper] = getattr(
    yaml, "CSafeDumper", yaml.SafeDumper
)


class Priority(enum.StrEnum):
    """Which monitors run first when a shard has more due than it can run."""

    CRITICAL = "critical"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.CRITICAL: 0, Priority.NORMAL: 1, Priority.LOW: 2}
_PRIORITIES: dict[Any, Priority] = {priority.value: priority for priority in Priority}


@dataclass(frozen=True, slots=True)
class Monitor:
    """One monitored thing and the rules for checking it."""

    id: str
    name: str
    kind: str
    target: str
    check: Check = field(compare=False, repr=False)
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    retries: int = 0
    retry_interval: float = DEFAULT_RETRY_INTERVAL
    tags: tuple[str, ...] = ()
    priority: Priority = Priority.NORMAL
    enabled: bool = True
    description: str = ""
    options: Mapping[str, Any] = field(default_factory=dict, compare=False)
    depends_on: tuple[str, ...] = ()
    """Monitors this one needs: while one of them is down, this one's alerts
    are held back and told as caused by it."""

    def to_dict(self) -> dict[str, Any]:
        """The definition in the shared file and API schema; durations in seconds."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "target": self.target,
            "interval": _number(self.interval),
            "timeout": _number(self.timeout),
            "retries": self.retries,
            "retry_interval": _number(self.retry_interval),
            "tags": list(self.tags),
            "priority": str(self.priority),
            "enabled": self.enabled,
            "description": self.description,
            "options": _plain(self.options),
            "depends_on": list(self.depends_on),
        }

    def replace(self, **changes: Any) -> Monitor:
        """A validated copy with some fields changed."""
        data = self.to_dict()
        data.update(changes)
        return monitor_from_dict(data)


_FIELDS = (
    "id",
    "name",
    "kind",
    "target",
    "interval",
    "timeout",
    "retries",
    "retry_interval",
    "tags",
    "priority",
    "enabled",
    "description",
    "options",
    "depends_on",
)
_FIELD_NAMES = frozenset(_FIELDS)


def monitor_from_dict(data: Mapping[str, Any]) -> Monitor:
    """Validate a definition and build its monitor.

    Every problem is collected and raised together as one ``ValidationError``
    whose entries name their field, e.g. ``interval: must be between 1s and
    24h, got 0s``.

    A million monitors are built twice on the way to running, so each field
    is first tested for the plain value it almost always holds; only a value
    that fails that test goes through the helper that explains the problem.
    """
    # A dict is by far the most common mapping, and the abstract check is slow.
    if type(data) is not dict and not isinstance(data, Mapping):
        raise ValidationError([FieldError("", f"must be a mapping, got {data!r}")])
    errors: list[FieldError] = []
    if not _FIELD_NAMES.issuperset(data):
        errors.extend(
            FieldError(str(key), "unknown field")
            for key in data
            if key not in _FIELD_NAMES
        )

    name = data.get("name")
    if type(name) is not str or not 0 < len(name) <= 200 or name.isspace():
        name = _text(data, "name", errors, required=True, limit=200)
    monitor_id = data.get("id")
    if type(monitor_id) is not str or _ID_MATCH(monitor_id) is None:
        monitor_id = _monitor_id(data, name, errors)
    kind = data.get("kind")
    if type(kind) is not str or not 0 < len(kind) <= 64 or kind.isspace():
        kind = _text(data, "kind", errors, required=True, limit=64)
    target = data.get("target")
    if type(target) is not str or len(target) > 2048:
        target = _text(data, "target", errors, required=False, limit=2048)
    description = data.get("description")
    if description is not None:
        description = _text(data, "description", errors, required=False, limit=4000)

    interval = _duration(data, "interval", DEFAULT_INTERVAL, errors)
    if interval is not None and not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        errors.append(
            FieldError(
                "interval",
                "must be between 1s and 24h, got " + format_duration(interval),
            )
        )
        interval = None
    fallback_timeout = min(DEFAULT_TIMEOUT, interval or DEFAULT_TIMEOUT)
    timeout = _duration(data, "timeout", fallback_timeout, errors)
    if timeout is not None:
        if timeout <= 0:
            errors.append(
                FieldError(
                    "timeout", f"must be above 0s, got {format_duration(timeout)}"
                )
            )
        elif interval is not None and timeout > interval:
            errors.append(
                FieldError(
                    "timeout",
                    f"must not exceed the interval ({format_duration(interval)}), "
                    f"got {format_duration(timeout)}",
                )
            )
    fallback_retry = min(DEFAULT_RETRY_INTERVAL, interval or DEFAULT_RETRY_INTERVAL)
    retry_interval = _duration(data, "retry_interval", fallback_retry, errors)
    if retry_interval is not None and not (
        MIN_INTERVAL <= retry_interval <= MAX_INTERVAL
    ):
        errors.append(
            FieldError(
                "retry_interval",
                "must be between 1s and 24h, got " + format_duration(retry_interval),
            )
        )

    retries = data.get("retries", 0)
    if type(retries) is not int or not 0 <= retries <= MAX_RETRIES:
        _check_retries(retries, errors)

    tags = _tags(data.get("tags", ()), errors)
    depends_on = data.get("depends_on") or ()
    if depends_on:
        depends_on = _dependencies(depends_on, monitor_id, errors)

    priority_text = data.get("priority", "normal")
    try:
        priority = _PRIORITIES[priority_text]
    except (KeyError, TypeError):
        errors.append(
            FieldError(
                "priority",
                f"must be one of critical, normal, low, got {priority_text!r}",
            )
        )
        priority = Priority.NORMAL

    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        errors.append(FieldError("enabled", f"must be true or false, got {enabled!r}"))

    options = data.get("options") or _EMPTY_OPTIONS
    if (
        type(options) is not dict
        and options is not _EMPTY_OPTIONS
        and not isinstance(options, Mapping)
    ):
        errors.append(FieldError("options", f"must be a mapping, got {options!r}"))
        options = _EMPTY_OPTIONS

    check: Check | None = None
    check_class = get_kind(kind) if kind else None
    if kind and check_class is None:
        errors.append(
            FieldError(
                "kind", f"unknown kind {kind!r}; known: {', '.join(kind_names())}"
            )
        )
    if check_class is not None:
        # Bad common fields are already reported; the kind still checks its own
        # fields against stand-in values so every problem shows up at once.
        spec = CheckSpec(
            monitor_id or "",
            target or "",
            options,
            interval or DEFAULT_INTERVAL,
            timeout or fallback_timeout,
        )
        try:
            check = check_class.prepare(spec)
        except ValidationError as exc:
            errors.extend(exc.errors)

    if errors or check is None:
        raise ValidationError(errors)
    # Every field is known good once no error was found.
    assert monitor_id is not None
    assert name is not None
    assert kind is not None
    assert interval is not None
    assert timeout is not None
    assert retry_interval is not None
    return Monitor(
        monitor_id,
        name,
        kind,
        target or "",
        check,
        interval,
        timeout,
        retries,
        retry_interval,
        tags,
        priority,
        enabled,
        description or "",
        _frozen_options(options),
        depends_on,
    )


Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while many definitions are validated."""

PROGRESS_EVERY = 10_000


def monitors_from_dicts(
    items: Iterable[Any], progress: Progress | None = None, *, start: int = 0
) -> list[Monitor]:
    """Validate many definitions; problems name their place (``monitors[3].id``).

    ``start`` is the place of the first item, for a part of a longer list.
    """
    monitors: list[Monitor] = []
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    items = list(items)
    for index, item in enumerate(items, start):
        if progress is not None and index > start and index % PROGRESS_EVERY == 0:
            progress(index - start, len(items))
        place = f"monitors[{index}]"
        try:
            monitor = monitor_from_dict(item)
        except ValidationError as exc:
            errors.extend(exc.within(place).errors)
            continue
        if monitor.id in seen:
            errors.append(
                FieldError(
                    f"{place}.id",
                    f"{monitor.id!r} is already used by monitors[{seen[monitor.id]}]",
                )
            )
            continue
        seen[monitor.id] = index
        monitors.append(monitor)
    if errors:
        raise ValidationError(errors)
    if progress is not None:
        progress(len(items), len(items))
    return monitors


def load_monitors(path: str | Path, progress: Progress | None = None) -> list[Monitor]:
    """Monitors from a YAML or JSON file holding a list or ``{monitors: [...]}``."""
    return monitors_from_dicts(load_definitions(path), progress)


def load_definitions(path: str | Path) -> list[Any]:
    """The definitions of a monitor file, read but not yet validated."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            document = json.loads(text)
        else:
            document = load_yaml(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValidationError([FieldError("", f"{path}: not valid: {exc}")]) from exc
    return definitions_of(document)


def monitors_from_document(
    document: Any, progress: Progress | None = None
) -> list[Monitor]:
    return monitors_from_dicts(definitions_of(document), progress)


def definitions_of(document: Any) -> list[Any]:
    """The list of definitions in a document: a list, or ``{monitors: [...]}``."""
    if isinstance(document, Mapping):
        unknown = [key for key in document if key != "monitors"]
        if unknown:
            raise ValidationError(
                FieldError(str(key), "unknown field") for key in unknown
            )
        document = document.get("monitors") or []
    if not isinstance(document, list):
        raise ValidationError(
            [FieldError("monitors", f"must be a list, got {type(document).__name__}")]
        )
    return document


def dump_monitors(monitors: Iterable[Monitor], path: str | Path) -> None:
    """Write monitors to a YAML or JSON file (chosen by suffix)."""
    path = Path(path)
    file_format = "json" if path.suffix.lower() == ".json" else "yaml"
    text = monitor_file_text((monitor.to_dict() for monitor in monitors), file_format)
    path.write_text(text, encoding="utf-8")


def monitor_file_text(
    definitions: Iterable[Mapping[str, Any]], file_format: str
) -> str:
    """A monitor file holding ``definitions``, as ``yaml`` or ``json`` text.

    Fields stay in the order of each definition, so a file reads as the
    table of fields does.
    """
    document = {"monitors": [dict(definition) for definition in definitions]}
    if file_format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if file_format != "yaml":
        raise ValueError(f"file_format: must be yaml or json, got {file_format!r}")
    text: str = yaml.dump(
        document, Dumper=_YAML_DUMPER, sort_keys=False, allow_unicode=True
    )
    return text


def load_yaml(text: str) -> Any:
    """``yaml.safe_load``, with libyaml's parser when there is one.

    A file the fast parser refuses is parsed again by the pure one: its error
    quotes the offending line, where libyaml's only names it, and a file only
    the pure parser accepts still loads as it always did.
    """
    try:
        return yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError:
        if _YAML_LOADER is yaml.SafeLoader:
            raise
        return yaml.safe_load(text)


def slugify(name: str) -> str:
    """An id made from a name: ``API health (EU)`` -> ``api-health-eu``."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:64].rstrip("-")


def _monitor_id(
    data: Mapping[str, Any], name: str | None, errors: list[FieldError]
) -> str | None:
    value = data.get("id")
    if value is None:
        if name is None:
            return None
        slug = slugify(name)
        if not slug:
            errors.append(FieldError("id", "is required when the name has no letters"))
            return None
        return slug
    if not isinstance(value, str) or not _ID.fullmatch(value):
        errors.append(
            FieldError(
                "id",
                "must be 1-64 letters, digits, '.', '_' or '-', starting with a "
                f"letter or digit, got {value!r}",
            )
        )
        return None
    return value


def _text(
    data: Mapping[str, Any],
    key: str,
    errors: list[FieldError],
    *,
    required: bool,
    limit: int,
) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            errors.append(FieldError(key, "is required"))
        return None
    if not isinstance(value, str):
        errors.append(FieldError(key, f"must be text, got {value!r}"))
        return None
    if required and not value.strip():
        errors.append(FieldError(key, "must not be empty"))
        return None
    if len(value) > limit:
        errors.append(FieldError(key, f"must be at most {limit} characters"))
        return None
    return value


def _duration(
    data: Mapping[str, Any], key: str, default: float, errors: list[FieldError]
) -> float | None:
    value = data.get(key)
    if value is None:
        return default
    try:
        return parse_duration(value)
    except ValueError as exc:
        errors.append(FieldError(key, str(exc)))
        return None


MAX_DEPENDENCIES = 100


def _dependencies(
    value: Any, monitor_id: Any, errors: list[FieldError]
) -> tuple[str, ...]:
    """The ids a monitor depends on, each once, never its own."""
    if not isinstance(value, list | tuple):
        errors.append(
            FieldError("depends_on", f"must be a list of monitor ids, got {value!r}")
        )
        return ()
    if len(value) > MAX_DEPENDENCIES:
        errors.append(
            FieldError(
                "depends_on",
                f"must name at most {MAX_DEPENDENCIES} monitors, got {len(value)}",
            )
        )
        return ()
    seen: list[str] = []
    for index, item in enumerate(value):
        place = f"depends_on[{index}]"
        if type(item) is not str or _ID_MATCH(item) is None:
            errors.append(FieldError(place, f"must be a monitor id, got {item!r}"))
        elif item == monitor_id:
            errors.append(FieldError(place, "a monitor cannot depend on itself"))
        elif item in seen:
            errors.append(FieldError(place, f"{item!r} is named twice"))
        else:
            seen.append(item)
    return tuple(seen)


def _check_retries(value: Any, errors: list[FieldError]) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(FieldError("retries", f"must be a whole number, got {value!r}"))
    elif not 0 <= value <= MAX_RETRIES:
        errors.append(
            FieldError("retries", f"must be between 0 and {MAX_RETRIES}, got {value}")
        )


def _tags(value: Any, errors: list[FieldError]) -> tuple[str, ...]:
    """The tags without repeats; one tuple serves every monitor with that list."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        errors.append(FieldError("tags", f"must be a list of text, got {value!r}"))
        return ()
    try:
        tags = _valid_tags(tuple(value))
    except TypeError:
        # An unhashable item cannot be a tag; it is reported below.
        tags = None
    if tags is not None:
        return tags
    for index, tag in enumerate(value):
        if not _is_tag(tag):
            errors.append(
                FieldError(
                    f"tags[{index}]", f"must be text of 1-64 characters, got {tag!r}"
                )
            )
    return ()


@functools.lru_cache(maxsize=TAGS_CACHE_SIZE)
def _valid_tags(value: tuple[Any, ...]) -> tuple[str, ...] | None:
    """The tags in ``value`` without repeats, or None when one is not a tag."""
    if not all(_is_tag(tag) for tag in value):
        return None
    return tuple(dict.fromkeys(value))


def _is_tag(tag: Any) -> bool:
    return isinstance(tag, str) and 0 < len(tag) <= 64 and not tag.isspace()


def _frozen_options(options: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy of ``options`` for the monitor to keep.

    Options that are all text, whole numbers, true, false or null, under text
    names, cannot change, so monitors with the same ones share one copy. The
    types are part of the key, as ``1 == True``.
    """
    if not options:
        return _EMPTY_OPTIONS
    if type(options) is dict and _NAME_TYPES.issuperset(map(type, options)):
        types = tuple(map(type, options.values()))
        if _SCALAR_TYPES.issuperset(types):
            return _shared_options(tuple(options.items()), types)
    return MappingProxyType(dict(options))


_NAME_TYPES = frozenset({str})
_SCALAR_TYPES = frozenset({str, int, bool, type(None)})


@functools.lru_cache(maxsize=OPTIONS_CACHE_SIZE)
def _shared_options(
    items: tuple[tuple[str, Any], ...], types: tuple[type, ...]
) -> Mapping[str, Any]:
    # ``types`` only keeps apart options whose values are equal but not alike.
    return MappingProxyType(dict(items))


def _number(seconds: float) -> int | float:
    return int(seconds) if seconds == int(seconds) else seconds


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
