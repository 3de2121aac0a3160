"""What the gateway keeps in the store about people: accounts, sessions, keys.

A ``User`` signs in with a name and a password (kept as an argon2 hash, with
the hashes of the passwords it had before, so old ones are not reused). A
``Session`` is one signed-in device: it holds the hash of the refresh token
the device was given last and the generation of that token, so a token used
a second time is recognised as stolen. An ``ApiKey`` lets a program act for
a user within its scopes; only the hash of its secret is kept. ``Activity``
entries record who changed what.

Backends keep each record in a table of its own with these fields as
columns; lists (scopes, teams, earlier password hashes) and the details of
an activity are kept as JSON text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, Protocol

ROLES: Final = ("viewer", "editor", "admin", "owner")
"""Roles from least to most: each holds every right of those before it."""

MAX_NAME: Final = 100
"""The most characters of a user's name, a key's name or an id."""

MAX_TEXT: Final = 500
"""The most characters of a user agent, an activity's target and the like."""


@dataclass(frozen=True, slots=True)
class User:
    """An account: its login ``name`` is unique, compared in lower case."""

    id: str
    name: str
    role: str
    password_hash: str
    created_at: float
    updated_at: float
    password_history: tuple[str, ...] = ()
    """Hashes of earlier passwords, the latest first."""
    teams: tuple[str, ...] = ()
    disabled: bool = False

    def public(self) -> dict[str, Any]:
        """The account as the API shows it: no password hashes."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "teams": list(self.teams),
            "disabled": self.disabled,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class Session:
    """One signed-in device and the refresh token it holds now.

    ``generation`` counts the refresh tokens the session has been given;
    ``token_hash`` is the SHA-256 of the latest one. A session ends when it
    expires or is revoked (``revoked_at``, with a ``revoked_reason``).
    """

    id: str
    user_id: str
    generation: int
    token_hash: str
    created_at: float
    last_seen_at: float
    expires_at: float
    user_agent: str = ""
    address: str = ""
    revoked_at: float | None = None
    revoked_reason: str = ""

    def active(self, now: float) -> bool:
        """Whether the session can still be refreshed at ``now``."""
        return self.revoked_at is None and now < self.expires_at

    def public(self) -> dict[str, Any]:
        """The session as the API shows it: no token hash."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "created_at": self.created_at,
            "last_seen_at": self.last_seen_at,
            "expires_at": self.expires_at,
            "user_agent": self.user_agent,
            "address": self.address,
            "revoked_at": self.revoked_at,
            "revoked_reason": self.revoked_reason,
        }


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key a program uses to act for ``user_id`` within ``scopes``."""

    id: str
    user_id: str
    name: str
    scopes: tuple[str, ...]
    secret_hash: str
    created_at: float
    expires_at: float | None = None
    last_used_at: float | None = None
    revoked_at: float | None = None

    def usable(self, now: float) -> bool:
        """Whether the key is neither revoked nor expired at ``now``."""
        expired = self.expires_at is not None and now >= self.expires_at
        return self.revoked_at is None and not expired

    def public(self) -> dict[str, Any]:
        """The key as the API shows it after creation: no secret, no hash."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "scopes": list(self.scopes),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True, slots=True)
class Activity:
    """One thing someone did: signed in, changed a monitor, made a key.

    ``actor`` is the user's id (or ``system``); ``via`` says how they
    acted (``password``, ``session``, or ``key:<id>``). ``id`` is given by
    the store, in the order entries were added; it is 0 until then.
    """

    at: float
    actor: str
    action: str
    target: str = ""
    via: str = ""
    address: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int = 0

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "via": self.via,
            "address": self.address,
            "details": dict(self.details),
        }


USER_COLUMNS: Final = (
    "id, name, role, password_hash, password_history, teams, disabled, "
    "created_at, updated_at"
)
SESSION_COLUMNS: Final = (
    "id, user_id, generation, token_hash, created_at, last_seen_at, expires_at, "
    "user_agent, address, revoked_at, revoked_reason"
)
API_KEY_COLUMNS: Final = (
    "id, user_id, name, scopes, secret_hash, created_at, expires_at, "
    "last_used_at, revoked_at"
)
ACTIVITY_COLUMNS: Final = "at, actor, action, target, via, address, details"
"""The columns an activity entry is written with; reads add ``id`` first."""


def user_row(user: User) -> tuple[Any, ...]:
    """A user's values in the order of ``USER_COLUMNS``, checked."""
    check_user(user)
    return (
        user.id,
        user.name.lower(),
        user.role,
        user.password_hash,
        json.dumps(list(user.password_history)),
        json.dumps(list(user.teams)),
        bool(user.disabled),
        float(user.created_at),
        float(user.updated_at),
    )


