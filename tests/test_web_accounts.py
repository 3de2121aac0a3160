"""Accounts through the real gateway: sign-in, tokens, keys, roles, the log.

The session's gateway has an owner with an API key of every scope (the
``auth`` headers); each test makes the users and keys it needs, with names
of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import socketio

from actors.runtime import RayPlatform
from tests.gateway_monitors import WAIT, definition, new_id
from tests.waiting import eventually
from web.access import SCOPES
from web.app import create_app
from web.protection import DEFAULT_LIMITS, Limit, ProtectionSettings
from web.server import start_gateway

PASSWORD = "silver-harbor-compass-58"


@pytest.fixture
async def http(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client that sends no credentials unless a test gives them."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=WAIT) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_user(
    http: httpx.AsyncClient, auth: dict[str, str], role: str, **fields: Any
) -> dict[str, Any]:
    body = {"name": new_id(role), "password": PASSWORD, "role": role, **fields}
    answer = await http.post("/api/v1/users", json=body, headers=auth)
    assert answer.status_code == 201, answer.text
    user: dict[str, Any] = answer.json()
    return user


async def login(
    http: httpx.AsyncClient, name: str, password: str = PASSWORD, **headers: str
) -> dict[str, Any]:
    answer = await http.post(
        "/api/v1/auth/login",
        json={"name": name, "password": password},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    pair: dict[str, Any] = answer.json()
    return pair


async def test_a_user_signs_in_and_the_access_token_opens_the_api(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    user = await new_user(http, auth, "viewer")

    pair = await login(http, user["name"])
    me = await http.get("/api/v1/auth/me", headers=bearer(pair["access_token"]))
    listed = await http.get("/api/v1/monitors", headers=bearer(pair["access_token"]))

    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == 900
    assert pair["refresh_token"].startswith("upr_")
    assert me.json()["user"]["name"] == user["name"]
    assert me.json()["scopes"] == ["alerts:read", "monitors:read"]
    assert listed.status_code == 200
    assert "password_hash" not in str(me.json())


@pytest.mark.parametrize(
    ("name", "password"), [("known", "wrong-password-123"), ("nobody", PASSWORD)]
)
async def test_a_wrong_name_or_password_is_refused_alike(
    http: httpx.AsyncClient, auth: dict[str, str], name: str, password: str
) -> None:
    user = await new_user(http, auth, "viewer")
    login_name = user["name"] if name == "known" else new_id("nobody")

    answer = await http.post(
        "/api/v1/auth/login", json={"name": login_name, "password": password}
    )

    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "the name or the password is wrong"
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "sign in first"),
        ({"Authorization": "Basic YWRhOnB3"}, "must be 'Bearer"),
        ({"Authorization": "Bearer not-a-token"}, "access token is not valid"),
        ({"Authorization": "Bearer upk_abcdefgh_" + "x" * 40}, "API key is not"),
    ],
    ids=["none", "basic", "garbage", "unknown key"],
)
async def test_requests_without_good_credentials_are_refused_with_401(
    http: httpx.AsyncClient, headers: dict[str, str], message: str
) -> None:
    answer = await http.get("/api/v1/monitors", headers=headers)

    assert answer.status_code == 401
    assert message in answer.json()["error"]["message"]


async def test_a_refresh_token_used_twice_revokes_its_whole_session(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    user = await new_user(http, auth, "editor")
    first = await login(http, user["name"])

    async def refresh(token: str) -> httpx.Response:
        return await http.post("/api/v1/auth/refresh", json={"refresh_token": token})

    second = (await refresh(first["refresh_token"])).json()
    # The first token again: someone else holds a copy.
    stolen = await refresh(first["refresh_token"])
    latest = await refresh(second["refresh_token"])
    access = await http.get("/api/v1/auth/me", headers=bearer(second["access_token"]))
    activity = await http.get(
        "/api/v1/activity", params={"action": "session.reused"}, headers=auth
    )

    assert second["session_id"] == first["session_id"]
    assert second["refresh_token"] != first["refresh_token"]
    assert stolen.status_code == 401
    assert "used already" in stolen.json()["error"]["message"]
    assert latest.status_code == 401
    assert access.status_code == 401
    assert first["session_id"] in [e["target"] for e in activity.json()["activity"]]


async def test_two_refreshes_racing_with_one_token_leave_at_most_one_session(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    user = await new_user(http, auth, "viewer")
    pair = await login(http, user["name"])

    answers = await asyncio.gather(
        *(
            http.post(
                "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
            )
            for _ in range(2)
        )
    )

    assert sorted(answer.status_code for answer in answers)[1] == 401


async def test_sessions_show_their_device_and_are_revoked_one_by_one(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    user = await new_user(http, auth, "viewer")
    laptop = await login(http, user["name"], **{"User-Agent": "laptop-browser/1"})
    phone = await login(http, user["name"], **{"User-Agent": "phone-app/2"})

    listed = await http.get(
        "/api/v1/auth/sessions", headers=bearer(laptop["access_token"])
    )
    revoked = await http.delete(
        f"/api/v1/auth/sessions/{phone['session_id']}",
        headers=bearer(laptop["access_token"]),
    )
    phone_after = await http.get(
        "/api/v1/auth/me", headers=bearer(phone["access_token"])
    )
    laptop_after = await http.get(
        "/api/v1/auth/me", headers=bearer(laptop["access_token"])
    )

    sessions = {s["user_agent"]: s for s in listed.json()["sessions"]}
    assert set(sessions) == {"laptop-browser/1", "phone-app/2"}
    assert sessions["laptop-browser/1"]["current"] is True
    assert sessions["phone-app/2"]["address"] == "127.0.0.1"
    assert sessions["phone-app/2"]["last_seen_at"] > 0
    assert revoked.status_code == 204
    assert phone_after.status_code == 401
    assert laptop_after.status_code == 200


async def test_signing_out_ends_the_session(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    user = await new_user(http, auth, "viewer")
    pair = await login(http, user["name"])

    out = await http.post("/api/v1/auth/logout", headers=bearer(pair["access_token"]))
    after = await http.post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )

    assert out.status_code == 204
    assert after.status_code == 401


@pytest.mark.parametrize(
    ("role", "method", "path", "allowed"),
    [
        ("viewer", "GET", "/api/v1/monitors", True),
        ("viewer", "GET", "/api/v1/incidents", True),
        ("viewer", "POST", "/api/v1/monitors", False),
        ("viewer", "POST", "/api/v1/channels", False),
        ("viewer", "GET", "/api/v1/users", False),
        ("editor", "POST", "/api/v1/monitors", True),
        ("editor", "GET", "/api/v1/users", False),
        ("editor", "GET", "/api/v1/activity", False),
        ("editor", "POST", "/api/v1/engine/shards", False),
        ("admin", "GET", "/api/v1/users", True),
        ("admin", "GET", "/api/v1/activity", True),
    ],
)
async def test_each_role_reaches_what_it_grants_and_no_more(
    http: httpx.AsyncClient,
    auth: dict[str, str],
    gateway_url: str,
    role: str,
    method: str,
    path: str,
    allowed: bool,
) -> None:
    user = await new_user(http, auth, role)
    pair = await login(http, user["name"])
    body = None
    if method == "POST" and path == "/api/v1/monitors":
        body = definition(gateway_url, new_id("role"))
    elif method == "POST":
        body = {}

    answer = await http.request(
        method, path, json=body, headers=bearer(pair["access_token"])
    )
    if answer.status_code == 201 and path == "/api/v1/monitors":
        await http.delete(f"/api/v1/monitors/{body and body['id']}", headers=auth)

    if allowed:
        assert answer.status_code < 300, answer.text
    else:
        assert answer.status_code == 403
        assert "needs the scope" in answer.json()["error"]["message"]


async def test_an_admin_cannot_grant_admin_or_make_owners(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    admin = await new_user(http, auth, "admin")
    pair = await login(http, admin["name"])
    as_admin = bearer(pair["access_token"])
    viewer = await new_user(http, auth, "viewer")

    made_admin = await http.post(
        "/api/v1/users",
        json={"name": new_id("x"), "password": PASSWORD, "role": "admin"},
        headers=as_admin,
    )
    promoted = await http.patch(
        f"/api/v1/users/{viewer['id']}", json={"role": "owner"}, headers=as_admin
    )
    demoted_owner = await http.patch(
        f"/api/v1/users/{(await me(http, auth))['id']}",
        json={"role": "viewer"},
        headers=as_admin,
    )
    made_editor = await http.patch(
        f"/api/v1/users/{viewer['id']}", json={"role": "editor"}, headers=as_admin
    )

    assert made_admin.status_code == 403
    assert promoted.status_code == 403
    assert demoted_owner.status_code == 403
    assert made_editor.status_code == 200
    assert made_editor.json()["role"] == "editor"


async def me(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = (await http.get("/api/v1/auth/me", headers=headers)).json()[
        "user"
    ]
    return found


async def test_the_last_owner_cannot_be_demoted_or_deleted(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    owner = await me(http, auth)

    demoted = await http.patch(
        f"/api/v1/users/{owner['id']}", json={"role": "admin"}, headers=auth
    )
    deleted = await http.delete(f"/api/v1/users/{owner['id']}", headers=auth)

    assert demoted.status_code == 409
    assert deleted.status_code == 409
    assert "last owner" in deleted.json()["error"]["message"]


async def test_an_api_key_is_shown_once_and_acts_only_within_its_scopes(
    http: httpx.AsyncClient, auth: dict[str, str], gateway_url: str
) -> None:
    made = await http.post(
        "/api/v1/keys",
        json={"name": "dashboards", "scopes": ["monitors:read"], "expires_in_days": 1},
        headers=auth,
    )
    key = made.json()
    reading = bearer(key["key"])

    listed = await http.get("/api/v1/monitors", headers=reading)
    writing = await http.post(
        "/api/v1/monitors",
        json=definition(gateway_url, new_id("denied")),
        headers=reading,
    )
    minting = await http.post(
        "/api/v1/keys",
        json={"name": "stronger", "scopes": ["admin"]},
        headers=reading,
    )
    keys = await http.get("/api/v1/keys", headers=auth)
    shown = [k for k in keys.json()["keys"] if k["id"] == key["id"]]

    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    assert key["key"].startswith("upk_")
    assert listed.status_code == 200
    assert writing.status_code == 403
    assert "monitors:write" in writing.json()["error"]["message"]
    assert minting.status_code == 403
    assert shown
    assert "key" not in shown[0]
    assert key["key"] not in keys.text
    assert shown[0]["scopes"] == ["monitors:read"]


async def test_a_revoked_key_stops_working_and_its_last_use_is_kept(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    key = (
        await http.post(
            "/api/v1/keys",
            json={"name": "ci", "scopes": ["monitors:read"]},
            headers=auth,
        )
    ).json()
    used = await http.get("/api/v1/status", headers=bearer(key["key"]))

    async def last_use() -> float | None:
        keys = (await http.get("/api/v1/keys", headers=auth)).json()["keys"]
        value: float | None = next(k for k in keys if k["id"] == key["id"])[
            "last_used_at"
        ]
        return value

    seen = await eventually(last_use, within=WAIT)
    revoked = await http.delete(f"/api/v1/keys/{key['id']}", headers=auth)
    after = await http.get("/api/v1/status", headers=bearer(key["key"]))
    listed = (await http.get("/api/v1/keys", headers=auth)).json()["keys"]

    assert used.status_code == 200
    assert seen is not None
    assert revoked.status_code == 204
    assert after.status_code == 401
    assert key["id"] not in [k["id"] for k in listed]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "k", "scopes": ["monitors:fly"]}, ["scopes[0]"]),
        ({"name": "k", "scopes": []}, ["scopes"]),
        ({"name": "k", "scopes": ["admin"], "expires_at": 1.0}, ["expires_at"]),
        ({"name": "k", "scopes": ["admin"], "colour": "red"}, ["colour"]),
        ({"scopes": "admin"}, ["name", "scopes"]),
    ],
    ids=["unknown scope", "no scopes", "past expiry", "unknown field", "shapes"],
)
async def test_a_bad_key_request_names_every_bad_field(
    http: httpx.AsyncClient,
    auth: dict[str, str],
    body: dict[str, Any],
    fields: list[str],
) -> None:
    answer = await http.post("/api/v1/keys", json=body, headers=auth)

    assert answer.status_code == 422
    assert sorted(f["field"] for f in answer.json()["error"]["fields"]) == fields


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short1!", "at least 12 characters"),
        ("P@ssw0rd2024!!", "too common"),
        ("1qaz2wsx3edc4rfv", "keyboard row"),
        ("aaaaaaaaaaaaaaaa", "different characters"),
    ],
)
async def test_a_weak_password_is_refused_with_the_reason(
    http: httpx.AsyncClient, auth: dict[str, str], password: str, problem: str
) -> None:
    answer = await http.post(
        "/api/v1/users",
        json={"name": new_id("weak"), "password": password},
        headers=auth,
    )

    assert answer.status_code == 422
    [field] = answer.json()["error"]["fields"]
    assert field["field"] == "password"
    assert problem in field["problem"]


async def test_a_recent_password_cannot_be_chosen_again(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    user = await new_user(http, auth, "viewer")
    pair = await login(http, user["name"])
    headers = bearer(pair["access_token"])
    second = "copper-violet-summit-73"

    changed = await http.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": second},
        headers=headers,
    )
    back = await http.post(
        "/api/v1/auth/password",
        json={"current_password": second, "new_password": PASSWORD},
        headers=headers,
    )

    assert changed.status_code == 204
    assert back.status_code == 422
    assert "last 5 passwords" in back.json()["error"]["fields"][0]["problem"]


async def test_the_activity_log_says_who_changed_what(
    http: httpx.AsyncClient, auth: dict[str, str], gateway_url: str
) -> None:
    editor = await new_user(http, auth, "editor")
    pair = await login(http, editor["name"])
    monitor_id = new_id("logged")
    await http.post(
        "/api/v1/monitors",
        json=definition(gateway_url, monitor_id),
        headers=bearer(pair["access_token"]),
    )
    await http.delete(f"/api/v1/monitors/{monitor_id}", headers=auth)

    answer = await http.get(
        "/api/v1/activity", params={"actor": editor["id"]}, headers=auth
    )
    monitors = await http.get(
        "/api/v1/activity", params={"action": "monitor.", "limit": 50}, headers=auth
    )

    actions = [(e["action"], e["target"]) for e in answer.json()["activity"]]
    assert ("monitor.create", monitor_id) in actions
    assert ("login", editor["name"]) in actions
    changes = [(e["action"], e["target"]) for e in monitors.json()["activity"]]
    assert ("monitor.delete", monitor_id) in changes


async def test_live_updates_refuse_a_client_without_credentials(
    gateway_url: str,
) -> None:
    client = socketio.AsyncClient(reconnection=False)
    refusals: list[Any] = []

    async def refused(data: Any) -> None:
        refusals.append(data)

    client.on("connect_error", refused)

    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(gateway_url, transports=["websocket"], wait_timeout=WAIT)

    assert "token" in refusals[0]["message"]


def test_every_api_route_declares_who_may_call_it(platform: RayPlatform) -> None:
    app = create_app(platform, name=new_id("upcast-routes"))
    try:
        undeclared = [
            route.path
            for route in app.router.routes
            if route.path.startswith("api/")
            and getattr(route.handler, "__upcast_scope__", None) is None
        ]
    finally:
        app.__class__.unregister_app(app)

    assert undeclared == []
    assert set(SCOPES) >= {"monitors:read", "monitors:write", "alerts:ack", "admin"}


async def test_logins_beyond_the_auth_limit_are_refused_with_retry_after(
    platform: RayPlatform,
) -> None:
    tight = ProtectionSettings(limits={**DEFAULT_LIMITS, "auth": Limit(3, 60, 3)})
    running = await start_gateway(
        create_app(platform, name=new_id("upcast-limited"), protection=tight)
    )
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=WAIT) as client:
            answers = [
                await client.post(
                    "/api/v1/auth/login",
                    json={"name": "nobody", "password": "whatever-it-is-99"},
                )
                for _ in range(4)
            ]
            probe = await client.get("/healthz")
    finally:
        await running.stop()

    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert int(answers[3].headers["retry-after"]) >= 1
    assert "auth" in answers[3].json()["error"]["message"]
    assert probe.status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/monitors", "/api/v1/nothing"])
async def test_every_answer_carries_the_security_headers(
    http: httpx.AsyncClient, path: str
) -> None:
    answer = await http.get(path)

    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["strict-transport-security"].startswith("max-age=")
    assert answer.headers["referrer-policy"]
