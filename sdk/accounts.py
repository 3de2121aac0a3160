"""The account calls of both clients: signing in, sessions, users, keys, activity.

``login`` makes the client use a session's tokens from then on (renewed
by themselves, see ``sdk.credentials``); ``logout`` ends the session and
goes back to the API key, if the client has one. Managing users, other
people's sessions and keys, and reading the activity log need the
``admin`` scope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from sdk.calls import (
    DEFAULT_PAGE,
    AsyncSender,
    Call,
    Item,
    Listing,
    Sender,
    api_path,
    query,
)
from sdk.credentials import Credentials, refresh_call
from sdk.errors import Unauthorized

LOGOUT = Call("POST", api_path("auth", "logout"))
ME = Call("GET", api_path("auth", "me"))
PREFERENCES = Call("GET", api_path("auth", "me", "preferences"))


def login_call(name: str, password: str) -> Call:
    body = {"name": name, "password": password}
    return Call("POST", api_path("auth", "login"), body=body, authenticated=False)


def renewal_of(credentials: Credentials) -> Call:
    if credentials.refresh_token is None:
        raise Unauthorized("there is no session to renew: sign in with login first")
    return refresh_call(credentials.refresh_token)


def signed_in(credentials: Credentials, document: Any) -> Item:
    """Keep the tokens of a login or refresh answer; the user it is for."""
    credentials.signed_in(document)
    user: Item = document["user"]
    return user


def preferences_call(preferences: Mapping[str, Any]) -> Call:
    body = {"preferences": dict(preferences)}
    return Call("PUT", api_path("auth", "me", "preferences"), body=body)


def _preferences(document: Any) -> Item:
    found: Item = document["preferences"]
    return found


def password_call(current_password: str, new_password: str) -> Call:
    body = {"current_password": current_password, "new_password": new_password}
    return Call("POST", api_path("auth", "password"), body=body)


def sessions_listing(user_id: str | None, page_size: int) -> Listing:
    path = (
        api_path("auth", "sessions")
        if user_id is None
        else api_path("users", user_id, "sessions")
    )
    return Listing(path, "sessions", page_size=page_size)


def users_listing(page_size: int) -> Listing:
    return Listing(api_path("users"), "users", page_size=page_size)


def new_user_call(name: str, password: str, role: str, teams: Sequence[str]) -> Call:
    body = {"name": name, "password": password, "role": role, "teams": list(teams)}
    return Call("POST", api_path("users"), body=body)


def user_changes_call(
    user_id: str,
    name: str | None,
    password: str | None,
    role: str | None,
    teams: Sequence[str] | None,
    disabled: bool | None,
) -> Call:
    changes: dict[str, Any] = {
        key: value
        for key, value in (
            ("name", name),
            ("password", password),
            ("role", role),
            ("teams", None if teams is None else list(teams)),
            ("disabled", disabled),
        )
        if value is not None
    }
    return Call("PATCH", api_path("users", user_id), body=changes)


def _revoked(document: Any) -> int:
    return int(document["revoked"])


def keys_listing(user: str | None, page_size: int) -> Listing:
    return Listing(api_path("keys"), "keys", query(user=user), page_size=page_size)


def new_key_call(
    name: str,
    scopes: Sequence[str],
    expires_at: float | None,
    expires_in_days: float | None,
    user_id: str | None,
) -> Call:
    body: dict[str, Any] = {"name": name, "scopes": list(scopes)}
    for key, value in (
        ("expires_at", expires_at),
        ("expires_in_days", expires_in_days),
        ("user_id", user_id),
    ):
        if value is not None:
            body[key] = value
    return Call("POST", api_path("keys"), body=body)


def activity_listing(
    actor: str | None,
    action: str | None,
    before: int | None,
    limit: int | None,
    page_size: int,
) -> Listing:
    params = query(actor=actor, action=action, before=before)
    return Listing(api_path("activity"), "activity", params, limit, page_size)


class AsyncAccounts(AsyncSender):
    """Signing in, sessions, users, API keys and activity, for ``AsyncClient``."""

    _credentials: Credentials

    async def login(self, name: str, password: str) -> Item:
        """Sign in; the session's tokens are used and renewed from now on."""
        document = await self._send(login_call(name, password))
        return signed_in(self._credentials, document)

    async def refresh(self) -> Item:
        """Renew the session's tokens now (the client also does it when needed)."""
        document = await self._send(renewal_of(self._credentials))
        return signed_in(self._credentials, document)

    async def logout(self) -> None:
        """End the signed-in session."""
        await self._send(LOGOUT)
        self._credentials.signed_out()

    async def me(self) -> Item:
        """Who the caller is (``user``), its ``scopes``, and ``via`` what."""
        return await self._object(ME)

    async def preferences(self) -> Item:
        """The caller's saved preferences (a key's: its user's); ``{}`` if none."""
        return _preferences(await self._send(PREFERENCES))

    async def put_preferences(self, preferences: Mapping[str, Any]) -> Item:
        """Replace the caller's saved preferences: any object of up to 16 KiB."""
        return _preferences(await self._send(preferences_call(preferences)))

    async def change_password(self, current_password: str, new_password: str) -> None:
        """Change the caller's password; the account's other sessions end."""
        await self._send(password_call(current_password, new_password))

    async def sessions(self) -> list[Item]:
        """The caller's active sessions, the most recently used first."""
        return await self._every(sessions_listing(None, self._page_size))

    def iter_sessions(self, *, page_size: int = DEFAULT_PAGE) -> AsyncIterator[Item]:
        return self._items(sessions_listing(None, page_size))

    async def revoke_session(self, session_id: str) -> None:
        """End one of the caller's sessions."""
        await self._send(Call("DELETE", api_path("auth", "sessions", session_id)))

    async def users(self) -> list[Item]:
        """Every account, by name."""
        return await self._every(users_listing(self._page_size))

    def iter_users(self, *, page_size: int = DEFAULT_PAGE) -> AsyncIterator[Item]:
        return self._items(users_listing(page_size))

    async def create_user(
        self,
        name: str,
        password: str,
        *,
        role: str = "viewer",
        teams: Sequence[str] = (),
    ) -> Item:
        """Make an account: ``viewer``, ``editor``, ``admin`` or ``owner``."""
        return await self._object(new_user_call(name, password, role, teams))

    async def get_user(self, user_id: str) -> Item:
        return await self._object(Call("GET", api_path("users", user_id)))

    async def update_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        password: str | None = None,
        role: str | None = None,
        teams: Sequence[str] | None = None,
        disabled: bool | None = None,
    ) -> Item:
        """Change an account; what is left as None stays as it is."""
        return await self._object(
            user_changes_call(user_id, name, password, role, teams, disabled)
        )

    async def delete_user(self, user_id: str) -> None:
        """Delete an account with its sessions and keys."""
        await self._send(Call("DELETE", api_path("users", user_id)))

    async def user_sessions(self, user_id: str) -> list[Item]:
        """An account's active sessions."""
        return await self._every(sessions_listing(user_id, self._page_size))

    def iter_user_sessions(
        self, user_id: str, *, page_size: int = DEFAULT_PAGE
    ) -> AsyncIterator[Item]:
        return self._items(sessions_listing(user_id, page_size))

    async def revoke_user_sessions(self, user_id: str) -> int:
        """End every session of an account; how many there were."""
        call = Call("DELETE", api_path("users", user_id, "sessions"))
        return _revoked(await self._send(call))

    async def keys(self, *, user: str | None = None) -> list[Item]:
        """API keys: the caller's, an account's (``user``), or everyone's (``*``)."""
        return await self._every(keys_listing(user, self._page_size))

    def iter_keys(
        self, *, user: str | None = None, page_size: int = DEFAULT_PAGE
    ) -> AsyncIterator[Item]:
        return self._items(keys_listing(user, page_size))

    async def create_key(
        self,
        name: str,
        scopes: Sequence[str],
        *,
        expires_at: float | None = None,
        expires_in_days: float | None = None,
        user_id: str | None = None,
    ) -> Item:
        """Make an API key; the answer's ``key`` is its text, shown this once."""
        return await self._object(
            new_key_call(name, scopes, expires_at, expires_in_days, user_id)
        )

    async def revoke_key(self, key_id: str) -> None:
        await self._send(Call("DELETE", api_path("keys", key_id)))

    async def activity(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        before: int | None = None,
        limit: int | None = 100,
    ) -> list[Item]:
        """Who did what, newest first, at most ``limit`` entries.

        ``action`` is one action (``monitor.create``) or a family ending in
        a dot (``monitor.``); ``before`` an entry id to start below.
        """
        listing = activity_listing(actor, action, before, limit, self._page_size)
        return await self._every(listing)

    def iter_activity(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        before: int | None = None,
        page_size: int = DEFAULT_PAGE,
    ) -> AsyncIterator[Item]:
        return self._items(activity_listing(actor, action, before, None, page_size))


