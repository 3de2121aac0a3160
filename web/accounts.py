"""Accounts as the gateway runs them: sign-in, sessions, keys, users, activity.

``Accounts`` turns the records of ``store.accounts`` into authentication:

- ``login`` checks a name and password and opens a session with a pair of
  tokens; ``refresh`` trades the session's latest refresh token for a new
  pair. A refresh token presented a second time means two parties hold it,
  so the whole session (every token descended from the same login) is
  revoked, and the theft is written to the activity log.
- ``authenticate`` reads the ``Authorization`` header of a request: an
  access token, checked by signature alone plus a look at the session and
  account, or an API key. What it looks up is cached for
  ``SecuritySettings.cache_seconds``, so a revoked session or key may keep
  working that long on another gateway (on this one it stops at once).
- Users, their keys and sessions are managed under the rules of roles: no
  one grants a role above their own, only an owner manages owners and
  admins, and the last owner cannot be removed or demoted.

The records live wherever the ``AccountBackend`` keeps them: the platform's
store, reached through the Storage actor. Sightings of sessions and keys,
and activity entries, are written in batches every ``flush_every`` seconds,
so a request costs no write.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NoReturn, TypeVar

from engine.errors import FieldError, ValidationError
from store.accounts import ROLES, AccountBackend, Activity, ApiKey, Session, User
from web.access import Principal, role_rank, role_scopes, unknown_scopes
from web.errors import Conflict, Forbidden, NotFound, Unauthorized
from web.passwords import (
    HISTORY,
    hash_password,
    matches_any,
    password_problems,
    verify_password,
)
from web.tokens import (
    KEY_PREFIX,
    AccessTokens,
    InvalidToken,
    KeyText,
    RefreshToken,
    digest,
    new_id,
    same_digest,
)

logger = logging.getLogger(__name__)

SIGNING_SECRET: Final = "access-token-signing"
"""The name the access tokens' signing secret is kept under in the store."""

SYSTEM_PREFIX: Final = "ups_"

WRONG_LOGIN: Final = "the name or the password is wrong"

MAX_CACHED: Final = 10_000
"""Users, sessions and keys each gateway remembers between look-ups."""


@dataclass(frozen=True, slots=True)
class SecuritySettings:
    """How long credentials last and how often the gateway looks again."""

    access_lifetime: float = 15 * 60.0
    refresh_lifetime: float = 30 * 86_400.0
    cache_seconds: float = 10.0
    flush_every: float = 1.0
    max_key_lifetime: float | None = None
    """The longest an API key may be made to last; None allows keys that
    never expire."""


