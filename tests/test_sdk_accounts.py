"""Accounts through the SDK: signing in, renewing a session, users and keys.

People are made with the owner's key for each test and deleted after it.
The renewal of sessions is seen on a second gateway of the same platform
whose access tokens last two seconds, so they expire during a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from actors.runtime import RayPlatform
from sdk import AsyncClient, Client, NotFound, Unauthorized, ValidationFailed
from tests.gateway_monitors import WAIT, new_id
from tests.waiting import eventually
from web.accounts import Accounts, SecuritySettings
from web.app import create_app
from web.protection import ProtectionSettings
from web.server import GatewayThread

ACCESS_LIFETIME = 2.0
"""Seconds an access token of the short-lived gateway lasts; its expiry is
rounded down to the second, so it may end up to a second sooner."""
EXPIRED = ACCESS_LIFETIME + 0.2
"""Seconds after which an access token of the short-lived gateway is refused."""


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    name: str
    password: str


def new_password() -> str:
    return f"amber-{uuid.uuid4().hex[:10]}-harbour"


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients here sign in, or are given a key; none falls back on the variable."""
    monkeypatch.delenv("UPCAST_API_KEY", raising=False)


@pytest.fixture
def owner(gateway_url: str, api_key: str) -> Iterator[Client]:
    with Client(gateway_url, api_key=api_key, timeout=WAIT) as opened:
        yield opened


@pytest.fixture
def person(owner: Client) -> Iterator[Person]:
    """An editor, deleted when the test ends."""
    name, password = new_id("person"), new_password()
    user = owner.create_user(name, password, role="editor")
    yield Person(user["id"], name, password)
    with contextlib.suppress(NotFound):
        owner.delete_user(user["id"])


@pytest.fixture(scope="module")
def short_lived_url(platform: RayPlatform) -> Iterator[str]:
    """A gateway of the session's platform whose access tokens expire quickly."""
    accounts = Accounts(
        platform.account_backend(), SecuritySettings(access_lifetime=ACCESS_LIFETIME)
    )
    app = create_app(
        platform,
        name=new_id("upcast-short-lived"),
        accounts=accounts,
        protection=ProtectionSettings(limits={}),
    )
    with GatewayThread(app) as running:
        yield running.url


@pytest.fixture
async def signed_in(short_lived_url: str, person: Person) -> AsyncIterator[AsyncClient]:
    """The person, signed in on the short-lived gateway from asyncio."""
    async with AsyncClient(short_lived_url, timeout=WAIT) as client:
        await client.login(person.name, person.password)
        yield client


def test_a_person_signs_in_sees_themselves_and_signs_out(
    gateway_url: str, person: Person
) -> None:
    with Client(gateway_url, timeout=WAIT) as client:
        user = client.login(person.name, person.password)
        me = client.me()
        sessions = client.sessions()
        client.logout()

        with pytest.raises(Unauthorized):
            client.me()

    assert user["id"] == me["user"]["id"] == person.id
    assert me["via"] == "session"
    assert "monitors:write" in me["scopes"]
    assert [s["id"] for s in sessions if s["current"]] == [me["session_id"]]


def test_a_wrong_password_is_refused_as_unauthorized(
    gateway_url: str, person: Person
) -> None:
    with Client(gateway_url) as client, pytest.raises(Unauthorized) as caught:
        client.login(person.name, "not-the-password-at-all")

    assert caught.value.status == 401
    assert not caught.value.retryable


def test_an_expired_access_token_is_renewed_from_the_refresh_token(
    short_lived_url: str, person: Person
) -> None:
    with Client(short_lived_url, timeout=WAIT) as client:
        client.login(person.name, person.password)
        before = client.me()
        time.sleep(EXPIRED)

        after = client.me()

    assert after["session_id"] == before["session_id"]
    assert after["user"]["id"] == person.id


async def test_requests_refused_together_renew_the_session_only_once(
    signed_in: AsyncClient, owner: Client, person: Person
) -> None:
    session_id = (await signed_in.me())["session_id"]
    await asyncio.sleep(EXPIRED)

    answers = await asyncio.gather(*(signed_in.me() for _ in range(6)))
    # A refresh token sent twice would have revoked the session: it lives.
    later = await signed_in.sessions()

    assert {answer["session_id"] for answer in answers} == {session_id}
    assert [s["id"] for s in later] == [session_id]
    assert session_id in [s["id"] for s in owner.user_sessions(person.id)]


