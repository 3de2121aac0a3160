"""The accounts part of the REST API: signing in, sessions, users, keys, activity.

Under ``/api/v1``:

- ``/auth/login``, ``/auth/refresh`` (no credentials needed),
  ``/auth/logout``, ``/auth/me``, ``/auth/me/preferences``,
  ``/auth/password`` and ``/auth/sessions`` for the caller's own account;
- ``/users`` and each user's ``/sessions``; ``/keys`` (the caller's, or
  another user's with ``?user=``); ``/activity``, the log of who did what;
  all under the rules of ``web.accounts``.

An API key may read ``/auth/me``; managing accounts with a key takes the
``admin`` scope, so a leaked read-only key cannot mint itself a stronger one.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Final

import orjson
import pydantic
from sanic import Blueprint, HTTPResponse, Request
from sanic.response import empty, json

from engine.errors import FieldError, ValidationError
from store.accounts import MAX_NAME
from web import schemas
from web.access import SIGNED_IN, Principal, public, requires
from web.accounts import Accounts, Client
from web.bodies import Body, read_body
from web.errors import BadRequest, Forbidden, Unauthorized
from web.openapi import CURSOR, LIMIT, Operation, Param, documented, page_of
from web.paging import cursor_of, encode_cursor, page_in_memory
from web.params import Query

PREFIX: Final = "/api/v1"

AUTH: Final = "sign-in"
USERS: Final = "users"
KEYS: Final = "keys"

ACTIVITY_PAGE: Final = {
    "type": "object",
    "required": ["activity", "next_cursor"],
    "properties": {
        "activity": {"type": "array", "items": schemas.Activity},
        "next_cursor": {"type": ["string", "null"]},
        "next_before": {"type": ["integer", "null"]},
    },
}

Name = Annotated[str, pydantic.StringConstraints(min_length=1, max_length=MAX_NAME)]
Secret = Annotated[str, pydantic.StringConstraints(min_length=1, max_length=1024)]


class LoginBody(Body):
    name: Name
    password: Secret


class RefreshBody(Body):
    refresh_token: Secret


class PasswordBody(Body):
    current_password: Secret
    new_password: Secret


class NewUserBody(Body):
    name: Annotated[
        str,
        pydantic.StringConstraints(
            min_length=1, max_length=MAX_NAME, pattern=r"^[A-Za-z0-9._@-]+$"
        ),
    ]
    password: Secret
    role: str = "viewer"
    teams: Annotated[list[Name], pydantic.Field(max_length=50, default_factory=list)]


class UserChangesBody(Body):
    name: (
        Annotated[
            str,
            pydantic.StringConstraints(
                min_length=1, max_length=MAX_NAME, pattern=r"^[A-Za-z0-9._@-]+$"
            ),
        ]
        | None
    ) = None
    password: Secret | None = None
    role: str | None = None
    teams: Annotated[list[Name], pydantic.Field(max_length=50)] | None = None
    disabled: bool | None = None


class NewKeyBody(Body):
    name: Name
    scopes: Annotated[list[str], pydantic.Field(max_length=20)]
    expires_at: float | None = None
    expires_in_days: Annotated[float, pydantic.Field(gt=0, le=3650)] | None = None
    user_id: Name | None = None


class PreferencesBody(Body):
    preferences: dict[str, Any]


MAX_PREFERENCES: Final = 16 * 1024
"""The most bytes a user's preferences take as JSON."""

PREFERENCES_TEXT: Final = (
    "Whatever a dashboard keeps for its user (widget layout, theme, accent), "
    "as one JSON object of at most 16 KiB; an empty object until some are "
    "saved. A session keeps its user's; an API key reads and replaces those "
    "of the user it belongs to. A PUT replaces the whole object."
)


def client_of(request: Request) -> Client:
    """Where a request came from: its address and user agent."""
    address = request.remote_addr or request.ip or ""
    return Client(address=address, user_agent=request.headers.get("user-agent", ""))


def principal_of(request: Request) -> Principal:
    """The authenticated caller (the gateway refuses a signed-in route without)."""
    principal = getattr(request.ctx, "principal", None)
    if not isinstance(principal, Principal):
        raise Unauthorized("sign in, or send an API key")
    return principal


