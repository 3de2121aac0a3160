"""Accounts kept in the platform's store, reached through the Storage actor.

``StorageAccounts`` is the ``web.accounts.AccountBackend`` of a gateway in
front of a running platform: each method is the store's method of the same
name, run by the Storage actor, which is the one process that writes the
store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.calls import actor_call
from store.accounts import Activity, ApiKey, Session, User


class StorageAccounts:
    """The store's account methods, called in the Storage actor."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await actor_call(self._storage.accounts.remote(method, args, kwargs))

    async def create_user(self, user: User) -> bool:
        made: bool = await self._call("create_user", user)
        return made

    async def update_user(self, user: User) -> bool:
        updated: bool = await self._call("update_user", user)
        return updated

    async def get_user(self, user_id: str) -> User | None:
        found: User | None = await self._call("get_user", user_id)
        return found

    async def user_named(self, name: str) -> User | None:
        found: User | None = await self._call("user_named", name)
        return found

    async def users(self) -> list[User]:
        found: list[User] = await self._call("users")
        return found

    async def delete_user(self, user_id: str) -> bool:
        deleted: bool = await self._call("delete_user", user_id)
        return deleted

    async def create_session(self, session: Session) -> None:
        await self._call("create_session", session)

    async def get_session(self, session_id: str) -> Session | None:
        found: Session | None = await self._call("get_session", session_id)
        return found

    async def rotate_session(
        self,
        session_id: str,
        *,
        generation: int,
        token_hash: str,
        new_token_hash: str,
        now: float,
        expires_at: float,
        user_agent: str,
        address: str,
    ) -> bool:
        rotated: bool = await self._call(
            "rotate_session",
            session_id,
            generation=generation,
            token_hash=token_hash,
            new_token_hash=new_token_hash,
            now=now,
            expires_at=expires_at,
            user_agent=user_agent,
            address=address,
        )
        return rotated

    async def revoke_sessions(
        self,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        reason: str,
        now: float,
    ) -> int:
        count: int = await self._call(
            "revoke_sessions",
            session_id=session_id,
            user_id=user_id,
            reason=reason,
            now=now,
        )
        return count

    async def sessions(self, user_id: str, *, now: float) -> list[Session]:
        found: list[Session] = await self._call("sessions", user_id, now=now)
        return found

    async def touch_sessions(self, seen: list[tuple[str, float, str]]) -> None:
        await self._call("touch_sessions", seen)

    async def create_api_key(self, key: ApiKey) -> None:
        await self._call("create_api_key", key)

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        found: ApiKey | None = await self._call("get_api_key", key_id)
        return found

    async def api_keys(self, user_id: str | None = None) -> list[ApiKey]:
        found: list[ApiKey] = await self._call("api_keys", user_id)
        return found

    async def revoke_api_key(self, key_id: str, *, now: float) -> bool:
        revoked: bool = await self._call("revoke_api_key", key_id, now=now)
        return revoked

    async def touch_api_keys(self, used: list[tuple[str, float]]) -> None:
        await self._call("touch_api_keys", used)

    async def add_activity(self, entries: list[Activity]) -> None:
        await self._call("add_activity", entries)

    async def activity(
        self,
        *,
        before: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> list[Activity]:
        found: list[Activity] = await self._call(
            "activity", before=before, actor=actor, action=action, limit=limit
        )
        return found

    async def gateway_secret(self, name: str, candidate: str, *, at: float) -> str:
        kept: str = await self._call("gateway_secret", name, candidate, at=at)
        return kept

    async def preferences(self, user_id: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = await self._call("preferences", user_id)
        return found

    async def put_preferences(
        self, user_id: str, preferences: Mapping[str, Any], *, at: float
    ) -> None:
        await self._call("put_preferences", user_id, dict(preferences), at=at)

    async def forget_preferences(self, user_id: str) -> bool:
        forgotten: bool = await self._call("forget_preferences", user_id)
        return forgotten
