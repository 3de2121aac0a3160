"""Accounts on every backend: users, sessions, API keys, activity, secrets."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from store import Store, open_store
from store.accounts import Activity, ApiKey, Session, User
from tests.store_backends import BACKENDS, ISOLATED_URLS

NOW = 1_800_000_000.0
HOUR = 3600.0
DAY = 86_400.0


@pytest.fixture(params=BACKENDS)
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with ISOLATED_URLS[request.param](tmp_path) as made:
        yield made


@pytest.fixture
async def store(url: str) -> AsyncIterator[Store]:
    async with open_store(url) as opened:
        yield opened


def user(user_id: str = "u1", name: str = "Ada", role: str = "owner") -> User:
    return User(
        id=user_id,
        name=name,
        role=role,
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        created_at=NOW,
        updated_at=NOW,
        password_history=("$argon2id$old",),
        teams=("payments", "ops"),
    )


def session(
    session_id: str = "s1", user_id: str = "u1", *, generation: int = 1
) -> Session:
    return Session(
        id=session_id,
        user_id=user_id,
        generation=generation,
        token_hash="a" * 64,
        created_at=NOW,
        last_seen_at=NOW,
        expires_at=NOW + 30 * DAY,
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/156",
        address="127.0.0.1",
    )


def api_key(key_id: str = "k1", user_id: str = "u1", **changes: object) -> ApiKey:
    key = ApiKey(
        id=key_id,
        user_id=user_id,
        name="deploys",
        scopes=("monitors:read", "monitors:write"),
        secret_hash="b" * 64,
        created_at=NOW,
        expires_at=NOW + 90 * DAY,
    )
    return dataclasses.replace(key, **changes)  # type: ignore[arg-type]


async def test_a_user_is_created_read_by_id_and_by_name_in_any_case(
    store: Store,
) -> None:
    made = await store.create_user(user())

    by_id = await store.get_user("u1")
    by_name = await store.user_named("ADA")

    assert made is True
    # Names are kept in lower case, so logins are not case-sensitive.
    assert by_id == dataclasses.replace(user(), name="ada")
    assert by_name == by_id
    assert await store.get_user("nobody") is None
    assert await store.user_named("nobody") is None


@pytest.mark.parametrize(
    "other",
    [user("u2", "ada"), user("u1", "grace")],
    ids=["same name", "same id"],
)
async def test_a_user_whose_name_or_id_is_taken_is_not_created(
    store: Store, other: User
) -> None:
    await store.create_user(user())

    assert await store.create_user(other) is False
    assert [u.id for u in await store.users()] == ["u1"]


async def test_a_user_is_updated_and_listed_by_name(store: Store) -> None:
    await store.create_user(user("u1", "zed"))
    await store.create_user(user("u2", "bea", role="viewer"))
    changed = dataclasses.replace(
        user("u2", "bea"), role="editor", updated_at=NOW + 1, disabled=True
    )

    updated = await store.update_user(changed)
    missing = await store.update_user(user("u9", "nobody"))

    assert (updated, missing) == (True, False)
    assert [(u.name, u.role, u.disabled) for u in await store.users()] == [
        ("bea", "editor", True),
        ("zed", "owner", False),
    ]


async def test_a_user_cannot_be_renamed_to_a_name_that_is_taken(store: Store) -> None:
    await store.create_user(user("u1", "ada"))
    await store.create_user(user("u2", "bea"))

    with pytest.raises(ValueError, match="name"):
        await store.update_user(user("u2", "Ada"))

    assert (await store.get_user("u2")) == dataclasses.replace(user("u2", "bea"))


async def test_deleting_a_user_removes_its_sessions_and_keys_but_not_its_activity(
    store: Store,
) -> None:
    await store.create_user(user())
    await store.create_session(session())
    await store.create_api_key(api_key())
    await store.add_activity([Activity(NOW, "u1", "login")])

    deleted = await store.delete_user("u1")
    again = await store.delete_user("u1")

    assert (deleted, again) == (True, False)
    assert await store.get_session("s1") is None
    assert await store.get_api_key("k1") is None
    assert [entry.actor for entry in await store.activity()] == ["u1"]


async def test_a_session_rotates_once_per_token_and_never_twice(store: Store) -> None:
    await store.create_session(session())

    async def rotate(new_hash: str) -> bool:
        return await store.rotate_session(
            "s1",
            generation=1,
            token_hash="a" * 64,
            new_token_hash=new_hash,
            now=NOW + HOUR,
            expires_at=NOW + 31 * DAY,
            user_agent="curl/8",
            address="10.0.0.2",
        )

    outcomes = await asyncio.gather(rotate("c" * 64), rotate("d" * 64))
    rotated = await store.get_session("s1")

    assert sorted(outcomes) == [False, True]
    assert rotated is not None
    assert rotated.generation == 2
    assert rotated.token_hash == ("c" * 64 if outcomes[0] else "d" * 64)
    assert (rotated.last_seen_at, rotated.expires_at) == (NOW + HOUR, NOW + 31 * DAY)
    assert (rotated.user_agent, rotated.address) == ("curl/8", "10.0.0.2")


@pytest.mark.parametrize(
    ("revoked", "now"),
    [(True, NOW + HOUR), (False, NOW + 31 * DAY)],
    ids=["revoked", "expired"],
)
async def test_an_ended_session_does_not_rotate(
    store: Store, revoked: bool, now: float
) -> None:
    await store.create_session(session())
    if revoked:
        await store.revoke_sessions(session_id="s1", reason="signed out", now=NOW)

    rotated = await store.rotate_session(
        "s1",
        generation=1,
        token_hash="a" * 64,
        new_token_hash="c" * 64,
        now=now,
        expires_at=now + DAY,
        user_agent="",
        address="",
    )

    assert rotated is False


async def test_sessions_are_revoked_one_by_one_or_all_of_a_user(store: Store) -> None:
    for session_id, user_id in (("s1", "u1"), ("s2", "u1"), ("s3", "u2")):
        await store.create_session(session(session_id, user_id))

    one = await store.revoke_sessions(session_id="s1", reason="signed out", now=NOW)
    rest = await store.revoke_sessions(user_id="u1", reason="reused", now=NOW + 5)
    first = await store.get_session("s1")

    assert (one, rest) == (1, 1)
    assert first is not None
    # A revocation is not overwritten by a later one.
    assert (first.revoked_at, first.revoked_reason) == (NOW, "signed out")
    assert [s.id for s in await store.sessions("u1", now=NOW + 10)] == []
    assert [s.id for s in await store.sessions("u2", now=NOW + 10)] == ["s3"]


async def test_sessions_are_listed_latest_seen_first_and_touched_forward_only(
    store: Store,
) -> None:
    await store.create_session(session("s1"))
    await store.create_session(session("s2"))

    await store.touch_sessions(
        [("s1", NOW + 50, "10.0.0.1"), ("s2", NOW + 20, "10.0.0.2")]
    )
    await store.touch_sessions([("s1", NOW + 10, "10.0.0.9")])
    listed = await store.sessions("u1", now=NOW + 60)
    expired = await store.sessions("u1", now=NOW + 40 * DAY)

    assert [(s.id, s.last_seen_at, s.address) for s in listed] == [
        ("s1", NOW + 50, "10.0.0.1"),
        ("s2", NOW + 20, "10.0.0.2"),
    ]
    assert expired == []


async def test_an_api_key_is_kept_listed_touched_and_revoked(store: Store) -> None:
    await store.create_api_key(api_key("k1", created_at=NOW))
    await store.create_api_key(api_key("k2", created_at=NOW + 1, expires_at=None))
    await store.create_api_key(api_key("k3", user_id="u2", created_at=NOW + 2))

    await store.touch_api_keys([("k1", NOW + 30), ("k1", NOW + 20)])
    revoked = await store.revoke_api_key("k2", now=NOW + 40)
    again = await store.revoke_api_key("k2", now=NOW + 50)
    kept = await store.get_api_key("k1")
    gone = await store.get_api_key("k2")

    assert (revoked, again) == (True, False)
    assert kept == api_key("k1", created_at=NOW, last_used_at=NOW + 30)
    assert gone is not None
    assert gone.revoked_at == NOW + 40
    assert [k.id for k in await store.api_keys()] == ["k3", "k1"]
    assert [k.id for k in await store.api_keys("u1")] == ["k1"]


async def test_activity_is_read_newest_first_in_pages_and_filtered(
    store: Store,
) -> None:
    entries = [
        Activity(NOW + n, f"u{n % 2}", action, target=f"m{n}")
        for n, action in enumerate(
            ["login", "monitor.create", "monitor.update", "key.create", "login"]
        )
    ]
    await store.add_activity(entries[:2])
    await store.add_activity(entries[2:])

    everything = await store.activity()
    first = await store.activity(limit=2)
    second = await store.activity(before=first[-1].id, limit=2)
    by_actor = await store.activity(actor="u1")
    monitors = await store.activity(action="monitor.")
    logins = await store.activity(action="login")

    assert [e.target for e in everything] == ["m4", "m3", "m2", "m1", "m0"]
    assert [e.target for e in first + second] == ["m4", "m3", "m2", "m1"]
    assert everything[0] == dataclasses.replace(entries[4], id=everything[0].id)
    assert [e.target for e in by_actor] == ["m3", "m1"]
    assert [e.target for e in monitors] == ["m2", "m1"]
    assert [e.target for e in logins] == ["m4", "m0"]


async def test_activity_keeps_nested_details_and_non_ascii_text(store: Store) -> None:
    details = {"fields": ["interval", "tags"], "name": "Ödeme API", "n": 3}
    await store.add_activity([Activity(NOW, "u1", "monitor.update", details=details)])

    [entry] = await store.activity()

    assert entry.details == details


async def test_the_first_gateway_secret_kept_is_the_one_every_caller_gets(
    store: Store,
) -> None:
    first = await store.gateway_secret("signing", "one", at=NOW)
    second = await store.gateway_secret("signing", "two", at=NOW + 1)
    other = await store.gateway_secret("other", "three", at=NOW)

    assert (first, second, other) == ("one", "one", "three")


async def test_retention_removes_sessions_that_ended_before_the_cutoff(
    store: Store,
) -> None:
    old = dataclasses.replace(session("old"), expires_at=NOW - 40 * DAY)
    revoked = session("revoked")
    await store.create_session(old)
    await store.create_session(revoked)
    await store.create_session(session("live"))
    await store.revoke_sessions(session_id="revoked", reason="x", now=NOW - 35 * DAY)

    await store.enforce_retention(30, now=NOW)

    assert await store.get_session("old") is None
    assert await store.get_session("revoked") is None
    assert await store.get_session("live") is not None


async def test_accounts_survive_closing_and_reopening(url: str) -> None:
    async with open_store(url) as store:
        await store.create_user(user())
        await store.create_session(session())
        await store.create_api_key(api_key())

    async with open_store(url) as store:
        assert await store.get_user("u1") == dataclasses.replace(user(), name="ada")
        assert await store.get_session("s1") == session()
        assert await store.get_api_key("k1") == api_key()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.create_user(user(role="god")), "role"),
        (lambda s: s.create_user(user(user_id="")), "id"),
        (lambda s: s.create_user(user(name="x" * 101)), "name"),
        (lambda s: s.get_user(""), "user_id"),
        (lambda s: s.activity(limit=0), "limit"),
    ],
    ids=["role", "empty id", "long name", "empty user_id", "limit"],
)
async def test_a_bad_argument_names_its_field(
    store: Store, call: object, field: str
) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=field):
        await call(store)


async def test_an_account_given_the_values_it_has_still_counts_as_updated(
    store: Store,
) -> None:
    await store.create_user(user())

    assert await store.update_user(user()) is True


async def test_an_expired_key_leaves_the_list_when_revoked_but_was_not_usable(
    store: Store,
) -> None:
    await store.create_api_key(api_key("k1", expires_at=NOW - 1))

    revoked = await store.revoke_api_key("k1", now=NOW)

    assert revoked is False
    assert await store.api_keys() == []


async def test_revoking_counts_only_sessions_still_active_and_leaves_expired_ones(
    store: Store,
) -> None:
    await store.create_session(dataclasses.replace(session("old"), expires_at=NOW))
    await store.create_session(session("live"))

    revoked = await store.revoke_sessions(user_id="u1", reason="reset", now=NOW + 1)
    old = await store.get_session("old")

    assert revoked == 1
    assert old is not None
    assert old.revoked_at is None


async def test_the_latest_sighting_of_a_session_in_one_batch_wins(store: Store) -> None:
    await store.create_session(session())

    await store.touch_sessions(
        [
            ("s1", NOW + 30, "10.0.0.3"),
            ("s1", NOW + 40, "10.0.0.4"),
            ("s1", NOW + 35, "10.0.0.5"),
        ]
    )
    touched = await store.get_session("s1")

    assert touched is not None
    assert (touched.last_seen_at, touched.address) == (NOW + 40, "10.0.0.4")


async def test_preferences_are_kept_replaced_and_forgotten_per_user(
    store: Store,
) -> None:
    layout = {"theme": "dark", "widgets": [{"kind": "map", "w": 6}], "ünï": None}
    await store.put_preferences("u1", layout, at=NOW)
    await store.put_preferences("u2", {"accent": "teal"}, at=NOW)
    await store.put_preferences("u2", {"accent": "plum"}, at=NOW + 1)

    assert await store.preferences("u1") == layout
    assert await store.preferences("u2") == {"accent": "plum"}
    assert await store.preferences("u3") is None
    assert await store.settings("status_page") == []
    assert await store.forget_preferences("u1")
    assert not await store.forget_preferences("u1")
    assert await store.preferences("u1") is None


async def test_an_action_family_holds_only_the_actions_under_its_prefix(
    store: Store,
) -> None:
    actions = [
        "monitor",
        "monitor.create",
        "monitor.tags.add",
        "monitor/",
        "monitorx",
        "monitor_create",
        "monitor%",
    ]
    await store.add_activity([Activity(NOW, "u1", action) for action in actions])

    family = await store.activity(action="monitor.")
    pattern = await store.activity(action="monitor%")

    assert [e.action for e in family] == ["monitor.tags.add", "monitor.create"]
    assert [e.action for e in pattern] == ["monitor%"]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.revoke_sessions(reason="x", now=NOW), "session_id"),
        (lambda s: s.touch_sessions([("s1", "soon", "")]), r"seen\[0\]\.at"),
        (lambda s: s.touch_api_keys([("", NOW)]), r"used\[0\]\.key_id"),
        (lambda s: s.activity(before=0), "before"),
        (
            lambda s: s.add_activity([Activity(NOW, "u1", "x", details={"n": 1e999})]),
            "details",
        ),
        (
            lambda s: s.rotate_session(
                "s1",
                generation="1",
                token_hash="a",
                new_token_hash="b",
                now=NOW,
                expires_at=NOW,
                user_agent="",
                address="",
            ),
            "generation",
        ),
        (lambda s: s.gateway_secret("signing", "", at=NOW), "candidate"),
    ],
    ids=[
        "no session",
        "sighting time",
        "key id",
        "before",
        "infinite detail",
        "generation",
        "secret",
    ],
)
async def test_a_bad_account_argument_names_its_field(
    store: Store, call: object, field: str
) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=field):
        await call(store)
