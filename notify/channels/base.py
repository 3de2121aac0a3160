"""The interface every channel plugin implements."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from time import perf_counter
from typing import Any, ClassVar, Self

from notify.message import Delivery, Notification
from notify.templates import ChannelTemplates


class Channel(ABC):
    """Somewhere notifications go: a webhook, a chat, a pager, a mailbox.

    A channel is built from its stored configuration by ``from_config``,
    which checks every field and raises ``engine.errors.ValidationError``
    naming each bad one. ``send`` makes one attempt and never raises for a
    failed delivery: it returns a ``Delivery`` that says whether a retry can
    help, so the caller decides about backoff. ``secret_fields`` name the
    configuration fields never shown again after creation (tokens,
    passwords, signing keys, URLs that carry a token). ``templates`` is how
    the channel words its notifications, from its ``language``, ``title``
    and ``text`` fields (see ``notify.templates``).
    """

    kind: ClassVar[str]
    secret_fields: ClassVar[tuple[str, ...]] = ()
    _templates: ChannelTemplates = ChannelTemplates()

    @property
    def templates(self) -> ChannelTemplates:
        return self._templates

    @classmethod
    @abstractmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """The channel this configuration describes (``kind`` included)."""

    @abstractmethod
    async def send(self, notification: Notification) -> Delivery:
        """Try once to deliver ``notification``; how that went."""

    async def close(self) -> None:  # noqa: B027 - most channels keep nothing open
        """Let go of connections the channel keeps between sends."""


def log_delivery(
    logger: logging.Logger,
    kind: str,
    where: str,
    delivery: Delivery,
    started: float,
) -> None:
    """One DEBUG line per attempt, with fixed keys; ``started`` from perf_counter.

    ``where`` is the receiver as it may be shown (an origin, a mail host),
    never a URL that carries a token.
    """
    logger.debug(
        "delivery kind=%s to=%s ok=%s retryable=%s status=%s detail=%s "
        "duration_ms=%.1f",
        kind,
        where,
        delivery.ok,
        delivery.retryable,
        delivery.status,
        delivery.detail,
        (perf_counter() - started) * 1000.0,
    )
