"""The ``slack`` channel: a message posted to a Slack incoming webhook.

The webhook URL is the token: whoever has it can post to the channel, so it
is secret, and only its origin is ever logged or shown.
"""

from __future__ import annotations

from typing import Any, Final

from notify.channels import register
from notify.channels._http import (
    ChatWebhookChannel,
    clip,
    headline,
    short_line,
    status_word,
)
from notify.message import FIRING, RESOLVED, TEST, Notification

SECTION_CHARS: Final = 3000
"""The most text Slack takes in one section block."""

_EMOJI: Final = {
    FIRING: ":red_circle:",
    RESOLVED: ":large_green_circle:",
    TEST: ":large_blue_circle:",
}


@register
class SlackChannel(ChatWebhookChannel):
    """Post the title and text as a section, with status and link as context."""

    kind = "slack"

    def message(self, notification: Notification) -> dict[str, Any]:
        return message(notification)

    def explain(self, status: int, text: str) -> str | None:
        # Slack answers a refusal with one word, such as ``invalid_token``.
        return short_line(text)


def message(notification: Notification) -> dict[str, Any]:
    """The webhook body: ``text`` for notifications and clients without blocks."""
    title = headline(notification)
    emoji = _EMOJI[notification.status]
    section = f"{emoji} *{_escape(title)}*"
    if notification.text:
        section = f"{section}\n{_escape(notification.text)}"

    context = [status_word(notification)]
    if notification.status != RESOLVED:
        context.append(f"severity {_escape(notification.severity)}")
    if notification.url:
        context.append(f"<{_escape(notification.url)}|Open in Upcast>")

    return {
        "text": clip(_escape(f"{title}\n{notification.text}".strip()), SECTION_CHARS),
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": clip(section, SECTION_CHARS)},
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": " \u00b7 ".join(context)}],
            },
        ],
    }


def _escape(text: str) -> str:
    """``text`` with the three characters Slack reads as markup escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
