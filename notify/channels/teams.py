"""The ``teams`` channel: an Adaptive Card posted to a Microsoft Teams webhook.

The card travels in a ``message`` with one attachment, which is what both a
Teams Workflows webhook and the older incoming-webhook connector read. The
URL carries the token that lets anyone post, so it is secret.
"""

from __future__ import annotations

from typing import Any, Final

from notify.channels import register
from notify.channels._http import (
    ChatWebhookChannel,
    headline,
    iso_time,
    json_object,
    json_words,
    short_line,
    status_word,
)
from notify.message import FIRING, RESOLVED, TEST, Notification

CARD_TYPE: Final = "application/vnd.microsoft.card.adaptive"
CARD_VERSION: Final = "1.4"

_COLOURS: Final = {FIRING: "attention", RESOLVED: "good", TEST: "accent"}


@register
class TeamsChannel(ChatWebhookChannel):
    """Post the title, text and facts as one Adaptive Card."""

    kind = "teams"

    def message(self, notification: Notification) -> dict[str, Any]:
        return message(notification)

    def explain(self, status: int, text: str) -> str | None:
        found = json_words(text, "message")
        if found is None:
            error = _nested_error(text)
            found = error if error is not None else short_line(text)
        return found


def message(notification: Notification) -> dict[str, Any]:
    """The webhook body: a message whose one attachment is the card."""
    facts = [{"title": "Status", "value": status_word(notification)}]
    if notification.status != RESOLVED:
        facts.append({"title": "Severity", "value": notification.severity})
    facts.append({"title": "At", "value": iso_time(notification.at)})

    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": headline(notification),
            "size": "Medium",
            "weight": "Bolder",
            "color": _COLOURS[notification.status],
            "wrap": True,
        }
    ]
    if notification.text:
        body.append({"type": "TextBlock", "text": notification.text, "wrap": True})
    body.append({"type": "FactSet", "facts": facts})

    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if notification.url:
        card["actions"] = [
            {
                "type": "Action.OpenUrl",
                "title": "Open in Upcast",
                "url": notification.url,
            }
        ]
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_TYPE, "content": card}],
    }


def _nested_error(text: str) -> str | None:
    """The message of a Workflows refusal, ``{"error": {"message": ...}}``."""
    answer = json_object(text)
    error = answer.get("error") if answer is not None else None
    message = error.get("message") if isinstance(error, dict) else None
    return message.strip() if isinstance(message, str) and message.strip() else None
