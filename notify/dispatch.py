"""Delivering the outbox: claim what is due, send it, record how it went.

Nothing is sent that was not written to the outbox first (``enqueue``), so
a crash between deciding to notify and sending loses nothing: the entry is
claimed again once its sender's lease runs out. A failed attempt is retried
after the channel's ``RetryPolicy`` delay, and an entry that runs out of
attempts stays in the outbox as dead, readable and sendable by hand. Each
notification carries its key, so a receiver that saw it before (an answer
lost on the way back) can tell.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Mapping

from notify.backoff import RetryPolicy
from notify.channels.base import Channel
from notify.message import Delivery, Notification
from store.base import Store
from store.outbox import OutboxEntry, Outgoing

logger = logging.getLogger(__name__)

DEFAULT_LEASE = 60.0
"""Seconds a claimed entry stays with its sender before others may take it.

Longer than any channel's timeout, so a slow send is never sent twice
while it is still running.
"""

DEFAULT_CONCURRENCY = 20
"""Deliveries in flight at once: enough to keep many channels busy, few enough
that one slow receiver cannot hold every connection."""


async def enqueue(
    store: Store,
    channel_id: str,
    notifications: list[Notification],
    *,
    at: float | None = None,
) -> int:
    """Write notifications for one channel to the outbox; how many were new."""
    moment = time.time() if at is None else at
    outgoing = [
        Outgoing(channel_id, n.key, dataclasses.asdict(n), moment)
        for n in notifications
    ]
    return await store.enqueue(outgoing)


def notification_of(entry: OutboxEntry) -> Notification:
    """The notification an outbox entry holds."""
    return Notification(**entry.payload)


class Dispatcher:
    """Sends what the outbox holds through the channels it names.

    ``channels`` maps a channel id to its ``Channel``; an entry whose channel
    is gone is given up at once. ``policies`` may give a channel its own
    ``RetryPolicy``; others use ``policy``. ``clock`` and ``rng`` are the
    time and the jitter, replaceable so that tests need not wait.
    """

    def __init__(
        self,
        store: Store,
        channels: Mapping[str, Channel],
        *,
        policy: RetryPolicy | None = None,
        policies: Mapping[str, RetryPolicy] | None = None,
        lease: float = DEFAULT_LEASE,
        batch: int = 100,
        concurrency: int = DEFAULT_CONCURRENCY,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.channels = channels
        self.policy = policy or RetryPolicy()
        self.policies = dict(policies or {})
        self.lease = lease
        self.batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._rng = rng or random.Random()

    async def run_once(self) -> int:
        """Claim the entries due now, deliver them all; how many were tried."""
        entries = await self.store.claim_due(
            now=self._clock(), limit=self.batch, lease=self.lease
        )
        await asyncio.gather(*(self._deliver(entry) for entry in entries))
        return len(entries)

    async def run(self, stop: asyncio.Event, *, idle: float = 1.0) -> None:
        """Deliver until ``stop`` is set, looking again every ``idle`` seconds.

        A full batch is followed at once by the next; a failing store is
        logged and tried again, so the loop outlives its own errors.
        """
        while not stop.is_set():
            try:
                tried = await self.run_once()
            except Exception:
                logger.exception("delivering the outbox failed; trying again")
                tried = 0
            if tried < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle)

    async def _deliver(self, entry: OutboxEntry) -> None:
        async with self._slots:
            delivery = await self._send(entry)
        at = self._clock()
        retry_at = None
        if not delivery.ok and delivery.retryable:
            policy = self.policies.get(entry.channel_id, self.policy)
            delay = policy.delay(entry.attempts + 2, self._rng)
            retry_at = None if delay is None else at + delay
        recorded = await self.store.record_attempt(
            entry,
            at=at,
            ok=delivery.ok,
            status=delivery.status,
            detail=delivery.detail,
            response=delivery.response,
            retry_at=retry_at,
        )
        self._log(entry, delivery, recorded, retry_at)

    async def _send(self, entry: OutboxEntry) -> Delivery:
        channel = self.channels.get(entry.channel_id)
        if channel is None:
            return Delivery.failed("the channel no longer exists", retryable=False)
        try:
            notification = notification_of(entry)
        except (TypeError, ValueError) as exc:
            return Delivery.failed(f"unreadable notification: {exc}", retryable=False)
        try:
            return await channel.send(notification)
        except Exception as exc:
            # A channel's bug must not stop the others; the attempt is
            # logged as failed and retried like any other failure.
            logger.exception("channel %s failed to send", entry.channel_id)
            return Delivery.failed(
                f"internal error: {type(exc).__name__}", retryable=True
            )

    def _log(
        self,
        entry: OutboxEntry,
        delivery: Delivery,
        recorded: bool,
        retry_at: float | None,
    ) -> None:
        attempt = entry.attempts + 1
        if not recorded:
            logger.info("delivery %d was taken over by another sender", entry.id)
        elif delivery.ok:
            logger.debug("delivered %d to %s", entry.id, entry.channel_id)
        elif retry_at is None:
            logger.warning(
                "gave up delivery %d to %s after %d attempts: %s",
                entry.id,
                entry.channel_id,
                attempt,
                delivery.detail,
            )
        else:
            logger.debug(
                "delivery %d to %s failed (%s) at attempt %d; next at %.1f",
                entry.id,
                entry.channel_id,
                delivery.detail,
                attempt,
                retry_at,
            )
