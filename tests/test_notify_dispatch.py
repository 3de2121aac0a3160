"""Delivery through the outbox: each notification once, through failures, restarts."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from notify.backoff import RetryPolicy
from notify.channels import channel_from_config
from notify.channels.base import Channel
from notify.dispatch import Dispatcher, enqueue
from notify.message import FIRING, Notification
from store import Store, open_store
from store.outbox import DEAD, SENT
from tests.store_backends import BACKENDS, ISOLATED_URLS

SETTLE_WITHIN = 60.0
"""Seconds a test waits for the outbox to empty before it fails."""

FAST = RetryPolicy(first_delay=0.05, factor=2.0, max_delay=0.5, max_attempts=100)
"""Retries quick enough for a test, and many enough to outlast an outage."""

pytestmark = pytest.mark.skipif("sqlite" not in BACKENDS, reason="runs on SQLite")


@dataclass
class FlakyReceiver:
    """A webhook receiver that fails some requests and can be taken down.

    It keeps the keys of what it accepted, as a receiver that deduplicates
    by ``X-Upcast-Key`` would, and counts every request it handled.
    """

    failure_rate: float
    rng: random.Random = field(default_factory=lambda: random.Random(30))
    accepted: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    port: int = 0
    runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        await request.read()
        if self.rng.random() < self.failure_rate:
            return web.Response(status=500, text="try later")
        self.accepted[request.headers["X-Upcast-Key"]] += 1
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with (
        ISOLATED_URLS["sqlite"](tmp_path) as url,
        open_store(url) as opened,
    ):
        yield opened


@pytest.fixture
async def flaky() -> AsyncIterator[FlakyReceiver]:
    receiver = FlakyReceiver(failure_rate=0.3)
    await receiver.start()
    yield receiver
    await receiver.stop()


def webhook(port: int) -> Channel:
    config = {"kind": "webhook", "url": f"http://127.0.0.1:{port}/hook", "timeout": 2}
    return channel_from_config(config)


def notifications(count: int) -> list[Notification]:
    return [
        Notification(
            key=f"alert-{index}",
            incident=f"incident-{index}",
            status=FIRING,
            title=f"monitor {index} is down",
            text="connect: connection refused",
            at=1_700_000_000.0 + index,
        )
        for index in range(count)
    ]


async def deliver_until_settled(
    dispatcher: Dispatcher,
    store: Store,
    *,
    producing: asyncio.Future[None] | None = None,
) -> None:
    """Run the dispatcher until nothing is left to send (and nothing more comes)."""
    stop = asyncio.Event()
    running = asyncio.ensure_future(dispatcher.run(stop, idle=0.05))
    try:
        async with asyncio.timeout(SETTLE_WITHIN):
            await _settled(store, running, producing)
    finally:
        stop.set()
        await running


async def _settled(
    store: Store, running: asyncio.Future[None], producing: asyncio.Future[None] | None
) -> None:
    while True:
        if producing is not None and not producing.done():
            await asyncio.wait([producing], timeout=0.05)
            continue
        waiting = await store.outbox(state="pending") or await store.outbox(
            state="sending"
        )
        if not waiting:
            return
        await asyncio.wait([running], timeout=0.05)


async def test_a_receiver_failing_often_and_down_for_ten_seconds_gets_each_once(
    store: Store, flaky: FlakyReceiver
) -> None:
    channel = webhook(flaky.port)
    sent = notifications(48)
    dispatcher = Dispatcher(store, {"ops": channel}, policy=FAST, batch=10)

    async def produce() -> None:
        for notification in sent:
            await enqueue(store, "ops", [notification])
            await asyncio.sleep(0.25)

    async def outage() -> None:
        await asyncio.sleep(1.0)
        await flaky.stop()
        await asyncio.sleep(10)
        await flaky.start()

    producing = asyncio.ensure_future(produce())
    try:
        await asyncio.gather(
            outage(), deliver_until_settled(dispatcher, store, producing=producing)
        )
    finally:
        await channel.close()

    assert sorted(flaky.accepted) == sorted(n.key for n in sent)
    assert set(flaky.accepted.values()) == {1}
    assert [e.state for e in await store.outbox(limit=100)] == [SENT] * len(sent)
    failures = [a for a in await store.delivery_log(limit=10_000) if not a.ok]
    assert any(a.detail.startswith("connect: ") for a in failures)
    assert any(a.status == 500 for a in failures)


async def test_deliveries_a_stopped_sender_had_claimed_continue_after_its_lease(
    store: Store, flaky: FlakyReceiver
) -> None:
    flaky.failure_rate = 0.0
    channel = webhook(flaky.port)
    await enqueue(store, "ops", notifications(5))
    stopped = await store.claim_due(now=time.time(), lease=0.3)

    try:
        await asyncio.sleep(0.35)
        restarted = Dispatcher(store, {"ops": channel}, policy=FAST)
        await deliver_until_settled(restarted, store)
    finally:
        await channel.close()

    assert len(stopped) == 5
    assert sorted(flaky.accepted) == [f"alert-{n}" for n in range(5)]
    late = [await store.record_attempt(e, at=1.0, ok=True) for e in stopped]
    assert late == [False] * len(stopped)


async def test_a_delivery_out_of_attempts_is_dead_and_can_be_sent_again(
    store: Store, flaky: FlakyReceiver
) -> None:
    flaky.failure_rate = 1.0
    channel = webhook(flaky.port)
    await enqueue(store, "ops", notifications(1))
    policy = RetryPolicy(first_delay=0.01, max_delay=0.02, max_attempts=3)

    try:
        await deliver_until_settled(
            Dispatcher(store, {"ops": channel}, policy=policy), store
        )
        [dead] = await store.outbox(state=DEAD)
        flaky.failure_rate = 0.0
        assert await store.requeue(dead.id, now=0.0)
        await deliver_until_settled(
            Dispatcher(store, {"ops": channel}, policy=policy), store
        )
    finally:
        await channel.close()

    assert dead.attempts == 3
    assert dead.last_status == 500
    assert flaky.accepted == Counter({"alert-0": 1})


async def test_a_notification_for_a_channel_that_is_gone_is_given_up_at_once(
    store: Store,
) -> None:
    await enqueue(store, "removed", notifications(1))

    await Dispatcher(store, {}).run_once()

    [dead] = await store.outbox(state=DEAD)
    assert dead.last_detail == "the channel no longer exists"


async def test_enqueueing_the_same_notification_twice_delivers_it_once(
    store: Store, flaky: FlakyReceiver
) -> None:
    flaky.failure_rate = 0.0
    channel = webhook(flaky.port)
    batch = notifications(3)

    try:
        assert await enqueue(store, "ops", batch) == 3
        assert await enqueue(store, "ops", batch) == 0
        await deliver_until_settled(Dispatcher(store, {"ops": channel}), store)
    finally:
        await channel.close()

    assert flaky.requests == 3
