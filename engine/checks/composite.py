"""The ``composite`` check kind: a monitor whose state is judged from other monitors.

A composite names its members in ``target`` (``api-1,api-2,api-3``) and is
up when all of them are (``mode: all``), when any one is (``any``), or when
at least ``at_least`` of them are (``at_least``). It is checked like every
other monitor, on its own interval by the shard that owns it, so it gets
results, retries and incidents of its own.

Members may live on other shards, which a check cannot read, so their states
come through a process-wide reader that the platform installs with
``set_state_reader``. Until one is installed every run fails as internal.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from engine.checks import register
from engine.checks.base import Check, CheckSpec, unknown_options
from engine.errors import FieldError, ValidationError
from engine.ids import ID_PATTERN
from engine.result import CheckFailure, Observation, Reason

logger = logging.getLogger(__name__)

MODES = ("all", "any", "at_least")
DEFAULT_MODE = "all"
OPTIONS = ("mode", "at_least")

MAX_MEMBERS = 1000
"""The most members one composite may name; one read asks for all of them."""

NAMED_MEMBERS = 10
"""How many down members a failure names before it only counts the rest."""

QUOTED_IDS = 5
"""How many bad member ids a validation problem quotes."""

# The rule for a monitor's id, which every member id must follow.
_MEMBER_ID = ID_PATTERN

# A pending member has failed but is not yet confirmed down, and a degraded
# one still answers, so both hold a composite up. Paused members, members in
# maintenance and members whose state is unknown are nobody's concern at the
# moment, so they count neither way.
_COUNTED_UP = frozenset({"up", "degraded", "pending"})
_COUNTED_DOWN = frozenset({"down"})

UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class MemberState:
    """Where one member monitor stands, as the state reader reports it.

    ``state`` is a monitor state's value (``up``, ``down``, ``pending``,
    ``degraded``, ``maintenance``, ``paused`` or ``unknown``); ``reason`` and
    ``message`` are those of the member's last failure, for the composite's
    own failure message to quote.
    """

    state: str
    reason: str = ""
    message: str = ""


StateReader = Callable[[list[str]], Awaitable[Mapping[str, MemberState]]]
"""Answers the states of the monitors asked for; a monitor left out is unknown."""

_reader: StateReader | None = None


def set_state_reader(reader: StateReader | None) -> None:
    """Install the reader every composite check in this process asks, or remove it.

    The platform installs one that knows where each monitor's state is kept;
    None takes it away again, after which composite checks fail as internal.
    """
    global _reader
    _reader = reader
    logger.debug("member state reader %s", "removed" if reader is None else "set")


class CompositeCheck(Check):
    """Judge the states of the member monitors by the composite's mode."""

    __slots__ = ("_members", "_mode", "_needed")

    kind = "composite"

    def __init__(self, members: Sequence[str], mode: str, needed: int) -> None:
        self._members = tuple(members)
        self._mode = mode
        self._needed = needed

    @classmethod
    def prepare(cls, spec: CheckSpec) -> Self:
        """Validate the members and options, reporting every problem together."""
        errors: list[FieldError] = []
        options = spec.options
        errors.extend(unknown_options(options, OPTIONS))

        members = _members(spec.target, spec.monitor_id, errors)

        mode = options.get("mode", DEFAULT_MODE)
        if mode not in MODES:
            errors.append(
                FieldError(
                    "options.mode", f"must be one of {', '.join(MODES)}, got {mode!r}"
                )
            )
            mode = None

        needed = 0
        if mode == "at_least":
            needed = _needed(options.get("at_least"), len(members), errors)
        elif mode is not None and "at_least" in options:
            errors.append(
                FieldError(
                    "options.at_least", "only applies with options.mode at_least"
                )
            )

        if errors:
            raise ValidationError(errors)
        assert mode is not None
        return cls(members, mode, needed)

    @property
    def members(self) -> tuple[str, ...]:
        """The ids of the member monitors, in the order the target names them."""
        return self._members

    async def run(self) -> Observation:
        """Read the members' states and judge them by the mode.

        1. Ask the installed reader for every member, timing the call; that
           time is the check's latency.
        2. Sort the members into up, down and not counted (see ``_COUNTED_UP``).
        3. With nothing counted, pass: no member is being checked, and a
           composite must not alert for members nobody watches.
        4. Otherwise pass or fail by the mode, naming the down members.
        """
        reader = _reader
        if reader is None:
            raise CheckFailure(
                Reason.INTERNAL,
                "member states are not available in this process",
                retryable=True,
            )

        started = time.perf_counter()
        try:
            answers = await reader(list(self._members))
        except Exception as exc:
            raise CheckFailure(
                Reason.INTERNAL,
                f"could not read the member states: {_describe(exc)}",
                retryable=True,
            ) from exc
        latency_ms = (time.perf_counter() - started) * 1000.0

        states: dict[str, str] = {}
        down: list[str] = []
        up = uncounted = 0
        for member in self._members:
            answer = answers.get(member)
            state = UNKNOWN if answer is None else answer.state
            states[member] = state
            if state in _COUNTED_UP:
                up += 1
            elif state in _COUNTED_DOWN:
                down.append(member)
            else:
                uncounted += 1
        details: dict[str, Any] = {"members": states}
        total = len(self._members)

        if up + len(down) == 0:
            return Observation(
                latency_ms,
                details=details,
                message=f"no member is being checked: {_uncounted_text(total)}",
            )
        if self._passes(up, len(down)):
            message = f"{up} of {total} members up"
            if down:
                message += f", {len(down)} down"
            if uncounted:
                message += f", {uncounted} not being checked"
            return Observation(latency_ms, details=details, message=message)

        if down:
            message = f"{len(down)} of {total} members down"
        else:
            message = f"{up} of {total} members up"
        if uncounted:
            message += f", {uncounted} not being checked"
        message += f" ({self._rule()})"
        if down:
            message += ": " + _name_members(down, answers)
        raise CheckFailure(Reason.ASSERTION, message, retryable=True, details=details)

    def _passes(self, up: int, down: int) -> bool:
        if self._mode == "all":
            return down == 0
        if self._mode == "any":
            return up > 0
        return up >= self._needed

    def _rule(self) -> str:
        """What the mode asks of the members, as a failure message says it."""
        if self._mode == "all":
            return "all must be up"
        if self._mode == "any":
            return "at least one must be up"
        return f"at least {self._needed} must be up"