@dataclass(frozen=True, slots=True)
class Client:
    """Where a request came from, for sessions and the activity log."""

    address: str = ""
    user_agent: str = ""


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a login or a refresh answers with."""

    access_token: str
    access_expires_in: float
    refresh_token: str
    refresh_expires_in: float
    session_id: str
    user: User

    def public(self) -> dict[str, Any]:
        return {
            "token_type": "Bearer",
            "access_token": self.access_token,
            "expires_in": int(self.access_expires_in),
            "refresh_token": self.refresh_token,
            "refresh_expires_in": int(self.refresh_expires_in),
            "session_id": self.session_id,
            "user": self.user.public(),
        }


SYSTEM: Final = Principal(
    user_id="system",
    name="system",
    role="owner",
    scopes=role_scopes("owner"),
    via="system",
)
"""The platform acting on its own behalf (``upcast serve --apply``)."""

Value = TypeVar("Value")


class _Cache(OrderedDict[str, tuple[float, Value]]):
    """Values by key, each for ``ttl`` seconds, at most ``MAX_CACHED`` of them."""

    def __init__(self, ttl: float) -> None:
        super().__init__()
        self.ttl = ttl

    def fresh(self, key: str, now: float) -> tuple[bool, Value | None]:
        found = self.get(key)
        if found is None or now - found[0] > self.ttl:
            return False, None
        return True, found[1]

    def keep(self, key: str, value: Value, now: float) -> None:
        self[key] = (now, value)
        self.move_to_end(key)
        while len(self) > MAX_CACHED:
            self.popitem(last=False)


class Accounts:
    """Authentication and account management for one gateway."""

    def __init__(
        self, backend: AccountBackend, settings: SecuritySettings | None = None
    ) -> None:
        self.backend = backend
        self.settings = settings or SecuritySettings()
        self._tokens: AccessTokens | None = None
        ttl = self.settings.cache_seconds
        self._users: _Cache[User | None] = _Cache(ttl)
        self._sessions: _Cache[Session | None] = _Cache(ttl)
        self._keys: _Cache[ApiKey | None] = _Cache(ttl)
        self._seen_sessions: dict[str, tuple[float, str]] = {}
        self._used_keys: dict[str, float] = {}
        self._activity: list[Activity] = []
        self._flusher: asyncio.Task[None] | None = None
        self._signing = asyncio.Lock()
        self.system_token = SYSTEM_PREFIX + secrets.token_urlsafe(32)
        """A credential that acts as ``SYSTEM`` on this gateway only: for the
        process that runs it (``upcast serve --apply``); never stored or sent
        anywhere else."""

    # Running.

    async def start(self) -> None:
        """Read the shared signing secret, then flush sightings in the background."""
        await self.access_tokens()
        if self._flusher is None:
            loop = asyncio.get_running_loop()
            self._flusher = loop.create_task(self._flush_forever())

    async def access_tokens(self) -> AccessTokens:
        """The signer of access tokens, with the secret every gateway shares."""
        async with self._signing:
            if self._tokens is None:
                secret = await self.backend.gateway_secret(
                    SIGNING_SECRET, secrets.token_urlsafe(48), at=time.time()
                )
                self._tokens = AccessTokens(secret, self.settings.access_lifetime)
        return self._tokens

    async def stop(self) -> None:
        """Stop flushing in the background, then write what is still pending."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_every)
            try:
                await self.flush()
            except Exception:
                logger.exception("writing account sightings and activity failed")

    async def flush(self) -> None:
        """Write the sightings and activity gathered since the last flush."""
        seen, self._seen_sessions = self._seen_sessions, {}
        used, self._used_keys = self._used_keys, {}
        entries, self._activity = self._activity, []
        if seen:
            await self.backend.touch_sessions(
                [(sid, at, address) for sid, (at, address) in seen.items()]
            )
        if used:
            await self.backend.touch_api_keys(list(used.items()))
        if entries:
            await self.backend.add_activity(entries)

    def record(
        self,
        principal: Principal | None,
        action: str,
        *,
        target: str = "",
        client: Client | None = None,
        details: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> None:
        """Add an entry to the activity log (written with the next flush)."""
        self._activity.append(
            Activity(
                at=time.time(),
                actor=actor or (principal.user_id if principal else "anonymous"),
                action=action,
                target=target,
                via=principal.via if principal else "",
                address=client.address if client else "",
                details=dict(details or {}),
            )
        )

    # Authentication.

    async def authenticate(
        self, authorization: str | None, client: Client
    ) -> Principal | None:
        """The caller a request's credentials name; None when it carries none.

        ``authorization`` is the ``Authorization`` header: ``Bearer
        <access token>`` or ``Bearer <API key>``. Credentials that are
        wrong, expired or revoked raise ``Unauthorized``.
        """
        if not authorization:
            return None
        scheme, _, credential = authorization.strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthorized(
                "the Authorization header must be 'Bearer <access token or API key>'"
            )
        now = time.time()
        if credential.startswith(SYSTEM_PREFIX):
            if not hmac.compare_digest(credential, self.system_token):
                raise Unauthorized("the credential is not valid")
            return SYSTEM
        if credential.startswith(KEY_PREFIX):
            return await self._key_principal(credential, now)
        return await self._session_principal(credential, client, now)

    async def _session_principal(
        self, token: str, client: Client, now: float
    ) -> Principal:
        tokens = self._tokens or await self.access_tokens()
        try:
            claims = tokens.read(token)
        except InvalidToken as exc:
            raise Unauthorized(str(exc)) from None
        session = await self._session(claims.session_id, now)
        if session is None or not session.active(now):
            raise Unauthorized("the session has ended; sign in again")
        user = await self._user(claims.user_id, now)
        if user is None or user.disabled:
            raise Unauthorized("the account is disabled or gone")
        self._seen_sessions[session.id] = (now, client.address)
        return Principal(
            user_id=user.id,
            name=user.name,
            role=user.role,
            scopes=role_scopes(user.role),
            via="session",
            session_id=session.id,
            teams=user.teams,
        )

    async def _key_principal(self, text: str, now: float) -> Principal:
        try:
            parsed = KeyText.parse(text)
        except InvalidToken as exc:
            raise Unauthorized(str(exc)) from None
        key = await self._key(parsed.key_id, now)
        if key is None or not same_digest(parsed.secret, key.secret_hash):
            raise Unauthorized("the API key is not valid")
        if not key.usable(now):
            raise Unauthorized("the API key has expired or was revoked")
        user = await self._user(key.user_id, now)
        if user is None or user.disabled:
            raise Unauthorized("the API key's account is disabled or gone")
        self._used_keys[key.id] = now
        return Principal(
            user_id=user.id,
            name=user.name,
            role=user.role,
            scopes=frozenset(key.scopes) & role_scopes(user.role),
            via=f"key:{key.id}",
            key_id=key.id,
            teams=user.teams,
        )

    async def _user(self, user_id: str, now: float) -> User | None:
        known, user = self._users.fresh(user_id, now)
        if not known:
            user = await self.backend.get_user(user_id)
            self._users.keep(user_id, user, now)
        return user

    async def _session(self, session_id: str, now: float) -> Session | None:
        known, session = self._sessions.fresh(session_id, now)
        if not known:
            session = await self.backend.get_session(session_id)
            self._sessions.keep(session_id, session, now)
        return session

    async def _key(self, key_id: str, now: float) -> ApiKey | None:
        known, key = self._keys.fresh(key_id, now)
        if not known:
            key = await self.backend.get_api_key(key_id)
            self._keys.keep(key_id, key, now)
        return key

    def _forget(
        self, *, user_id: str = "", session_id: str = "", key_id: str = ""
    ) -> None:
        """Drop cached records this gateway just changed."""
        self._users.pop(user_id, None)
        self._sessions.pop(session_id, None)
        self._keys.pop(key_id, None)

    # Signing in and out.

    async def login(self, name: str, password: str, client: Client) -> TokenPair:
        """Check a name and password and open a session; ``Unauthorized`` if wrong."""
        user = await self.backend.user_named(name)
        if user is None:
            # Hash anyway, so an unknown name takes as long as a wrong password.
            await hash_password(password)
            self.record(None, "login.failed", target=name[:100], client=client)
            raise Unauthorized(WRONG_LOGIN)
        if not await verify_password(user.password_hash, password):
            self.record(
                None, "login.failed", target=user.name, client=client, actor=user.id
            )
            raise Unauthorized(WRONG_LOGIN)
        if user.disabled:
            raise Unauthorized("the account is disabled; ask an admin")
        now = time.time()
        session_id = new_id()
        refresh = RefreshToken.new(session_id, 1)
        await self.backend.create_session(
            Session(
                id=session_id,
                user_id=user.id,
                generation=1,
                token_hash=digest(refresh.text),
                created_at=now,
                last_seen_at=now,
                expires_at=now + self.settings.refresh_lifetime,
                user_agent=client.user_agent[:500],
                address=client.address,
            )
        )
        principal = self._session_of(user, session_id)
        self.record(principal, "login", target=user.name, client=client)
        return await self._pair(user, session_id, refresh, now)

    def _session_of(self, user: User, session_id: str) -> Principal:
        return Principal(
            user.id, user.name, user.role, role_scopes(user.role), "session", session_id
        )

    async def _pair(
        self, user: User, session_id: str, refresh: RefreshToken, now: float
    ) -> TokenPair:
        tokens = await self.access_tokens()
        return TokenPair(
            access_token=tokens.issue(user.id, session_id, now=now),
            access_expires_in=self.settings.access_lifetime,
            refresh_token=refresh.text,
            refresh_expires_in=self.settings.refresh_lifetime,
            session_id=session_id,
            user=user,
        )

    async def refresh(self, token: str, client: Client) -> TokenPair:
        """A new pair for the session's latest refresh token.

        An older token of the session means it was copied: the session is
        revoked and ``Unauthorized`` says so.
        """
        try:
            presented = RefreshToken.parse(token)
        except InvalidToken as exc:
            raise Unauthorized(str(exc)) from None
        now = time.time()
        session = await self.backend.get_session(presented.session_id)
        if session is None:
            raise Unauthorized("the refresh token is not valid")
        if not session.active(now):
            raise Unauthorized("the session has ended; sign in again")
        if presented.generation < session.generation:
            await self._revoke_for_reuse(session, client, now)
        if presented.generation != session.generation or not same_digest(
            token, session.token_hash
        ):
            raise Unauthorized("the refresh token is not valid")
        user = await self.backend.get_user(session.user_id)
        if user is None or user.disabled:
            raise Unauthorized("the account is disabled or gone")

        following = RefreshToken.new(session.id, session.generation + 1)
        rotated = await self.backend.rotate_session(
            session.id,
            generation=session.generation,
            token_hash=session.token_hash,
            new_token_hash=digest(following.text),
            now=now,
            expires_at=now + self.settings.refresh_lifetime,
            user_agent=client.user_agent[:500],
            address=client.address,
        )
        if not rotated:
            # Another request used the same token a moment earlier.
            await self._revoke_for_reuse(session, client, now)
        return await self._pair(user, session.id, following, now)

    async def _revoke_for_reuse(
        self, session: Session, client: Client, now: float
    ) -> NoReturn:
        await self.backend.revoke_sessions(
            session_id=session.id, reason="refresh token used twice", now=now
        )
        self._forget(session_id=session.id)
        logger.warning(
            "refresh token of session=%s used twice; the session is revoked",
            session.id,
        )
        self.record(
            None,
            "session.reused",
            target=session.id,
            client=client,
            actor=session.user_id,
            details={"user_agent": client.user_agent[:200]},
        )
        raise Unauthorized(
            "this refresh token was used already, so it may have been copied: "
            "the session is revoked; sign in again"
        )

    async def logout(self, principal: Principal, client: Client) -> None:
        """End the session the caller's access token belongs to."""
        if principal.session_id is None:
            raise Forbidden(
                "only a signed-in session can sign out; revoke a key instead"
            )
        await self.revoke_session(principal, principal.session_id, client, "signed out")

    # Sessions.

    async def sessions(
        self, principal: Principal, user_id: str
    ) -> list[dict[str, Any]]:
        """A user's active sessions; ``current`` marks the caller's own."""
        await self._managed_user(principal, user_id, reading=True)
        found = await self.backend.sessions(user_id, now=time.time())
        return [
            {**session.public(), "current": session.id == principal.session_id}
            for session in found
        ]

    async def revoke_session(
        self, principal: Principal, session_id: str, client: Client, reason: str
    ) -> None:
        session = await self.backend.get_session(session_id)
        if session is None:
            raise SessionNotFound(session_id)
        await self._managed_user(principal, session.user_id)
        await self.backend.revoke_sessions(
            session_id=session_id, reason=reason, now=time.time()
        )
        self._forget(session_id=session_id)
        self.record(principal, "session.revoke", target=session_id, client=client)

    async def revoke_all_sessions(
        self, principal: Principal, user_id: str, client: Client
    ) -> int:
        await self._managed_user(principal, user_id)
        count = await self.backend.revoke_sessions(
            user_id=user_id, reason="revoked by " + principal.name, now=time.time()
        )
        self._sessions.clear()
        self.record(principal, "session.revoke_all", target=user_id, client=client)
        return count

    # Users.

    async def create_owner(
        self, name: str, password: str, *, key_name: str | None = None
    ) -> tuple[User, str | None]:
        """The first account, from the command line: refused once an owner exists.

        With ``key_name``, the owner also gets an API key with every scope,
        whose text is returned (and shown this once), for the command line.
        """
        if any(user.role == "owner" for user in await self.backend.users()):
            raise Conflict("an owner exists already; sign in and add users instead")
        user = await self._new_user(name, password, "owner", ())
        self.record(None, "user.create_owner", target=user.name, actor=user.id)
        text = None
        if key_name is not None:
            principal = Principal(
                user.id, user.name, user.role, role_scopes(user.role), "password"
            )
            _, text = await self.create_key(
                principal, key_name, sorted(principal.scopes), None, Client()
            )
        await self.flush()
        return user, text

    async def create_user(
        self,
        principal: Principal,
        name: str,
        password: str,
        role: str,
        teams: Sequence[str],
        client: Client,
    ) -> User:
        self._may_grant(principal, role)
        user = await self._new_user(name, password, role, tuple(teams))
        self.record(
            principal,
            "user.create",
            target=user.name,
            client=client,
            details={"role": role},
        )
        return user

    async def _new_user(
        self, name: str, password: str, role: str, teams: tuple[str, ...]
    ) -> User:
        problems = password_problems(password, name)
        if problems:
            raise ValidationError(problems)
        now = time.time()
        user = User(
            id=new_id(),
            name=name.lower(),
            role=role,
            password_hash=await hash_password(password),
            created_at=now,
            updated_at=now,
            teams=teams,
        )
        if not await self.backend.create_user(user):
            raise Conflict(f"the name {name!r} is taken")
        return user

    async def users(self, principal: Principal) -> list[User]:
        return await self.backend.users()

    async def user(self, principal: Principal, user_id: str) -> User:
        return await self._managed_user(principal, user_id, reading=True)

    async def update_user(
        self,
        principal: Principal,
        user_id: str,
        changes: Mapping[str, Any],
        client: Client,
    ) -> User:
        """Change a user's name, role, teams, password or whether it is disabled."""
        user = await self._managed_user(principal, user_id)
        updated = user
        if "role" in changes and changes["role"] != user.role:
            self._may_grant(principal, changes["role"])
            if user.role == "owner":
                await self._keep_an_owner(user)
            updated = dataclasses.replace(updated, role=changes["role"])
        if changes.get("disabled") and user.role == "owner":
            await self._keep_an_owner(user)
        if "name" in changes:
            updated = dataclasses.replace(updated, name=str(changes["name"]).lower())
        if "teams" in changes:
            updated = dataclasses.replace(updated, teams=tuple(changes["teams"]))
        if "disabled" in changes:
            updated = dataclasses.replace(updated, disabled=bool(changes["disabled"]))
        if "password" in changes:
            updated = await self._with_password(updated, changes["password"])
        updated = dataclasses.replace(updated, updated_at=time.time())
        try:
            await self.backend.update_user(updated)
        except ValueError:
            raise Conflict(f"the name {updated.name!r} is taken") from None
        self._forget(user_id=user.id)
        if updated.disabled or "password" in changes:
            await self.backend.revoke_sessions(
                user_id=user.id, reason="account changed", now=time.time()
            )
            self._sessions.clear()
        self.record(
            principal,
            "user.update",
            target=user.name,
            client=client,
            details={"fields": sorted(changes)},
        )
        return updated

    async def change_password(
        self, principal: Principal, current: str, new: str, client: Client
    ) -> None:
        """Change the caller's own password; every other session of theirs ends."""
        user = await self.backend.get_user(principal.user_id)
        if user is None:
            raise Unauthorized("the account is gone")
        if not await verify_password(user.password_hash, current):
            raise ValidationError(
                [FieldError("current_password", "is not the account's password")]
            )
        updated = await self._with_password(user, new)
        await self.backend.update_user(
            dataclasses.replace(updated, updated_at=time.time())
        )
        self._forget(user_id=user.id)
        for session in await self.backend.sessions(user.id, now=time.time()):
            if session.id != principal.session_id:
                await self.backend.revoke_sessions(
                    session_id=session.id, reason="password changed", now=time.time()
                )
        self._sessions.clear()
        self.record(principal, "password.change", target=user.name, client=client)

    async def _with_password(self, user: User, password: object) -> User:
        """``user`` with a new password: one that meets the policy, not a recent one."""
        problems = password_problems(password, user.name)
        if problems:
            raise ValidationError(problems)
        assert isinstance(password, str)
        recent = (user.password_hash, *user.password_history)[:HISTORY]
        if await matches_any(recent, password):
            raise ValidationError(
                [
                    FieldError(
                        "password", f"must not be one of the last {HISTORY} passwords"
                    )
                ]
            )
        return dataclasses.replace(
            user,
            password_hash=await hash_password(password),
            password_history=recent[: HISTORY - 1],
        )

    async def delete_user(
        self, principal: Principal, user_id: str, client: Client
    ) -> None:
        user = await self._managed_user(principal, user_id)
        if user.role == "owner":
            await self._keep_an_owner(user)
        await self.backend.delete_user(user_id)
        await self.backend.forget_preferences(user_id)
        self._forget(user_id=user_id)
        self._sessions.clear()
        self._keys.clear()
        self.record(principal, "user.delete", target=user.name, client=client)

    async def _managed_user(
        self, principal: Principal, user_id: str, *, reading: bool = False
    ) -> User:
        """The user ``user_id``, if the caller may manage it (or read it).

        Everyone manages themselves; an admin manages those below them; an
        owner manages everyone.
        """
        user = await self.backend.get_user(user_id)
        if user is None:
            raise UserNotFound(user_id)
        if user.id == principal.user_id or principal.role == "owner":
            return user
        if not principal.allows("admin"):
            raise Forbidden("managing other users needs the admin scope")
        if not reading and not principal.outranks(user.role):
            raise Forbidden(f"only an owner manages a user whose role is {user.role}")
        return user

    def _may_grant(self, principal: Principal, role: object) -> None:
        if role not in ROLES:
            raise ValidationError(
                [FieldError("role", f"must be one of {', '.join(ROLES)}, got {role!r}")]
            )
        assert isinstance(role, str)
        if principal.role != "owner" and role_rank(role) >= role_rank(principal.role):
            raise Forbidden(f"a {principal.role} cannot grant the role {role}")

    async def _keep_an_owner(self, user: User) -> None:
        owners = [
            u
            for u in await self.backend.users()
            if u.role == "owner" and not u.disabled
        ]
        if [owner.id for owner in owners] == [user.id]:
            raise Conflict("the last owner cannot be removed, disabled or demoted")

    # Preferences.

    async def preferences(self, principal: Principal) -> dict[str, Any]:
        """The caller's saved preferences (the user's, for a key); empty if none."""
        return await self.backend.preferences(_person(principal)) or {}

    async def save_preferences(
        self, principal: Principal, preferences: Mapping[str, Any]
    ) -> None:
        """Keep the caller's preferences, replacing those saved before."""
        await self.backend.put_preferences(
            _person(principal), preferences, at=time.time()
        )

    # API keys.

    async def create_key(
        self,
        principal: Principal,
        name: str,
        scopes: Sequence[str],
        expires_at: float | None,
        client: Client,
        user_id: str | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its text, which is shown this once and never again.

        A key gets at most the scopes its user's role grants.
        """
        owner = await self._managed_user(principal, user_id or principal.user_id)
        unknown = unknown_scopes(scopes)
        granted = role_scopes(owner.role)
        problems = [
            FieldError(f"scopes[{index}]", f"is not a scope: {scope!r}")
            for index, scope in enumerate(scopes)
            if scope in unknown
        ] + [
            FieldError(f"scopes[{index}]", f"is more than the role {owner.role} grants")
            for index, scope in enumerate(scopes)
            if scope not in unknown and scope not in granted
        ]
        now = time.time()
        longest = self.settings.max_key_lifetime
        if expires_at is not None and expires_at <= now:
            problems.append(FieldError("expires_at", "must be in the future"))
        if longest is not None and (expires_at is None or expires_at > now + longest):
            problems.append(
                FieldError("expires_at", f"must be within {longest / 86_400:g} days")
            )
        if not scopes:
            problems.append(FieldError("scopes", "must name at least one scope"))
        if problems:
            raise ValidationError(problems)
        made = KeyText.new()
        key = ApiKey(
            id=made.key_id,
            user_id=owner.id,
            name=name,
            scopes=tuple(dict.fromkeys(scopes)),
            secret_hash=digest(made.secret),
            created_at=now,
            expires_at=expires_at,
        )
        await self.backend.create_api_key(key)
        self.record(
            principal,
            "key.create",
            target=key.id,
            client=client,
            details={"name": name, "scopes": list(key.scopes), "user": owner.name},
        )
        return key, made.text

    async def keys(self, principal: Principal, user_id: str | None) -> list[ApiKey]:
        """The caller's keys, one user's (admin), or everyone's (admin, ``*``)."""
        if user_id == "*":
            if not principal.allows("admin"):
                raise Forbidden("listing every key needs the admin scope")
            return await self.backend.api_keys()
        owner = await self._managed_user(
            principal, user_id or principal.user_id, reading=True
        )
        return await self.backend.api_keys(owner.id)

    async def revoke_key(
        self, principal: Principal, key_id: str, client: Client
    ) -> None:
        key = await self.backend.get_api_key(key_id)
        if key is None:
            raise KeyNotFound(key_id)
        await self._managed_user(principal, key.user_id)
        await self.backend.revoke_api_key(key_id, now=time.time())
        self._forget(key_id=key_id)
        self.record(principal, "key.revoke", target=key_id, client=client)

    # Activity.

    async def activity(
        self,
        *,
        before: int | None,
        actor: str | None,
        action: str | None,
        limit: int,
    ) -> list[Activity]:
        await self.flush()
        return await self.backend.activity(
            before=before, actor=actor, action=action, limit=limit
        )


class UserNotFound(NotFound):
    def __init__(self, user_id: str) -> None:
        super().__init__(f"no user has the id {user_id!r}")
        self.user_id = user_id


class SessionNotFound(NotFound):
    def __init__(self, session_id: str) -> None:
        super().__init__(f"no session has the id {session_id!r}")
        self.session_id = session_id


class KeyNotFound(NotFound):
    def __init__(self, key_id: str) -> None:
        super().__init__(f"no API key has the id {key_id!r}")
        self.key_id = key_id


def _person(principal: Principal) -> str:
    """The user whose preferences a caller keeps: a key's owner, not the platform."""
    if principal.via == SYSTEM.via:
        raise Forbidden("the platform's own credential has no preferences; sign in")
    return principal.user_id