def user_from_row(row: Sequence[Any]) -> User:
    return User(
        id=_text(row[0]),
        name=_text(row[1]),
        role=_text(row[2]),
        password_hash=_text(row[3]),
        password_history=tuple(json.loads(row[4])),
        teams=tuple(json.loads(row[5])),
        disabled=bool(row[6]),
        created_at=float(row[7]),
        updated_at=float(row[8]),
    )


def session_row(session: Session) -> tuple[Any, ...]:
    """A session's values in the order of ``SESSION_COLUMNS``, checked."""
    check_session(session)
    return (
        session.id,
        session.user_id,
        int(session.generation),
        session.token_hash,
        float(session.created_at),
        float(session.last_seen_at),
        float(session.expires_at),
        session.user_agent[:MAX_TEXT],
        session.address[:MAX_NAME],
        session.revoked_at,
        session.revoked_reason[:MAX_TEXT],
    )


def session_from_row(row: Sequence[Any]) -> Session:
    return Session(
        id=_text(row[0]),
        user_id=_text(row[1]),
        generation=int(row[2]),
        token_hash=_text(row[3]),
        created_at=float(row[4]),
        last_seen_at=float(row[5]),
        expires_at=float(row[6]),
        user_agent=_text(row[7]),
        address=_text(row[8]),
        revoked_at=None if row[9] is None else float(row[9]),
        revoked_reason=_text(row[10]),
    )


def api_key_row(key: ApiKey) -> tuple[Any, ...]:
    """A key's values in the order of ``API_KEY_COLUMNS``, checked."""
    check_api_key(key)
    return (
        key.id,
        key.user_id,
        key.name,
        json.dumps(list(key.scopes)),
        key.secret_hash,
        float(key.created_at),
        key.expires_at,
        key.last_used_at,
        key.revoked_at,
    )


def api_key_from_row(row: Sequence[Any]) -> ApiKey:
    return ApiKey(
        id=_text(row[0]),
        user_id=_text(row[1]),
        name=_text(row[2]),
        scopes=tuple(json.loads(row[3])),
        secret_hash=_text(row[4]),
        created_at=float(row[5]),
        expires_at=_optional_float(row[6]),
        last_used_at=_optional_float(row[7]),
        revoked_at=_optional_float(row[8]),
    )


