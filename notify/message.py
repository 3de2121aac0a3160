"""What a notification says, and what became of one attempt to deliver it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FIRING = "firing"
RESOLVED = "resolved"
TEST = "test"
STATUSES = (FIRING, RESOLVED, TEST)
"""A notification tells that something went wrong, that it is over, or is a test."""


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for one channel, with its text already rendered.

    ``key`` identifies it for its receiver: sending the same notification
    again carries the same key, so a receiver (and PagerDuty's or
    Opsgenie's deduplication) can recognise a repeat. ``incident`` stays
    the same from the first alert of a problem to its resolution, so
    services that track alerts can close the one they opened. ``fields``
    holds the values the text was rendered from (monitor, state, reason,
    group members, links), for channels that send structured data.
    """

    key: str
    incident: str
    status: str
    title: str
    text: str
    at: float
    severity: str = "critical"
    url: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(
                f"status: must be one of {', '.join(STATUSES)}, got {self.status!r}"
            )


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one attempt to send a notification went.

    ``retryable`` says whether the same attempt can succeed later (a
    receiver that is down or answered 5xx or 429) or never will (a bad
    address, 4xx). ``status`` is the receiver's answer when there was one:
    an HTTP status or an SMTP reply code. ``response`` is the start of what
    it said, for the delivery log; it never holds the channel's secrets.
    """

    ok: bool
    retryable: bool = False
    status: int | None = None
    detail: str = ""
    response: str = ""

    @classmethod
    def sent(cls, status: int | None = None, response: str = "") -> Delivery:
        return cls(True, False, status, "delivered", response)

    @classmethod
    def failed(
        cls,
        detail: str,
        *,
        retryable: bool,
        status: int | None = None,
        response: str = "",
    ) -> Delivery:
        return cls(False, retryable, status, detail, response)