async def test_a_session_revoked_elsewhere_is_refused_and_not_renewed(
    signed_in: AsyncClient, short_lived_url: str, api_key: str, person: Person
) -> None:
    async with AsyncClient(short_lived_url, api_key=api_key) as owner:
        revoked = await owner.revoke_user_sessions(person.id)

    with pytest.raises(Unauthorized):
        await signed_in.me()
    # The tokens are dropped once renewing fails: nothing is sent at all now.
    with pytest.raises(Unauthorized, match="sign in"):
        await signed_in.refresh()

    assert revoked == 1


def test_changing_the_password_ends_the_other_sessions(
    gateway_url: str, person: Person
) -> None:
    new = new_password()
    with (
        Client(gateway_url, timeout=WAIT) as here,
        Client(gateway_url, timeout=WAIT) as elsewhere,
    ):
        here.login(person.name, person.password)
        elsewhere.login(person.name, person.password)

        here.change_password(person.password, new)

        assert here.me()["user"]["id"] == person.id
        with pytest.raises(Unauthorized):
            elsewhere.me()
        with pytest.raises(Unauthorized):
            elsewhere.login(person.name, person.password)
        assert elsewhere.login(person.name, new)["id"] == person.id


def test_a_person_ends_one_of_their_own_sessions(
    gateway_url: str, person: Person
) -> None:
    with (
        Client(gateway_url, timeout=WAIT) as laptop,
        Client(gateway_url, timeout=WAIT) as phone,
    ):
        laptop.login(person.name, person.password)
        phone.login(person.name, person.password)
        phone_session = phone.me()["session_id"]

        laptop.revoke_session(phone_session)

        with pytest.raises(Unauthorized):
            phone.me()
        assert [s["id"] for s in laptop.sessions()] == [laptop.me()["session_id"]]


def test_an_admin_manages_an_account_from_creation_to_deletion(
    owner: Client, gateway_url: str
) -> None:
    name, password = new_id("account"), new_password()

    created = owner.create_user(name, password, teams=["ops"])
    fetched = owner.get_user(created["id"])
    listed = owner.users()
    paged = list(owner.iter_users(page_size=1))
    changed = owner.update_user(created["id"], role="editor", teams=["ops", "db"])
    with Client(gateway_url, timeout=WAIT) as them:
        them.login(name, password)
        sessions = owner.user_sessions(created["id"])
        revoked = owner.revoke_user_sessions(created["id"])
    disabled = owner.update_user(created["id"], disabled=True)
    owner.delete_user(created["id"])

    assert (created["role"], created["teams"]) == ("viewer", ["ops"])
    assert fetched == created
    assert created["id"] in [user["id"] for user in listed]
    assert [user["id"] for user in paged] == [user["id"] for user in listed]
    assert (changed["role"], changed["teams"]) == ("editor", ["ops", "db"])
    assert len(sessions) == revoked == 1
    assert disabled["disabled"] is True
    with pytest.raises(NotFound):
        owner.get_user(created["id"])


@pytest.mark.parametrize(
    ("role", "field"),
    [("emperor", "role"), ("viewer", "name")],
)
def test_a_refused_account_names_the_field_at_fault(
    owner: Client, role: str, field: str
) -> None:
    name = new_id("account") if field != "name" else "has spaces in it"

    with pytest.raises(ValidationFailed) as caught:
        owner.create_user(name, new_password(), role=role)

    assert caught.value.status == 422
    assert field in [problem_field for problem_field, _ in caught.value.fields]


def test_a_person_makes_uses_and_revokes_an_api_key(
    gateway_url: str, person: Person, owner: Client
) -> None:
    with Client(gateway_url, timeout=WAIT) as client:
        client.login(person.name, person.password)
        made = client.create_key("ci", ["monitors:read"], expires_in_days=1)
        with Client(gateway_url, api_key=made["key"]) as ci:
            seen_as = ci.me()
            mine = client.keys()
            everyone = owner.keys(user="*")

            client.revoke_key(made["id"])

            with pytest.raises(Unauthorized):
                ci.me()

    assert seen_as["via"] == f"key:{made['id']}"
    assert seen_as["scopes"] == ["monitors:read"]
    assert [key["id"] for key in mine] == [made["id"]]
    assert made["id"] in [key["id"] for key in everyone]
    assert "key" not in mine[0]


async def test_the_activity_log_says_who_made_an_account(
    gateway_url: str, api_key: str, person: Person
) -> None:
    async with AsyncClient(gateway_url, api_key=api_key) as owner:

        async def logged() -> bool:
            entries = await owner.activity(action="user.", limit=None)
            made = [e["target"] for e in entries if e["action"] == "user.create"]
            return person.name in made

        await eventually(logged)
        newest_first: list[int] = []
        async for entry in owner.iter_activity(page_size=2):
            newest_first.append(entry["id"])
            if len(newest_first) == 5:
                break

    assert len(newest_first) == 5
    assert newest_first == sorted(newest_first, reverse=True)