def activity_row(entry: Activity) -> tuple[Any, ...]:
    """An entry's values in the order of ``ACTIVITY_COLUMNS``, checked."""
    _check_time("at", entry.at)
    _check_id("actor", entry.actor)
    _check_id("action", entry.action)
    if not isinstance(entry.details, Mapping):
        raise ValueError("details: must be a mapping")
    try:
        details = json.dumps(dict(entry.details), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        # NaN is not JSON: PostgreSQL's json columns would refuse it later.
        raise ValueError(f"details: cannot be stored as JSON: {exc}") from exc
    return (
        float(entry.at),
        entry.actor,
        entry.action,
        entry.target[:MAX_TEXT],
        entry.via[:MAX_NAME],
        entry.address[:MAX_NAME],
        details,
    )


def activity_from_row(row: Sequence[Any]) -> Activity:
    """An entry from a row of ``id`` then ``ACTIVITY_COLUMNS``."""
    return Activity(
        id=int(row[0]),
        at=float(row[1]),
        actor=_text(row[2]),
        action=_text(row[3]),
        target=_text(row[4]),
        via=_text(row[5]),
        address=_text(row[6]),
        details=json.loads(row[7]),
    )


def check_user(user: object) -> None:
    if not isinstance(user, User):
        raise ValueError(f"user: must be a User, got {type(user).__name__}")
    _check_id("id", user.id)
    _check_id("name", user.name)
    if user.role not in ROLES:
        raise ValueError(f"role: must be one of {', '.join(ROLES)}, got {user.role!r}")
    _check_time("created_at", user.created_at)
    _check_time("updated_at", user.updated_at)


def check_session(session: object) -> None:
    if not isinstance(session, Session):
        raise ValueError(f"session: must be a Session, got {type(session).__name__}")
    _check_id("id", session.id)
    _check_id("user_id", session.user_id)
    _check_time("expires_at", session.expires_at)


def check_api_key(key: object) -> None:
    if not isinstance(key, ApiKey):
        raise ValueError(f"key: must be an ApiKey, got {type(key).__name__}")
    _check_id("id", key.id)
    _check_id("user_id", key.user_id)
    if len(key.name) > MAX_NAME:
        raise ValueError(f"name: must be at most {MAX_NAME} characters")


def check_id(name: str, value: object) -> str:
    """An id or name of the account tables: text of 1 to ``MAX_NAME`` characters."""
    _check_id(name, value)
    assert isinstance(value, str)
    return value


def name_taken(name: str) -> ValueError:
    """The error of ``update_user`` when another account has the name."""
    return ValueError(f"name: {name.lower()!r} is taken by another account")


class Rotation(NamedTuple):
    """The arguments of ``rotate_session``, checked."""

    session_id: str
    generation: int
    token_hash: str
    new_token_hash: str
    now: float
    expires_at: float
    user_agent: str
    address: str


def check_rotation(
    session_id: object,
    generation: object,
    token_hash: object,
    new_token_hash: object,
    now: object,
    expires_at: object,
    user_agent: object,
    address: object,
) -> Rotation:
    """The arguments of ``rotate_session``, or ValueError naming the bad one.

    The user agent and address are cut to the lengths a session keeps, as
    ``session_row`` cuts them.
    """
    if isinstance(generation, bool) or not isinstance(generation, int):
        raise ValueError(f"generation: must be a whole number, got {generation!r}")
    return Rotation(
        check_id("session_id", session_id),
        generation,
        _hash("token_hash", token_hash),
        _hash("new_token_hash", new_token_hash),
        _moment("now", now),
        _moment("expires_at", expires_at),
        _clipped("user_agent", user_agent, MAX_TEXT),
        _clipped("address", address, MAX_NAME),
    )


class Revocation(NamedTuple):
    """What ``revoke_sessions`` ends, checked: sessions whose ``column`` is ``key``."""

    column: str
    """``id`` for one session, ``user_id`` for every session of a user."""
    key: str
    reason: str
    now: float


def check_revocation(
    session_id: object, user_id: object, reason: object, now: object
) -> Revocation:
    """The arguments of ``revoke_sessions``: exactly one of the two ids."""
    if (session_id is None) == (user_id is None):
        raise ValueError("session_id, user_id: give exactly one of them")
    if session_id is not None:
        column, key = "id", check_id("session_id", session_id)
    else:
        column, key = "user_id", check_id("user_id", user_id)
    return Revocation(
        column, key, _clipped("reason", reason, MAX_TEXT), _moment("now", now)
    )


def latest_sightings(seen: object) -> list[tuple[str, float, str]]:
    """The sightings of ``touch_sessions``, checked: the latest of each session.

    Of two sightings at one time the later in the list wins. The rows come
    sorted by session id, so concurrent touches lock sessions in one order,
    and each session is in them once: an UPDATE joined to a list of rows
    changes a row once, however often the list holds it.
    """
    latest: dict[str, tuple[str, float, str]] = {}
    for index, item in enumerate(_items("seen", seen, 3)):
        place = f"seen[{index}]"
        session_id = check_id(f"{place}.session_id", item[0])
        at = _moment(f"{place}.at", item[1])
        address = _clipped(f"{place}.address", item[2], MAX_NAME)
        kept = latest.get(session_id)
        if kept is None or kept[1] <= at:
            latest[session_id] = (session_id, at, address)
    return [latest[session_id] for session_id in sorted(latest)]


def latest_uses(used: object) -> list[tuple[str, float]]:
    """The uses of ``touch_api_keys``, checked: the latest of each key, by id."""
    latest: dict[str, float] = {}
    for index, item in enumerate(_items("used", used, 2)):
        place = f"used[{index}]"
        key_id = check_id(f"{place}.key_id", item[0])
        at = _moment(f"{place}.at", item[1])
        latest[key_id] = max(at, latest.get(key_id, at))
    return [(key_id, latest[key_id]) for key_id in sorted(latest)]


def activity_filters(
    before: object, actor: object, action: object
) -> list[tuple[str, object]]:
    """The conditions of ``activity`` for ``store.base.where_clause``, checked.

    A family of actions (``monitor.``) is the range from the prefix up to
    the same text with its final ``.`` raised to the next character, ``/``:
    every action that starts with the prefix sorts in it and no other does,
    in any byte-wise or code point order, so the index on actions reads it
    as one range, with no LIKE pattern whose ``%`` and ``_`` need escaping.
    """
    if before is not None and (
        isinstance(before, bool) or not isinstance(before, int) or before < 1
    ):
        raise ValueError(f"before: must be an activity id (1 or more), got {before!r}")
    conditions: list[tuple[str, object]] = [("id < {}", before)]
    if actor is not None:
        conditions.append(("actor = {}", check_id("actor", actor)))
    if action is None:
        return conditions
    wanted = check_id("action", action)
    if wanted.endswith("."):
        conditions.append(("action >= {}", wanted))
        conditions.append(("action < {}", wanted[:-1] + chr(ord(".") + 1)))
    else:
        conditions.append(("action = {}", wanted))
    return conditions


def check_secret(name: object, candidate: object, at: object) -> tuple[str, str, float]:
    """The arguments of ``gateway_secret``: a name, a non-empty secret, a time."""
    if not isinstance(candidate, str) or not candidate:
        raise ValueError("candidate: must be non-empty text")
    return check_id("name", name), candidate, _moment("at", at)


def _check_id(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: must be non-empty text, got {value!r}")
    if len(value) > MAX_NAME:
        raise ValueError(
            f"{name}: must be at most {MAX_NAME} characters, got {len(value)}"
        )


def _check_time(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: must be unix seconds, got {value!r}")


def _moment(name: str, value: object) -> float:
    """A finite time in unix seconds, or ValueError naming ``name``."""
    _check_time(name, value)
    assert isinstance(value, int | float)
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number, got {value!r}")
    return float(value)


def _hash(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: must be non-empty text")
    return value


def _clipped(name: str, value: object, most: int) -> str:
    """Text cut to ``most`` characters, as the record helpers cut it."""
    if not isinstance(value, str):
        raise ValueError(f"{name}: must be text, got {type(value).__name__}")
    return value[:most]


def _items(name: str, value: object, size: int) -> list[Sequence[Any]]:
    """A list of tuples of ``size`` fields, or ValueError naming the bad one."""
    if not isinstance(value, list):
        raise ValueError(f"{name}: must be a list, got {type(value).__name__}")
    for index, item in enumerate(value):
        if not isinstance(item, tuple) or len(item) != size:
            raise ValueError(f"{name}[{index}]: must be a tuple of {size} fields")
    return value


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _text(value: str | bytes) -> str:
    # MySQL hands back binary columns as bytes.
    return value.decode() if isinstance(value, bytes) else value


ACCOUNT_METHODS: Final = frozenset(
    {
        "create_user",
        "update_user",
        "get_user",
        "user_named",
        "users",
        "delete_user",
        "create_session",
        "get_session",
        "rotate_session",
        "revoke_sessions",
        "sessions",
        "touch_sessions",
        "create_api_key",
        "get_api_key",
        "api_keys",
        "revoke_api_key",
        "touch_api_keys",
        "add_activity",
        "activity",
        "gateway_secret",
        "preferences",
        "put_preferences",
        "forget_preferences",
    }
)
"""The store's methods that keep accounts, for callers that reach them by name."""


class AccountBackend(Protocol):
    """Where a gateway's accounts are kept: the account methods of ``Store``.

    A store is one; so is ``actors.account_calls.StorageAccounts``, which
    reaches the platform's store through its Storage actor.
    """

    async def create_user(self, user: User) -> bool: ...

    async def update_user(self, user: User) -> bool: ...

    async def get_user(self, user_id: str) -> User | None: ...

    async def user_named(self, name: str) -> User | None: ...

    async def users(self) -> list[User]: ...

    async def delete_user(self, user_id: str) -> bool: ...

    async def create_session(self, session: Session) -> None: ...

    async def get_session(self, session_id: str) -> Session | None: ...

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
    ) -> bool: ...

    async def revoke_sessions(
        self,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        reason: str,
        now: float,
    ) -> int: ...

    async def sessions(self, user_id: str, *, now: float) -> list[Session]: ...

    async def touch_sessions(self, seen: list[tuple[str, float, str]]) -> None: ...

    async def create_api_key(self, key: ApiKey) -> None: ...

    async def get_api_key(self, key_id: str) -> ApiKey | None: ...

    async def api_keys(self, user_id: str | None = None) -> list[ApiKey]: ...

    async def revoke_api_key(self, key_id: str, *, now: float) -> bool: ...

    async def touch_api_keys(self, used: list[tuple[str, float]]) -> None: ...

    async def add_activity(self, entries: list[Activity]) -> None: ...

    async def activity(
        self,
        *,
        before: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int = 100,
    ) -> list[Activity]: ...

    async def gateway_secret(self, name: str, candidate: str, *, at: float) -> str: ...

    async def preferences(self, user_id: str) -> dict[str, Any] | None: ...

    async def put_preferences(
        self, user_id: str, preferences: Mapping[str, Any], *, at: float
    ) -> None: ...

    async def forget_preferences(self, user_id: str) -> bool: ...
