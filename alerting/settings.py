"""Alert settings by kind: checking each before it is stored, and what it names.

Six kinds of setting: ``channel`` (where notifications go), ``route``
(which monitors, grouped how, to which channels), ``escalation``
(policies), ``maintenance`` (windows), ``slo`` (service level
objectives) and ``status_page`` (public pages of some monitors' health).
Each is one JSON object with an ``id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from alerting.maintenance import maintenance_from_dict
from alerting.rules import policy_from_dict, route_from_dict
from alerting.status_pages import status_page_from_dict
from analytics.slo import slo_from_dict
from notify.settings import check_channel_setting

KINDS: Final = ("channel", "route", "escalation", "maintenance", "slo", "status_page")


class SettingNotFound(KeyError):
    """No setting of this kind has this id."""

    def __init__(self, kind: str, setting_id: str) -> None:
        super().__init__(setting_id)
        self.kind = kind
        self.setting_id = setting_id

    def __str__(self) -> str:
        return f"no {self.kind} has the id {self.setting_id!r}"

    def __reduce__(self) -> tuple[type[SettingNotFound], tuple[str, str]]:
        return (SettingNotFound, (self.kind, self.setting_id))


def check_setting(kind: str, body: Any) -> dict[str, Any]:
    """The setting as it is stored: checked, defaults filled in.

    Raises ``engine.errors.ValidationError`` naming every bad field.
    """
    if kind == "channel":
        return check_channel_setting(body)
    if kind == "route":
        return route_from_dict(body).to_dict()
    if kind == "escalation":
        return policy_from_dict(body).to_dict()
    if kind == "maintenance":
        return maintenance_from_dict(body).to_dict()
    if kind == "slo":
        return slo_from_dict(body).to_dict()
    if kind == "status_page":
        return status_page_from_dict(body).to_dict()
    raise ValueError(f"kind: must be one of {', '.join(KINDS)}, got {kind!r}")


def referenced(kind: str, setting: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The other settings one names, as ``(field, kind, id)``: they must exist."""
    named: list[tuple[str, str, str]] = []
    if kind == "route":
        named.extend(
            (f"channels[{index}]", "channel", channel)
            for index, channel in enumerate(setting.get("channels") or ())
        )
        if setting.get("escalation"):
            named.append(("escalation", "escalation", setting["escalation"]))
    elif kind == "escalation":
        for level_index, level in enumerate(setting.get("levels") or ()):
            named.extend(
                (f"levels[{level_index}].channels[{index}]", "channel", channel)
                for index, channel in enumerate(level.get("channels") or ())
            )
    return named