def _members(target: str, own_id: str, errors: list[FieldError]) -> list[str]:
    """The member ids in ``target``, with a problem noted for each thing wrong.

    The ids that are valid are returned even when some are not, so the range
    of ``options.at_least`` can still be checked against their number.
    """
    if not target.strip():
        errors.append(
            FieldError("target", "must name the member monitors, e.g. 'api-1,api-2'")
        )
        return []

    pieces = [piece.strip() for piece in target.split(",")]
    if "" in pieces:
        errors.append(
            FieldError(
                "target", "has an empty member id; separate the ids with single commas"
            )
        )
    counts = Counter(piece for piece in pieces if piece)
    members = list(counts)

    bad = [member for member in members if _MEMBER_ID.fullmatch(member) is None]
    if bad:
        errors.append(
            FieldError(
                "target",
                "member ids must be 1-64 letters, digits, '.', '_' or '-', starting "
                f"with a letter or digit, got {_quote(bad)}",
            )
        )
    repeated = [member for member in members if counts[member] > 1]
    if repeated:
        errors.append(FieldError("target", f"names {_quote(repeated)} more than once"))
    if own_id and own_id in members:
        errors.append(
            FieldError("target", f"must not name the composite itself ({own_id!r})")
        )
    if len(members) > MAX_MEMBERS:
        errors.append(
            FieldError(
                "target",
                f"may name at most {MAX_MEMBERS} members, got {len(members)}",
            )
        )
    return [member for member in members if member not in bad]


def _needed(value: Any, members: int, errors: list[FieldError]) -> int:
    """The ``at_least`` option, a whole number between 1 and the member count."""
    if value is None:
        errors.append(
            FieldError("options.at_least", "is required when options.mode is at_least")
        )
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append(
            FieldError("options.at_least", f"must be a whole number, got {value!r}")
        )
        return 0
    if value < 1 or (members and value > members):
        errors.append(
            FieldError(
                "options.at_least",
                f"must be between 1 and {max(members, 1)} (the number of members), "
                f"got {value}",
            )
        )
        return 0
    return value


def _name_members(down: list[str], answers: Mapping[str, MemberState]) -> str:
    """The first down members with their reasons, then how many more there are."""
    names = []
    for member in down[:NAMED_MEMBERS]:
        reason = answers[member].reason
        names.append(f"{member} ({reason})" if reason else member)
    text = ", ".join(names)
    if len(down) > NAMED_MEMBERS:
        text += f" and {len(down) - NAMED_MEMBERS} more"
    return text


def _uncounted_text(total: int) -> str:
    if total == 1:
        return "the member is paused, in maintenance or unknown"
    return f"all {total} members are paused, in maintenance or unknown"


def _quote(ids: list[str]) -> str:
    text = ", ".join(repr(member) for member in ids[:QUOTED_IDS])
    if len(ids) > QUOTED_IDS:
        text += f" and {len(ids) - QUOTED_IDS} more"
    return text


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


register(CompositeCheck)
