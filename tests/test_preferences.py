"""Each user's dashboard preferences, kept in the store through the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sanic import Sanic

from actors.platform import Platform
from sdk import AsyncClient
from tests.gateway_monitors import WAIT, new_id
from web.app import create_app
from web.server import GatewayThread

PASSWORD = "amber-lattice-meadow-73"


@pytest.fixture
async def anyone(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no credentials unless a test gives them."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=WAIT) as client:
        yield client


async def signed_in(
    anyone: httpx.AsyncClient, auth: dict[str, str], role: str = "viewer"
) -> dict[str, str]:
    """Headers of a new user's session."""
    name = new_id(role)
    made = await anyone.post(
        "/api/v1/users",
        json={"name": name, "password": PASSWORD, "role": role},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    login = await anyone.post(
        "/api/v1/auth/login", json={"name": name, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def preferences_of(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> dict[str, Any]:
    answer = await client.get("/api/v1/auth/me/preferences", headers=headers)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["preferences"]
    return found


async def test_two_users_keep_preferences_of_their_own(
    anyone: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    ada, bob = await signed_in(anyone, auth), await signed_in(anyone, auth)
    before = await preferences_of(anyone, ada)
    layout = {"theme": "dark", "widgets": [{"kind": "map", "x": 0, "w": 6}]}

    saved = await anyone.put(
        "/api/v1/auth/me/preferences", json={"preferences": layout}, headers=ada
    )

    assert before == {}
    assert saved.status_code == 200, saved.text
    assert saved.json() == {"preferences": layout}
    assert await preferences_of(anyone, ada) == layout
    assert await preferences_of(anyone, bob) == {}


async def test_a_put_replaces_every_preference(
    anyone: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    ada = await signed_in(anyone, auth)
    for preferences in ({"theme": "dark", "accent": "teal"}, {"accent": "plum"}):
        answer = await anyone.put(
            "/api/v1/auth/me/preferences",
            json={"preferences": preferences},
            headers=ada,
        )
        assert answer.status_code == 200

    assert await preferences_of(anyone, ada) == {"accent": "plum"}


@pytest.mark.parametrize(
    "body",
    [
        {"preferences": {"layout": "x" * (16 * 1024)}},
        {"preferences": ["not", "an", "object"]},
        {"preferences": {"count": 2**70}},
        {"layout": {}},
    ],
)
async def test_preferences_too_large_or_not_an_object_are_refused_by_name(
    anyone: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]
) -> None:
    ada = await signed_in(anyone, auth)

    answer = await anyone.put("/api/v1/auth/me/preferences", json=body, headers=ada)

    assert answer.status_code == 422, answer.text
    named = [field["field"] for field in answer.json()["error"]["fields"]]
    assert named[0] in ("preferences", "layout")
    assert await preferences_of(anyone, ada) == {}


async def test_an_api_key_keeps_the_preferences_of_its_user(
    anyone: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    ada = await signed_in(anyone, auth)
    made = await anyone.post(
        "/api/v1/keys",
        json={"name": "dashboard", "scopes": ["monitors:read"]},
        headers=ada,
    )
    assert made.status_code == 201, made.text
    as_key = {"Authorization": f"Bearer {made.json()['key']}"}

    await anyone.put(
        "/api/v1/auth/me/preferences",
        json={"preferences": {"theme": "light"}},
        headers=as_key,
    )

    assert await preferences_of(anyone, ada) == {"theme": "light"}


async def test_preferences_outlive_the_gateway_that_saved_them(
    anyone: httpx.AsyncClient, auth: dict[str, str], platform_handle: Platform
) -> None:
    ada = await signed_in(anyone, auth)
    await anyone.put(
        "/api/v1/auth/me/preferences",
        json={"preferences": {"accent": "amber"}},
        headers=ada,
    )
    app = create_app(platform_handle, name=new_id("upcast-other"))
    try:
        with GatewayThread(app) as other:
            async with httpx.AsyncClient(base_url=other.url, timeout=WAIT) as client:
                found = await preferences_of(client, ada)
    finally:
        Sanic.unregister_app(app)

    assert found == {"accent": "amber"}


async def test_preferences_go_with_their_account(
    anyone: httpx.AsyncClient, auth: dict[str, str], platform_handle: Platform
) -> None:
    name = new_id("leaving")
    made = await anyone.post(
        "/api/v1/users",
        json={"name": name, "password": PASSWORD, "role": "viewer"},
        headers=auth,
    )
    user_id = made.json()["id"]
    backend = platform_handle.account_backend()
    await backend.put_preferences(user_id, {"theme": "dark"}, at=1.0)

    deleted = await anyone.delete(f"/api/v1/users/{user_id}", headers=auth)

    assert deleted.status_code == 204
    assert await backend.preferences(user_id) is None


async def test_the_sdk_saves_and_reads_the_callers_preferences(
    gateway_url: str, anyone: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    name = new_id("sdk")
    made = await anyone.post(
        "/api/v1/users",
        json={"name": name, "password": PASSWORD, "role": "viewer"},
        headers=auth,
    )
    assert made.status_code == 201, made.text

    async with AsyncClient(gateway_url, timeout=WAIT) as client:
        await client.login(name, PASSWORD)
        before = await client.preferences()
        saved = await client.put_preferences({"theme": "dark"})
        after = await client.preferences()

    assert (before, saved, after) == ({}, {"theme": "dark"}, {"theme": "dark"})
