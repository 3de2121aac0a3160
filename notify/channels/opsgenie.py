"""The ``opsgenie`` channel: alerts created and closed through the Opsgenie API.

A firing notification creates an alert whose alias is the notification's
incident, so Opsgenie counts repeats of one problem on one alert; a resolved
one closes the alert by that alias. Opsgenie queues both and answers 202.
Accounts in the EU region set ``api_url`` to https://api.eu.opsgenie.com.

A test creates a real alert, its message starting with ``Test:`` and tagged
``test``, and leaves it open for whoever ran the test to close: that shows
the alert got through routing and escalation, which is what a test is for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Self
from urllib.parse import quote

from notify.channels import register
from notify.channels._config import TEMPLATE_FIELDS, ConfigReader
from notify.channels._http import (
    HttpChannel,
    clip,
    headline,
    json_words,
    origin,
    severity_rank,
)
from notify.message import RESOLVED, TEST, Delivery, Notification

FIELDS: Final = ("api_key", "api_url", "timeout", *TEMPLATE_FIELDS)

DEFAULT_API_URL: Final = "https://api.opsgenie.com"

SOURCE: Final = "Upcast"

# Opsgenie's limits on an alert's fields.
MESSAGE_CHARS: Final = 130
ALIAS_CHARS: Final = 512
DESCRIPTION_CHARS: Final = 15000
NOTE_CHARS: Final = 25000
DETAIL_CHARS: Final = 8000

API_KEY: Final = re.compile(r"[A-Za-z0-9_-]{8,128}")


@register
class OpsgenieChannel(HttpChannel):
    """Create Opsgenie alerts by the notification's incident, and close them."""

    kind = "opsgenie"
    secret_fields = ("api_key",)

    def __init__(
        self, api_key: str, *, api_url: str = DEFAULT_API_URL, timeout: float
    ) -> None:
        super().__init__(where=origin(api_url), timeout=timeout, secrets=[api_key])
        self._api_url = api_url
        self._authorization = {"Authorization": f"GenieKey {api_key}"}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        read = ConfigReader(config, cls.kind, FIELDS, cls.secret_fields)
        api_key = read.text(
            "api_key",
            required=True,
            pattern=API_KEY,
            shape="the key of an Opsgenie API integration",
        )
        api_url = read.url("api_url", default=DEFAULT_API_URL, base=True)
        timeout = read.timeout()
        templates = read.templates()
        read.done()
        channel = cls(api_key, api_url=api_url, timeout=timeout)
        channel._templates = templates
        return channel

    async def send(self, notification: Notification) -> Delivery:
        alias = clip(notification.incident, ALIAS_CHARS)
        if notification.status == RESOLVED:
            url = (
                f"{self._api_url}/v2/alerts/{quote(alias, safe='')}/close"
                "?identifierType=alias"
            )
            body: dict[str, Any] = {"source": SOURCE}
            if notification.text:
                body["note"] = clip(notification.text, NOTE_CHARS)
            return await self.post_json(url, body, self._authorization)
        return await self.post_json(
            f"{self._api_url}/v2/alerts", alert(notification), self._authorization
        )

    def explain(self, status: int, text: str) -> str | None:
        return json_words(text, "message")


def alert(notification: Notification) -> dict[str, Any]:
    """The body that creates the alert for a firing or test notification."""
    tags = ["upcast"]
    if notification.status == TEST:
        tags.append("test")
    details = {
        str(name): clip(str(value), DETAIL_CHARS)
        for name, value in notification.fields.items()
    }
    if notification.url:
        details["url"] = notification.url
    return {
        "message": clip(headline(notification), MESSAGE_CHARS),
        "alias": clip(notification.incident, ALIAS_CHARS),
        "description": clip(notification.text, DESCRIPTION_CHARS),
        "priority": f"P{severity_rank(notification.severity)}",
        "source": SOURCE,
        "tags": tags,
        "details": details,
    }