def manager_of(request: Request) -> Principal:
    """The caller, when it may manage accounts: a person, or a key with admin."""
    principal = principal_of(request)
    if principal.key_id is not None and not principal.allows("admin"):
        raise Forbidden("managing accounts with an API key needs the admin scope")
    return principal


def _sessions_page(found: list[dict[str, Any]], query: Query) -> dict[str, Any]:
    sessions, following = page_in_memory(
        found,
        lambda session: (-session["last_seen_at"], session["id"]),
        after=cursor_of(query),
        limit=query.limit(),
    )
    return {"sessions": sessions, "next_cursor": following}


def accounts_blueprint(accounts: Accounts) -> Blueprint:
    """The accounts routes, each asking ``accounts``."""
    api = Blueprint("api_v1_accounts", url_prefix=PREFIX)

    @api.post("/auth/login")
    @public
    @documented(
        Operation(
            "Sign in with a name and password",
            AUTH,
            {200: schemas.TokenPair},
            body=LoginBody,
        )
    )
    async def login(request: Request) -> HTTPResponse:
        Query(request, ())
        body = read_body(request, LoginBody)
        pair = await accounts.login(body.name, body.password, client_of(request))
        return json(pair.public())

    @api.post("/auth/refresh")
    @public
    @documented(
        Operation(
            "Trade the latest refresh token for a new pair",
            AUTH,
            {200: schemas.TokenPair},
            body=RefreshBody,
            description="A refresh token used a second time revokes its whole session.",
        )
    )
    async def refresh(request: Request) -> HTTPResponse:
        Query(request, ())
        body = read_body(request, RefreshBody)
        pair = await accounts.refresh(body.refresh_token, client_of(request))
        return json(pair.public())

    @api.post("/auth/logout")
    @requires(SIGNED_IN)
    @documented(Operation("Sign out: end the caller's session", AUTH, {204: None}))
    async def logout(request: Request) -> HTTPResponse:
        Query(request, ())
        await accounts.logout(principal_of(request), client_of(request))
        return empty()

    @api.get("/auth/me")
    @requires(SIGNED_IN)
    @documented(
        Operation("Who the caller is, and what it may do", AUTH, {200: schemas.Me})
    )
    async def me(request: Request) -> HTTPResponse:
        Query(request, ())
        principal = principal_of(request)
        user = await accounts.user(principal, principal.user_id)
        return json(
            {
                "user": user.public(),
                "scopes": sorted(principal.scopes),
                "via": principal.via,
                "session_id": principal.session_id,
            }
        )

    @api.get("/auth/me/preferences")
    @requires(SIGNED_IN)
    @documented(
        Operation(
            "The caller's saved preferences",
            AUTH,
            {200: schemas.Preferences},
            description=PREFERENCES_TEXT,
        )
    )
    async def own_preferences(request: Request) -> HTTPResponse:
        Query(request, ())
        found = await accounts.preferences(principal_of(request))
        return json({"preferences": found})

    @api.put("/auth/me/preferences")
    @requires(SIGNED_IN)
    @documented(
        Operation(
            "Replace the caller's saved preferences",
            AUTH,
            {200: schemas.Preferences},
            body=PreferencesBody,
            errors=(422,),
            description=PREFERENCES_TEXT,
        )
    )
    async def replace_own_preferences(request: Request) -> HTTPResponse:
        Query(request, ())
        body = read_body(request, PreferencesBody)
        try:
            size = len(orjson.dumps(body.preferences))
        except orjson.JSONEncodeError as exc:
            # Whole numbers beyond 64 bits, or text with lone surrogates.
            raise ValidationError(
                [FieldError("preferences", f"cannot be kept as JSON: {exc}")]
            ) from None
        if size > MAX_PREFERENCES:
            raise ValidationError(
                [
                    FieldError(
                        "preferences",
                        f"must be at most {MAX_PREFERENCES // 1024} KiB as JSON, "
                        f"got {size:,} bytes",
                    )
                ]
            )
        await accounts.save_preferences(principal_of(request), body.preferences)
        return json({"preferences": body.preferences})

    @api.post("/auth/password")
    @requires(SIGNED_IN)
    @documented(
        Operation(
            "Change the caller's password",
            AUTH,
            {204: None},
            body=PasswordBody,
            errors=(422,),
            description="Every other session of the account ends.",
        )
    )
    async def change_password(request: Request) -> HTTPResponse:
        Query(request, ())
        principal = manager_of(request)
        body = read_body(request, PasswordBody)
        await accounts.change_password(
            principal, body.current_password, body.new_password, client_of(request)
        )
        return empty()

    @api.get("/auth/sessions")
    @requires(SIGNED_IN)
    @documented(
        Operation(
            "The caller's active sessions",
            AUTH,
            {200: page_of("sessions", schemas.Session)},
            params=(LIMIT, CURSOR),
        )
    )
    async def own_sessions(request: Request) -> HTTPResponse:
        query = Query(request, ("limit", "cursor"))
        principal = principal_of(request)
        found = await accounts.sessions(principal, principal.user_id)
        return json(_sessions_page(found, query))

    @api.delete("/auth/sessions/<session_id:str>")
    @requires(SIGNED_IN)
    @documented(
        Operation("End one of the caller's sessions", AUTH, {204: None}, errors=(404,))
    )
    async def revoke_own_session(request: Request, session_id: str) -> HTTPResponse:
        Query(request, ())
        await accounts.revoke_session(
            manager_of(request), session_id, client_of(request), "revoked"
        )
        return empty()

    @api.get("/users")
    @requires("admin")
    @documented(
        Operation(
            "Every account",
            USERS,
            {200: page_of("users", schemas.User)},
            params=(LIMIT, CURSOR),
        )
    )
    async def list_users(request: Request) -> HTTPResponse:
        query = Query(request, ("limit", "cursor"))
        found = await accounts.users(principal_of(request))
        users, following = page_in_memory(
            [user.public() for user in found],
            lambda user: (user["name"], user["id"]),
            after=cursor_of(query),
            limit=query.limit(),
        )
        return json({"users": users, "next_cursor": following})

    @api.post("/users")
    @requires("admin")
    @documented(
        Operation(
            "Make an account",
            USERS,
            {201: schemas.User},
            body=NewUserBody,
            errors=(409, 422),
        )
    )
    async def create_user(request: Request) -> HTTPResponse:
        Query(request, ())
        body = read_body(request, NewUserBody)
        user = await accounts.create_user(
            manager_of(request),
            body.name,
            body.password,
            body.role,
            body.teams,
            client_of(request),
        )
        return json(
            user.public(),
            status=201,
            headers={"Location": f"{PREFIX}/users/{user.id}"},
        )

    @api.get("/users/<user_id:str>")
    @requires(SIGNED_IN)
    @documented(Operation("Read an account", USERS, {200: schemas.User}, errors=(404,)))
    async def get_user(request: Request, user_id: str) -> HTTPResponse:
        Query(request, ())
        user = await accounts.user(principal_of(request), user_id)
        return json(user.public())

    @api.patch("/users/<user_id:str>")
    @requires(SIGNED_IN)
    @documented(
        Operation(
            "Change an account",
            USERS,
            {200: schemas.User},
            body=UserChangesBody,
            errors=(404, 409, 422),
        )
    )
    async def update_user(request: Request, user_id: str) -> HTTPResponse:
        Query(request, ())
        body = read_body(request, UserChangesBody)
        changes: dict[str, Any] = body.model_dump(exclude_unset=True)
        user = await accounts.update_user(
            manager_of(request), user_id, changes, client_of(request)
        )
        return json(user.public())

    @api.delete("/users/<user_id:str>")
    @requires("admin")
    @documented(
        Operation(
            "Delete an account with its sessions and keys",
            USERS,
            {204: None},
            errors=(404, 409),
        )
    )
    async def delete_user(request: Request, user_id: str) -> HTTPResponse:
        Query(request, ())
        await accounts.delete_user(manager_of(request), user_id, client_of(request))
        return empty()

    @api.get("/users/<user_id:str>/sessions")
    @requires(SIGNED_IN)
    @documented(
        Operation(
            "An account's active sessions",
            USERS,
            {200: page_of("sessions", schemas.Session)},
            params=(LIMIT, CURSOR),
            errors=(404,),
        )
    )
    async def user_sessions(request: Request, user_id: str) -> HTTPResponse:
        query = Query(request, ("limit", "cursor"))
        found = await accounts.sessions(principal_of(request), user_id)
        return json(_sessions_page(found, query))

    @api.delete("/users/<user_id:str>/sessions")
    @requires(SIGNED_IN)
    @documented(
        Operation(
            "End every session of an account",
            USERS,
            {200: schemas.Revoked},
            errors=(404,),
        )
    )
    async def revoke_user_sessions(request: Request, user_id: str) -> HTTPResponse:
        Query(request, ())
        count = await accounts.revoke_all_sessions(
            manager_of(request), user_id, client_of(request)
        )
        return json({"revoked": count})

    @api.get("/keys")
    @requires(SIGNED_IN)
    @documented(
        Operation(
            "API keys: the caller's, one account's, or everyone's (user=*)",
            KEYS,
            {200: page_of("keys", schemas.ApiKey)},
            params=(
                Param(
                    "user",
                    {"type": "string"},
                    "an account id, or * for every account (admin)",
                ),
                LIMIT,
                CURSOR,
            ),
            errors=(404,),
        )
    )
    async def list_keys(request: Request) -> HTTPResponse:
        query = Query(request, ("user", "limit", "cursor"))
        found = await accounts.keys(principal_of(request), query.text("user"))
        keys, following = page_in_memory(
            [key.public() for key in found],
            lambda key: (-key["created_at"], key["id"]),
            after=cursor_of(query),
            limit=query.limit(),
        )
        return json({"keys": keys, "next_cursor": following})

    @api.post("/keys")
    @requires(SIGNED_IN)
    @documented(
        Operation(
            "Make an API key; its text is shown this once",
            KEYS,
            {201: schemas.NewApiKey},
            body=NewKeyBody,
            errors=(404, 422),
        )
    )
    async def create_key(request: Request) -> HTTPResponse:
        Query(request, ())
        body = read_body(request, NewKeyBody)
        expires_at = body.expires_at
        if body.expires_in_days is not None:
            expires_at = time.time() + body.expires_in_days * 86_400.0
        key, text = await accounts.create_key(
            manager_of(request),
            body.name,
            body.scopes,
            expires_at,
            client_of(request),
            user_id=body.user_id,
        )
        return json(
            {**key.public(), "key": text},
            status=201,
            headers={
                "Location": f"{PREFIX}/keys/{key.id}",
                "Cache-Control": "no-store",
            },
        )

    @api.delete("/keys/<key_id:str>")
    @requires(SIGNED_IN)
    @documented(Operation("Revoke an API key", KEYS, {204: None}, errors=(404,)))
    async def revoke_key(request: Request, key_id: str) -> HTTPResponse:
        Query(request, ())
        await accounts.revoke_key(manager_of(request), key_id, client_of(request))
        return empty()

    @api.get("/activity")
    @requires("admin")
    @documented(
        Operation(
            "Who did what, newest first",
            USERS,
            {200: ACTIVITY_PAGE},
            params=(
                Param("actor", {"type": "string"}, "only this account's doings"),
                Param(
                    "action",
                    {"type": "string"},
                    "one action, or a family ending in a dot (monitor.)",
                ),
                Param("before", {"type": "integer"}, "only entries older than this id"),
                LIMIT,
                CURSOR,
            ),
        )
    )
    async def activity(request: Request) -> HTTPResponse:
        query = Query(request, ("before", "actor", "action", "limit", "cursor"))
        before_text = query.text("before")
        cursor = cursor_of(query)
        if cursor is not None:
            before_text = str(cursor[0])
        before = None
        if before_text is not None:
            if not before_text.isdigit():
                raise BadRequest.parameter(
                    "before", f"must be an activity id, got {before_text!r}"
                )
            before = int(before_text)
        found = await accounts.activity(
            before=before,
            actor=query.text("actor"),
            action=query.text("action"),
            limit=query.limit(),
        )
        entries = [entry.public() for entry in found]
        following = entries[-1]["id"] if len(entries) == query.limit() else None
        return json(
            {
                "activity": entries,
                "next_cursor": None
                if following is None
                else encode_cursor([following]),
                "next_before": following,
            }
        )

    return api