class Accounts(Sender):
    """The same calls as ``AsyncAccounts``, for the blocking ``Client``."""

    _credentials: Credentials

    def login(self, name: str, password: str) -> Item:
        return signed_in(self._credentials, self._send(login_call(name, password)))

    def refresh(self) -> Item:
        document = self._send(renewal_of(self._credentials))
        return signed_in(self._credentials, document)

    def logout(self) -> None:
        self._send(LOGOUT)
        self._credentials.signed_out()

    def me(self) -> Item:
        return self._object(ME)

    def preferences(self) -> Item:
        return _preferences(self._send(PREFERENCES))

    def put_preferences(self, preferences: Mapping[str, Any]) -> Item:
        return _preferences(self._send(preferences_call(preferences)))

    def change_password(self, current_password: str, new_password: str) -> None:
        self._send(password_call(current_password, new_password))

    def sessions(self) -> list[Item]:
        return self._every(sessions_listing(None, self._page_size))

    def iter_sessions(self, *, page_size: int = DEFAULT_PAGE) -> Iterator[Item]:
        return self._items(sessions_listing(None, page_size))

    def revoke_session(self, session_id: str) -> None:
        self._send(Call("DELETE", api_path("auth", "sessions", session_id)))

    def users(self) -> list[Item]:
        return self._every(users_listing(self._page_size))

    def iter_users(self, *, page_size: int = DEFAULT_PAGE) -> Iterator[Item]:
        return self._items(users_listing(page_size))

    def create_user(
        self,
        name: str,
        password: str,
        *,
        role: str = "viewer",
        teams: Sequence[str] = (),
    ) -> Item:
        return self._object(new_user_call(name, password, role, teams))

    def get_user(self, user_id: str) -> Item:
        return self._object(Call("GET", api_path("users", user_id)))

    def update_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        password: str | None = None,
        role: str | None = None,
        teams: Sequence[str] | None = None,
        disabled: bool | None = None,
    ) -> Item:
        return self._object(
            user_changes_call(user_id, name, password, role, teams, disabled)
        )

    def delete_user(self, user_id: str) -> None:
        self._send(Call("DELETE", api_path("users", user_id)))

    def user_sessions(self, user_id: str) -> list[Item]:
        return self._every(sessions_listing(user_id, self._page_size))

    def iter_user_sessions(
        self, user_id: str, *, page_size: int = DEFAULT_PAGE
    ) -> Iterator[Item]:
        return self._items(sessions_listing(user_id, page_size))

    def revoke_user_sessions(self, user_id: str) -> int:
        call = Call("DELETE", api_path("users", user_id, "sessions"))
        return _revoked(self._send(call))

    def keys(self, *, user: str | None = None) -> list[Item]:
        return self._every(keys_listing(user, self._page_size))

    def iter_keys(
        self, *, user: str | None = None, page_size: int = DEFAULT_PAGE
    ) -> Iterator[Item]:
        return self._items(keys_listing(user, page_size))

    def create_key(
        self,
        name: str,
        scopes: Sequence[str],
        *,
        expires_at: float | None = None,
        expires_in_days: float | None = None,
        user_id: str | None = None,
    ) -> Item:
        return self._object(
            new_key_call(name, scopes, expires_at, expires_in_days, user_id)
        )

    def revoke_key(self, key_id: str) -> None:
        self._send(Call("DELETE", api_path("keys", key_id)))

    def activity(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        before: int | None = None,
        limit: int | None = 100,
    ) -> list[Item]:
        return self._every(
            activity_listing(actor, action, before, limit, self._page_size)
        )

    def iter_activity(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        before: int | None = None,
        page_size: int = DEFAULT_PAGE,
    ) -> Iterator[Item]:
        return self._items(activity_listing(actor, action, before, None, page_size))
