"""The ``discord`` channel: an embed posted to a Discord webhook.

The webhook URL ends in its token, so it is secret like Slack's. Discord
answers a post it accepted with 204 and no body.
"""

from __future__ import annotations

from typing import Any, Final

from notify.channels import register
from notify.channels._http import (
    ChatWebhookChannel,
    clip,
    headline,
    iso_time,
    json_words,
    status_word,
)
from notify.message import FIRING, RESOLVED, TEST, Notification

COLOURS: Final = {FIRING: 0xD92D20, RESOLVED: 0x12B76A, TEST: 0x2E90FA}
"""The embed's side bar: red while firing, green once resolved, blue for a test."""

# Discord's limits on what one message may hold.
CONTENT_CHARS: Final = 2000
TITLE_CHARS: Final = 256
DESCRIPTION_CHARS: Final = 4096


@register
class DiscordChannel(ChatWebhookChannel):
    """Post the title as the message and the details as an embed."""

    kind = "discord"

    def message(self, notification: Notification) -> dict[str, Any]:
        return message(notification)

    def explain(self, status: int, text: str) -> str | None:
        return json_words(text, "message")


def message(notification: Notification) -> dict[str, Any]:
    """The webhook body; mentions are switched off so a title cannot ping anyone."""
    title = headline(notification)
    embed: dict[str, Any] = {
        "title": clip(title, TITLE_CHARS),
        "color": COLOURS[notification.status],
        "timestamp": iso_time(notification.at),
        "fields": [
            {"name": "Status", "value": status_word(notification), "inline": True},
        ],
    }
    if notification.text:
        embed["description"] = clip(notification.text, DESCRIPTION_CHARS)
    if notification.status != RESOLVED:
        # Discord refuses a field with an empty value.
        severity = notification.severity or "unknown"
        embed["fields"].append({"name": "Severity", "value": severity, "inline": True})
    if notification.url:
        embed["url"] = notification.url

    return {
        "content": clip(title, CONTENT_CHARS),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }
