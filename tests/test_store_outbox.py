"""The outbox on every backend: queued once, claimed once, logged, retried, dead."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from store import Store, open_store
from store.outbox import DEAD, PENDING, SENDING, SENT, Outgoing
from tests.store_backends import BACKENDS, ISOLATED_URLS


@pytest.fixture(params=BACKENDS)
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with ISOLATED_URLS[request.param](tmp_path) as made:
        yield made


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    async with open_store(url) as opened:
        yield opened


def outgoing(key: str, at: float = 100.0, channel: str = "ops") -> Outgoing:
    return Outgoing(channel, key, {"title": f"about {key}", "n": 1}, at)


async def test_a_notification_queued_twice_is_kept_once(store: Store) -> None:
    assert await store.enqueue([outgoing("a"), outgoing("b")]) == 2
    assert await store.enqueue([outgoing("a"), outgoing("a", channel="dev")]) == 1

    entries = await store.outbox()

    assert [(e.channel_id, e.key, e.state) for e in entries] == [
        ("ops", "a", PENDING),
        ("ops", "b", PENDING),
        ("dev", "a", PENDING),
    ]
    assert entries[0].payload == {"title": "about a", "n": 1}


async def test_only_due_entries_are_claimed_and_each_by_one_claim(store: Store) -> None:
    await store.enqueue([outgoing("early", 100.0), outgoing("late", 500.0)])

    first = await store.claim_due(now=200.0, lease=30.0)
    again = await store.claim_due(now=210.0, lease=30.0)

    assert [e.key for e in first] == ["early"]
    assert first[0].state == SENDING
    assert first[0].next_at == 230.0
    assert again == []


async def test_concurrent_claims_never_hand_out_the_same_entry(url: str) -> None:
    async with open_store(url) as writer:
        await writer.enqueue([outgoing(f"k{n:03d}") for n in range(60)])
    stores = [open_store(url) for _ in range(3)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        claims = await asyncio.gather(
            *(s.claim_due(now=200.0, limit=25) for s in stores for _ in range(2))
        )
    finally:
        await asyncio.gather(*(s.close() for s in stores))

    keys = [entry.key for claim in claims for entry in claim]
    assert sorted(keys) == [f"k{n:03d}" for n in range(60)]


async def test_a_delivered_entry_is_sent_and_its_attempt_logged(store: Store) -> None:
    await store.enqueue([outgoing("a")])
    [entry] = await store.claim_due(now=200.0)

    recorded = await store.record_attempt(
        entry, at=201.0, ok=True, status=200, detail="delivered", response="thanks"
    )

    [settled] = await store.outbox()
    assert recorded
    assert (settled.state, settled.attempts, settled.last_status) == (SENT, 1, 200)
    assert await store.claim_due(now=10_000.0) == []
    [logged] = await store.delivery_log(channel_id="ops")
    assert logged == (entry.id, "ops", 1, 201.0, True, 200, "delivered", "thanks")


async def test_a_failed_attempt_comes_back_when_due_then_dies(store: Store) -> None:
    await store.enqueue([outgoing("a")])
    [entry] = await store.claim_due(now=200.0)
    await store.record_attempt(
        entry, at=201.0, ok=False, status=503, detail="status 503", retry_at=260.0
    )

    too_soon = await store.claim_due(now=250.0)
    [again] = await store.claim_due(now=260.0)
    await store.record_attempt(again, at=261.0, ok=False, detail="timeout after 10s")

    [dead] = await store.outbox(state=DEAD)
    assert too_soon == []
    assert (dead.attempts, dead.last_detail, dead.last_status) == (
        2,
        "timeout after 10s",
        None,
    )
    log = await store.delivery_log(entry_id=entry.id)
    assert [(a.attempt, a.ok, a.detail) for a in log] == [
        (2, False, "timeout after 10s"),
        (1, False, "status 503"),
    ]


async def test_an_entry_whose_lease_ran_out_is_claimed_again_and_the_late_sender_loses(
    store: Store,
) -> None:
    await store.enqueue([outgoing("a")])
    [slow] = await store.claim_due(now=200.0, lease=10.0)

    [taken] = await store.claim_due(now=211.0, lease=10.0)
    late = await store.record_attempt(slow, at=212.0, ok=True, status=200)
    settled = await store.record_attempt(taken, at=213.0, ok=True, status=201)

    assert taken.id == slow.id
    assert taken.claim == slow.claim + 1
    assert (late, settled) == (False, True)
    assert [a.status for a in await store.delivery_log()] == [201]


async def test_a_dead_letter_can_be_queued_again_by_hand(store: Store) -> None:
    await store.enqueue([outgoing("a"), outgoing("b")])
    entries = await store.claim_due(now=200.0)
    await store.record_attempt(entries[0], at=201.0, ok=False, detail="status 404")

    assert await store.requeue(entries[0].id, now=250.0)
    assert not await store.requeue(entries[1].id, now=250.0)
    [back] = await store.claim_due(now=250.0)
    assert back.key == "a"


async def test_a_long_response_is_cut_in_the_log(store: Store) -> None:
    await store.enqueue([outgoing("a")])
    [entry] = await store.claim_due(now=200.0)
    await store.record_attempt(entry, at=201.0, ok=True, response="x" * 10_000)

    [logged] = await store.delivery_log()

    assert logged.response == "x" * 2000


async def test_retention_removes_settled_entries_and_old_attempts_only(
    store: Store,
) -> None:
    await store.enqueue([outgoing("old"), outgoing("waiting")])
    first, _ = await store.claim_due(now=200.0)
    await store.record_attempt(first, at=201.0, ok=True)
    await store.enqueue([outgoing("new", at=100 * 86_400.0)])

    await store.enforce_retention(1, now=100 * 86_400.0)

    left = await store.outbox()
    assert [(e.key, e.state) for e in left] == [("waiting", SENDING), ("new", PENDING)]
    assert await store.delivery_log() == []


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ({"lease": 0}, "lease"),
        ({"limit": 0}, "limit"),
        ({"now": float("nan")}, "now"),
    ],
)
async def test_a_bad_claim_names_its_field(
    store: Store, call: dict[str, float], field: str
) -> None:
    arguments: dict[str, float] = {"now": 1.0, **call}

    with pytest.raises(ValueError, match=f"^{field}: "):
        await store.claim_due(**arguments)  # type: ignore[arg-type]


async def test_bad_outbox_filters_name_their_field(store: Store) -> None:
    with pytest.raises(ValueError, match=r"^state: must be one of"):
        await store.outbox(state="lost")
    with pytest.raises(ValueError, match=r"^entry_id: "):
        await store.requeue(0, now=1.0)
    with pytest.raises(ValueError, match=r"^outgoing\[0\].key: "):
        await store.enqueue([Outgoing("ops", "", {}, 1.0)])
