"""The ``push`` check kind: a dead man's switch fed by heartbeats from a job.

The watched job calls ``/push/<token>`` on the push server each time it runs;
the check only reads the heartbeat book. A ping is expected every interval
of the monitor, or at each time of a cron expression read in a time zone,
and the check goes down when the expected ping plus a grace period passes
without one. ``next_due`` tells the scheduler to look right after each such
deadline, so a missed ping is noticed when it becomes missed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from engine import heartbeats
from engine.checks import register
from engine.checks.base import Check, CheckSpec, unknown_options
from engine.durations import format_duration, parse_duration
from engine.errors import FieldError, ValidationError
from engine.heartbeats import Heartbeats, Ping
from engine.result import CheckFailure, Observation, Reason

logger = logging.getLogger(__name__)

OPTIONS = ("grace", "cron", "timezone")
DEFAULT_GRACE = 60.0
MAX_GRACE = 7 * 86400.0
UTC = ZoneInfo("UTC")

# How long after a deadline the scheduler is asked to look, so the deadline
# has certainly passed when it does.
AFTER_DEADLINE = 0.001


class PushCheck(Check):
    """Fail when no heartbeat arrived in time, or the last one reported failure."""

    __slots__ = ("_book", "_cron", "_grace", "_period", "_token", "_zone")

    kind = "push"

    def __init__(
        self,
        token: str,
        period: float,
        grace: float,
        cron: str | None = None,
        zone: ZoneInfo = UTC,
        book: Heartbeats | None = None,
    ) -> None:
        self._token = token
        self._period = period
        self._grace = grace
        self._cron = cron
        self._zone = zone
        self._book = book

    @classmethod
    def prepare(cls, spec: CheckSpec, *, book: Heartbeats | None = None) -> Self:
        """Validate the token and schedule, reporting every problem together.

        ``book`` is where heartbeats are read; the module's default book when
        not given, which is the one the push server writes to.
        """
        errors: list[FieldError] = []
        options = spec.options
        errors.extend(unknown_options(options, OPTIONS))

        token = spec.target.strip() or spec.monitor_id
        if not heartbeats.valid_token(token):
            errors.append(
                FieldError(
                    "target",
                    f"a push token must be {heartbeats.TOKEN_RULE}, got {token!r}",
                )
            )

        grace = DEFAULT_GRACE
        try:
            grace = parse_duration(options.get("grace", DEFAULT_GRACE))
            if not 0 <= grace <= MAX_GRACE:
                raise ValueError(f"must be between 0s and 7d, got {grace:g}s")
        except ValueError as exc:
            errors.append(FieldError("options.grace", str(exc)))

        zone = _zone(options.get("timezone"), errors)
        cron = options.get("cron")
        if cron is not None:
            if not isinstance(cron, str):
                errors.append(FieldError("options.cron", f"must be text, got {cron!r}"))
                cron = None
            elif zone is not None:
                try:
                    CronSim(cron, datetime.now(zone))
                except CronSimError as exc:
                    errors.append(
                        FieldError(
                            "options.cron",
                            f"is not a valid cron expression ({exc}), got {cron!r}",
                        )
                    )
        elif "timezone" in options:
            errors.append(
                FieldError("options.timezone", "only applies with options.cron")
            )

        if errors:
            raise ValidationError(errors)
        return cls(token, spec.interval, grace, cron, zone or UTC, book)

    @property
    def token(self) -> str:
        return self._token

    @property
    def book(self) -> Heartbeats:
        return self._book if self._book is not None else heartbeats.default

    def expected_after(self, moment: float) -> float:
        """When the ping after one at ``moment`` is expected, before any grace."""
        if self._cron is None:
            return moment + self._period
        start = datetime.fromtimestamp(moment, self._zone)
        return next(CronSim(self._cron, start)).timestamp()

    def deadline(self) -> float:
        """The moment the check goes down unless a ping arrives before it."""
        return self.expected_after(self._reference(self.book.last(self._token))) + (
            self._grace
        )

    async def run(self) -> Observation:
        """Judge the latest heartbeat against the schedule; nothing is awaited."""
        book = self.book
        now = book.now()
        ping = book.last(self._token)
        reference = self._reference(ping)
        deadline = self.expected_after(reference) + self._grace
        details: dict[str, Any] = {
            "token": self._token,
            "last_ping": None if ping is None else ping.at,
            "deadline": deadline,
        }

        if now > deadline:
            since = (
                f"since {self._show(reference)}"
                if ping is not None
                else f"since watching began at {self._show(reference)}"
            )
            raise CheckFailure(
                Reason.MISSED,
                f"no ping {since} ({_ago(now - reference)} ago), {self._expectation()}",
                retryable=False,
                details=details,
            )
        if ping is None:
            return Observation(0.0, details=details, message="waiting for a first ping")
        if ping.duration_ms is not None:
            details["duration_ms"] = ping.duration_ms
        if not ping.ok:
            said = f": {ping.message}" if ping.message else ""
            raise CheckFailure(
                Reason.ASSERTION,
                f"the job reported failure at {self._show(ping.at)}{said}",
                retryable=False,
                details=details,
            )
        return Observation(
            ping.duration_ms or 0.0, details=details, message=ping.message
        )

    def next_due(self, now: float) -> float | None:
        """Right after the deadline, or one interval on if that comes first.

        Once the deadline has passed the regular interval applies again, so
        a late ping still brings the monitor back up promptly.
        """
        deadline = self.deadline()
        if deadline < now:
            return None
        return min(deadline + AFTER_DEADLINE, now + self._period)

    def _reference(self, ping: Ping | None) -> float:
        return ping.at if ping is not None else self.book.watch(self._token)

    def _expectation(self) -> str:
        grace = format_duration(self._grace)
        if self._cron is None:
            return f"expected every {format_duration(self._period)} plus {grace} grace"
        return f"expected on '{self._cron}' ({self._zone.key}) plus {grace} grace"

    def _show(self, moment: float) -> str:
        return datetime.fromtimestamp(moment, self._zone).strftime(
            "%Y-%m-%d %H:%M:%S %Z"
        )


def _zone(value: Any, errors: list[FieldError]) -> ZoneInfo | None:
    if value is None:
        return UTC
    if not isinstance(value, str) or not value:
        errors.append(
            FieldError("options.timezone", f"must be a time zone name, got {value!r}")
        )
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        errors.append(
            FieldError(
                "options.timezone",
                f"must be a time zone name such as Europe/Istanbul, got {value!r}",
            )
        )
        return None


def _ago(seconds: float) -> str:
    return format_duration(round(seconds) if seconds >= 1 else round(seconds, 3))


register(PushCheck)
