"""The ``pagerduty`` channel: events for the PagerDuty Events API v2.

A firing notification triggers an alert and a resolved one resolves it; both
carry the notification's incident as ``dedup_key``, so PagerDuty folds the
repeats of one problem into one alert and closes the alert that problem
opened. PagerDuty answers an event it queued with 202.

A test is a real trigger, its summary starting with ``Test:``, and is left
open: it runs through the service's rules and escalation like a real alert,
which is what a test is there to show, and whoever ran it resolves it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Self

from notify.channels import register
from notify.channels._config import TEMPLATE_FIELDS, ConfigReader
from notify.channels._http import (
    HttpChannel,
    clip,
    headline,
    iso_time,
    json_object,
    origin,
    severity_rank,
)
from notify.message import RESOLVED, TEST, Delivery, Notification

FIELDS: Final = ("routing_key", "api_url", "source", "timeout", *TEMPLATE_FIELDS)

DEFAULT_API_URL: Final = "https://events.pagerduty.com"
"""The US service region; EU accounts use https://events.eu.pagerduty.com."""

DEFAULT_SOURCE: Final = "upcast"

SUMMARY_CHARS: Final = 1024
"""The longest summary PagerDuty keeps."""

SEVERITIES: Final = {1: "critical", 2: "error", 3: "warning", 4: "info", 5: "info"}
"""PagerDuty's four severities, by ``severity_rank``."""

ROUTING_KEY: Final = re.compile(r"[A-Za-z0-9_-]{8,128}")


@register
class PagerDutyChannel(HttpChannel):
    """Trigger and resolve PagerDuty alerts by the notification's incident."""

    kind = "pagerduty"
    secret_fields = ("routing_key",)

    def __init__(
        self,
        routing_key: str,
        *,
        api_url: str = DEFAULT_API_URL,
        source: str | None = None,
        timeout: float,
    ) -> None:
        super().__init__(where=origin(api_url), timeout=timeout, secrets=[routing_key])
        self._routing_key = routing_key
        self._enqueue_url = f"{api_url}/v2/enqueue"
        self._source = source

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        read = ConfigReader(config, cls.kind, FIELDS, cls.secret_fields)
        routing_key = read.text(
            "routing_key",
            required=True,
            pattern=ROUTING_KEY,
            shape="the integration key of an Events API v2 integration",
        )
        api_url = read.url("api_url", default=DEFAULT_API_URL, base=True)
        source = read.text("source") or None
        timeout = read.timeout()
        templates = read.templates()
        read.done()
        channel = cls(routing_key, api_url=api_url, source=source, timeout=timeout)
        channel._templates = templates
        return channel

    async def send(self, notification: Notification) -> Delivery:
        return await self.post_json(self._enqueue_url, self.event(notification))

    def event(self, notification: Notification) -> dict[str, Any]:
        """The Events API v2 event for ``notification``."""
        if notification.status == RESOLVED:
            return {
                "routing_key": self._routing_key,
                "event_action": "resolve",
                "dedup_key": notification.incident,
            }

        details: dict[str, Any] = dict(notification.fields)
        details["text"] = notification.text
        if notification.status == TEST:
            details["test"] = True
        event: dict[str, Any] = {
            "routing_key": self._routing_key,
            "event_action": "trigger",
            "dedup_key": notification.incident,
            "payload": {
                "summary": clip(headline(notification), SUMMARY_CHARS),
                "source": self._source or _source(notification),
                "severity": SEVERITIES[severity_rank(notification.severity)],
                "timestamp": iso_time(notification.at),
                "custom_details": details,
            },
            "client": "Upcast",
        }
        if notification.url:
            event["client_url"] = notification.url
            event["links"] = [{"href": notification.url, "text": "Open in Upcast"}]
        return event

    def explain(self, status: int, text: str) -> str | None:
        """PagerDuty's ``message``, followed by the ``errors`` it lists."""
        answer = json_object(text)
        if answer is None:
            return None
        words = [answer.get("message")]
        errors = answer.get("errors")
        if isinstance(errors, list):
            words.extend(errors)
        found = [word.strip() for word in words if isinstance(word, str)]
        return ": ".join(word for word in found if word) or None


def _source(notification: Notification) -> str:
    """What is affected, as PagerDuty wants it: the target, else the monitor."""
    for name in ("target", "monitor"):
        value = notification.fields.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return DEFAULT_SOURCE
