"""The ``telegram`` channel: a message sent to a chat by a Telegram bot.

The bot token sits in the path of every request (``/bot<token>/sendMessage``)
and lets anyone act as the bot, so it is secret and no URL of this channel is
ever logged past its origin. ``api_url`` points elsewhere for a local Bot API
server. Telegram explains a refusal in ``description``; the delivery's detail
quotes it.
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
    json_object,
    json_words,
    origin,
    status_word,
)
from notify.message import RESOLVED, Delivery, Notification

FIELDS: Final = ("bot_token", "chat_id", "api_url", "timeout", *TEMPLATE_FIELDS)

DEFAULT_API_URL: Final = "https://api.telegram.org"

MESSAGE_CHARS: Final = 4096
"""The longest message Telegram sends."""

BOT_TOKEN: Final = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{20,100}")
CHAT_ID: Final = re.compile(r"-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31}")


@register
class TelegramChannel(HttpChannel):
    """Send the title, text and link as one plain-text message.

    Plain text needs no escaping, so a monitor's name full of ``_`` or ``*``
    cannot make Telegram refuse the message as bad markup.
    """

    kind = "telegram"
    secret_fields = ("bot_token",)

    def __init__(
        self,
        bot_token: str,
        chat_id: int | str,
        *,
        api_url: str = DEFAULT_API_URL,
        timeout: float,
    ) -> None:
        super().__init__(
            where=f"{origin(api_url)} chat {chat_id}",
            timeout=timeout,
            secrets=[bot_token],
        )
        self._send_url = f"{api_url}/bot{bot_token}/sendMessage"
        self._chat_id = chat_id

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        read = ConfigReader(config, cls.kind, FIELDS, cls.secret_fields)
        bot_token = read.text(
            "bot_token",
            required=True,
            pattern=BOT_TOKEN,
            shape="a bot token from BotFather, such as 123456:ABC-DEF...",
        )
        chat_id = _chat_id(read)
        api_url = read.url("api_url", default=DEFAULT_API_URL, base=True)
        timeout = read.timeout()
        templates = read.templates()
        read.done()
        channel = cls(bot_token, chat_id, api_url=api_url, timeout=timeout)
        channel._templates = templates
        return channel

    async def send(self, notification: Notification) -> Delivery:
        body = {
            "chat_id": self._chat_id,
            "text": text(notification),
            "disable_web_page_preview": True,
        }
        return await self.post_json(self._send_url, body)

    def explain(self, status: int, text: str) -> str | None:
        return json_words(text, "description")

    def accepted(self, status: int, text: str) -> Delivery:
        """Sent, unless Telegram said ``"ok": false`` even with a 2xx."""
        answer = json_object(text)
        if answer is not None and answer.get("ok") is False:
            words = json_words(text, "description") or "refused"
            return Delivery.failed(
                f"status {status}: {words}",
                retryable=False,
                status=status,
                response=text,
            )
        return Delivery.sent(status, text)


def text(notification: Notification) -> str:
    """The message: title, text, then status and link on their own lines."""
    lines = [headline(notification)]
    if notification.text:
        lines += ["", notification.text]
    status = status_word(notification)
    if notification.status != RESOLVED:
        status = f"{status} \u00b7 severity {notification.severity}"
    lines += ["", status]
    if notification.url:
        lines.append(notification.url)
    return clip("\n".join(lines), MESSAGE_CHARS)


def _chat_id(read: ConfigReader) -> int | str:
    """A chat's number (negative for groups) or a public channel's @username."""
    value = read.raw("chat_id")
    if value is None:
        read.problem("chat_id", "is required")
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and CHAT_ID.fullmatch(value.strip()):
        return value.strip()
    read.problem(
        "chat_id", f"must be a chat's number or a channel's @username, got {value!r}"
    )
    return 0
