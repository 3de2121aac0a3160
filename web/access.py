"""Who may do what: roles, the scopes they grant, and the caller of a request.

Every route of the API declares the one scope it needs with ``requires``
(or that it needs none, with ``public``); the gateway refuses a route that
declares neither, so a new route cannot be left open by mistake.

Roles inherit: an editor has every scope of a viewer, an admin every scope
of an editor. An API key carries scopes of its own, and acts with those
that its user's role still grants, so demoting a user narrows their keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from store.accounts import ROLES

SCOPES: Final = {
    "monitors:read": "read monitors, their status, results, events, reports, "
    "analyses and status pages",
    "monitors:write": "create, change, pause, resume and delete monitors, and "
    "change status pages",
    "alerts:read": "read incidents and alerting settings",
    "alerts:ack": "acknowledge, resolve and add notes to incidents",
    "alerts:write": "change channels, routes, escalation policies, maintenance "
    "windows and SLOs",
    "admin": "manage users, their sessions and keys, shards, and read the activity log",
}
"""Every scope, with what it allows."""

_GRANTED: Final = {
    "viewer": ("monitors:read", "alerts:read"),
    "editor": ("monitors:write", "alerts:ack", "alerts:write"),
    "admin": ("admin",),
    "owner": (),
}
"""What each role adds to the roles below it."""


def role_scopes(role: str) -> frozenset[str]:
    """Every scope ``role`` grants, those of the roles below it included."""
    granted: set[str] = set()
    for level in ROLES:
        granted.update(_GRANTED[level])
        if level == role:
            return frozenset(granted)
    raise ValueError(f"role: must be one of {', '.join(ROLES)}, got {role!r}")


def role_rank(role: str) -> int:
    """How high a role stands: viewer 0 up to owner 3."""
    return ROLES.index(role)


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes of ``scopes`` that do not exist, in order."""
    return [scope for scope in scopes if scope not in SCOPES]


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of a request, once authenticated.

    ``via`` says how: ``session`` for an access token of a signed-in
    session, ``key:<id>`` for an API key, ``system`` for the platform's own
    calls.
    """

    user_id: str
    name: str
    role: str
    scopes: frozenset[str]
    via: str
    session_id: str | None = None
    key_id: str | None = None
    teams: tuple[str, ...] = field(default=())

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    def outranks(self, role: str) -> bool:
        """Whether the caller's role stands above ``role`` (an owner's above all)."""
        return self.role == "owner" or role_rank(self.role) > role_rank(role)


Handler = TypeVar("Handler", bound=Callable[..., Any])

SCOPE_ATTRIBUTE: Final = "__upcast_scope__"
ACTION_ATTRIBUTE: Final = "__upcast_action__"

PUBLIC: Final = "public"
"""The scope of a route anyone may call, signed in or not."""

SIGNED_IN: Final = "signed-in"
"""The scope of a route any authenticated caller may call; the handler
decides what each caller may see or change."""


def requires(scope: str, action: str | None = None) -> Callable[[Handler], Handler]:
    """Declare the scope a route's handler needs.

    ``action`` names what a successful call does in the activity log
    (``monitor.create``); calls that change nothing leave it out.
    """
    if scope not in SCOPES and scope not in (PUBLIC, SIGNED_IN):
        raise ValueError(f"scope: must be one of {', '.join(SCOPES)}, got {scope!r}")

    def declare(handler: Handler) -> Handler:
        setattr(handler, SCOPE_ATTRIBUTE, scope)
        if action is not None:
            setattr(handler, ACTION_ATTRIBUTE, action)
        return handler

    return declare


def public(handler: Handler) -> Handler:
    """Declare that a route needs no authentication."""
    setattr(handler, SCOPE_ATTRIBUTE, PUBLIC)
    return handler


def declared_scope(handler: object) -> str | None:
    """The scope a handler declared, ``PUBLIC``, ``SIGNED_IN``, or None."""
    scope = getattr(handler, SCOPE_ATTRIBUTE, None)
    return scope if isinstance(scope, str) else None


def declared_action(handler: object) -> str | None:
    """What a handler's successful calls are logged as, if anything."""
    action = getattr(handler, ACTION_ATTRIBUTE, None)
    return action if isinstance(action, str) else None
