"""The outbox: notifications waiting to be delivered, and every attempt made.

A notification is written here before anything is sent, so a restart loses
none: whatever was pending is claimed again. Claiming is one conditional
update that hands each due entry to one sender for a lease; an entry whose
sender died comes back when its lease runs out. Every attempt is logged
with what the receiver answered, and an entry that runs out of attempts
stays as a dead letter until someone sends it again by hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
DEAD = "dead"
STATES = (PENDING, SENDING, SENT, DEAD)

MAX_RESPONSE = 2000
"""Characters of a receiver's answer kept in the delivery log."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A notification to put in the outbox for one channel.

    ``key`` is its idempotency key: the outbox keeps one entry per channel
    and key, so queueing the same notification twice sends it once.
    ``payload`` is what the sender needs to rebuild it (the notification as
    a mapping); ``at`` is when it was queued, and its first attempt is due.
    """

    channel_id: str
    key: str
    payload: Mapping[str, Any]
    at: float


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One notification in the outbox, and where its delivery stands.

    ``claim`` counts the times a sender took it; an attempt is recorded
    against the claim it was made under, so a sender whose lease ran out
    cannot settle an entry another sender now holds. While it is
    ``sending``, ``next_at`` is when the lease ends.
    """

    id: int
    channel_id: str
    key: str
    payload: dict[str, Any]
    state: str
    attempts: int
    next_at: float
    created_at: float
    last_status: int | None = None
    last_detail: str = ""
    claim: int = 0


class Attempt(NamedTuple):
    """One attempt to deliver an outbox entry, as the delivery log keeps it."""

    entry_id: int
    channel_id: str
    attempt: int
    at: float
    ok: bool
    status: int | None
    detail: str
    response: str


def entry_from_row(row: Sequence[Any]) -> OutboxEntry:
    """An entry from a row of the outbox columns, its payload JSON text."""
    return OutboxEntry(
        row[0],
        row[1],
        row[2],
        json.loads(row[3]),
        row[4],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
    )
