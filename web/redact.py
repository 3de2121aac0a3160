"""Hiding secret option values from everything the API returns.

A monitor's options may hold credentials for its target (a password for
Basic authentication, a bearer token, an ``Authorization`` header). The API
never returns them: each is replaced by ``REDACTED``. A client that reads a
monitor, edits it and sends it back passes the placeholder along, so
``restore_secrets`` puts the stored value back wherever the placeholder
arrives instead of storing the placeholder itself.

This module imports nothing heavier than ``engine.errors``, so the SDK can
use it to compare definitions the way the API shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import FieldError

REDACTED = "********"
"""What a secret value is shown as."""

# Option keys holding any of these words hold a secret, at any depth.
_SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "credential",
)

# Request headers whose values are credentials; names are compared lowercased.
_SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
    }
)
_SECRET_HEADER_WORDS = ("auth", "token", "secret", "key", "password", "session")


def is_secret_option(key: str) -> bool:
    """Whether an option key names a secret: ``bearer_token``, ``password``."""
    lowered = key.lower().replace("-", "_")
    return any(word in lowered for word in _SECRET_WORDS)


def is_secret_header(name: str) -> bool:
    """Whether a request header carries a credential: ``Cookie``, ``X-Api-Key``."""
    lowered = name.lower()
    if lowered in _SECRET_HEADERS:
        return True
    return any(word in lowered for word in _SECRET_HEADER_WORDS)


def redact_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a monitor's options with every secret value replaced.

    Secrets are found by key, at any depth (``basic_auth.password``, a
    ``token`` inside a JSON request body), and among the values of the
    ``headers`` option by header name. Empty values stay as they are, so a
    client can still tell a secret that is set from one that is not.
    """
    return _redact_mapping(options, headers=False)


def redact_monitor(monitor: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a monitor definition that is safe to show: its options redacted."""
    shown = dict(monitor)
    options = shown.get("options")
    if isinstance(options, Mapping):
        shown["options"] = redact_options(options)
    return shown


def restore_secrets(
    sent: Mapping[str, Any], stored: Mapping[str, Any]
) -> tuple[dict[str, Any], list[FieldError]]:
    """Put stored secrets back where a definition carries the placeholder.

    ``sent`` is a definition (or a set of changes) from a client; ``stored``
    is the monitor's current, unredacted definition. Wherever an option
    value in ``sent`` is exactly ``REDACTED``, the value at the same place in
    ``stored`` is used instead. A placeholder with nothing stored at its place
    is an error naming that place, since storing the placeholder would
    silently break the check.
    """
    restored = dict(sent)
    errors: list[FieldError] = []
    options = sent.get("options")
    if isinstance(options, Mapping):
        kept = stored.get("options")
        restored["options"] = _restore(
            options, kept if isinstance(kept, Mapping) else {}, "options", errors
        )
    return restored, errors


def placeholder_errors(definition: Mapping[str, Any]) -> list[FieldError]:
    """Every place a new definition carries the placeholder, as field errors."""
    return restore_secrets(definition, {})[1]


def _redact_mapping(value: Mapping[str, Any], *, headers: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key, item in value.items():
        name = str(key)
        secret = is_secret_header(name) if headers else is_secret_option(name)
        if secret and item not in (None, ""):
            shown[name] = REDACTED
        elif isinstance(item, Mapping):
            shown[name] = _redact_mapping(item, headers=name.lower() == "headers")
        elif isinstance(item, list | tuple):
            shown[name] = [_redact_item(element) for element in item]
        else:
            shown[name] = item
    return shown


def _redact_item(item: Any) -> Any:
    if isinstance(item, Mapping):
        return _redact_mapping(item, headers=False)
    if isinstance(item, list | tuple):
        return [_redact_item(element) for element in item]
    return item


def _restore(value: Any, kept: Any, place: str, errors: list[FieldError]) -> Any:
    if isinstance(value, str) and value == REDACTED:
        if kept is None or kept == REDACTED:
            errors.append(
                FieldError(place, "is the redacted placeholder; send the real value")
            )
            return value
        return kept
    if isinstance(value, Mapping):
        kept_map = kept if isinstance(kept, Mapping) else {}
        return {
            str(key): _restore(item, kept_map.get(key), f"{place}.{key}", errors)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        kept_list = list(kept) if isinstance(kept, list | tuple) else []
        return [
            _restore(
                item,
                kept_list[index] if index < len(kept_list) else None,
                f"{place}[{index}]",
                errors,
            )
            for index, item in enumerate(value)
        ]
    return value
