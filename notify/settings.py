"""Channels as stored settings: an id, a name, on or off, and the channel's fields.

A stored channel is one JSON object: ``id``, ``name`` and ``enabled`` name
and switch it, and every other field is the configuration its ``kind``
reads (see ``notify.channels``). Its secret fields are kept in the store
and never shown again once written.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from alerting.rules import FieldReader
from engine.errors import ValidationError
from notify.channels import Channel, channel_from_config, kind_class

logger = logging.getLogger(__name__)

SETTING_FIELDS: Final = ("id", "name", "enabled")
"""The fields of a stored channel that are not the channel's own."""

HIDDEN: Final = "********"
"""What a secret field shows instead of its value."""


def check_channel_setting(body: Any) -> dict[str, Any]:
    """A channel's stored form, every field checked; ``ValidationError`` if bad.

    The channel's own fields are checked by building it, so a channel that
    is stored can always be built.
    """
    if not isinstance(body, Mapping):
        raise ValidationError(FieldReader(body, ()).errors)
    reader = FieldReader(
        {name: body[name] for name in SETTING_FIELDS if name in body}, SETTING_FIELDS
    )
    channel_id = reader.ident()
    name = reader.text("name", channel_id)
    enabled = reader.flag("enabled", True)
    config = {key: value for key, value in body.items() if key not in SETTING_FIELDS}
    try:
        channel_from_config(config)
    except ValidationError as exc:
        reader.errors.extend(exc.errors)
    reader.done()
    return {"id": channel_id, "name": name, "enabled": enabled, **config}


def channel_of_setting(body: Mapping[str, Any]) -> Channel | None:
    """The channel a stored setting describes; None when it is disabled or bad."""
    if not body.get("enabled", True):
        return None
    config = {key: value for key, value in body.items() if key not in SETTING_FIELDS}
    try:
        return channel_from_config(config)
    except ValidationError as exc:
        # Stored settings were checked when written; a channel kind that
        # changed its rules since must not stop the others.
        logger.error("channel %s cannot be built: %s", body.get("id"), exc)
        return None


def secret_fields(body: Mapping[str, Any]) -> tuple[str, ...]:
    cls = kind_class(body.get("kind"))
    return () if cls is None else cls.secret_fields


def hide_secrets(body: Mapping[str, Any]) -> dict[str, Any]:
    """A stored channel as it may be shown: each secret set is ``HIDDEN``."""
    shown = dict(body)
    for name in secret_fields(body):
        if shown.get(name) not in (None, "", {}):
            shown[name] = HIDDEN
    return shown


def keep_secrets(sent: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """``sent`` with each ``HIDDEN`` secret replaced by the stored value.

    A client that read a channel may send it back as it is: the secrets it
    could not see stay as they were.
    """
    kept = dict(sent)
    for name in secret_fields(sent):
        if kept.get(name) == HIDDEN and name in stored:
            kept[name] = stored[name]
    return kept
