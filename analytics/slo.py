"""Service level objectives: their definitions, error budgets and burn-rate alerts.

An SLO promises that a share of checks goes well over a rolling window:
checks that succeed (availability) or that answer under a threshold
(latency). The share left over is the error budget. The functions here take
counts per rollup bucket, as the store gives them, and say how much budget is
left, when it runs out, and whether it is burning fast enough to wake
someone: the multi-window, multi-burn-rate alerts of the SRE workbook,
written down as data in ``BURN_ALERTS``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeGuard

import numpy as np
from numpy.typing import ArrayLike, NDArray

from alerting.rules import FieldReader
from engine.durations import format_duration
from engine.errors import ValidationError

DAY: Final = 86400.0

DEFAULT_WINDOW: Final = 30 * DAY
MIN_WINDOW: Final = 3600.0
MAX_WINDOW: Final = 90 * DAY

REFERENCE_WINDOW: Final = 30 * DAY
"""The window that the spans of ``BURN_ALERTS`` are written for."""

MAX_THRESHOLD_MS: Final = 600_000.0
"""The slowest latency threshold an objective may set: ten minutes."""

OBJECTIVE_KINDS: Final = ("availability", "latency")

ObjectiveKind = Literal["availability", "latency"]
Severity = Literal["page", "ticket"]


@dataclass(frozen=True, slots=True)
class Objective:
    """What share of checks must go well, and what going well means.

    ``target`` is a percentage strictly between 0 and 100. For ``latency``
    a check goes well when it answers faster than ``threshold_ms``: "p95
    under 300 ms" is a target of 95 with a threshold of 300.
    """

    kind: ObjectiveKind
    target: float
    threshold_ms: float | None = None

    @property
    def allowed_error(self) -> float:
        """The share of checks that may go badly, e.g. 0.001 for 99.9%."""
        return 1.0 - self.target / 100.0

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "target": self.target}
        if self.threshold_ms is not None:
            data["threshold_ms"] = self.threshold_ms
        return data


@dataclass(frozen=True, slots=True)
class Slo:
    """One objective over the monitors it names by id or by tag.

    The budget is counted over the rolling ``window`` (seconds) that ends
    now, so old failures stop counting once they are older than the window.
    """

    id: str
    objective: Objective
    name: str = ""
    monitors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    window: float = DEFAULT_WINDOW

    def covers(self, monitor_id: str, tags: Iterable[str]) -> bool:
        """Whether a monitor's checks count towards this objective."""
        if monitor_id in self.monitors:
            return True
        return bool(self.tags) and any(tag in self.tags for tag in tags)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "monitors": list(self.monitors),
            "tags": list(self.tags),
            "objective": self.objective.to_dict(),
            "window": self.window,
        }


def slo_from_dict(data: Any) -> Slo:
    """Check an SLO's definition; ``ValidationError`` names every bad field."""
    reader = FieldReader(data, Slo.__dataclass_fields__)
    slo_id = reader.ident()

    # Lists that are malformed already say so; an empty choice is said once.
    known = len(reader.errors)
    monitors = reader.names("monitors")
    tags = reader.names("tags", ids=False)
    if not monitors and not tags and len(reader.errors) == known:
        reader.problem("monitors", "name at least one monitor or tag")

    objective = Objective("availability", 99.9)
    try:
        objective = _objective_from_dict(reader.data.get("objective"))
    except ValidationError as exc:
        reader.errors.extend(error.within("objective") for error in exc.errors)

    window = reader.seconds("window", DEFAULT_WINDOW, MIN_WINDOW, MAX_WINDOW)
    slo = Slo(
        id=slo_id,
        objective=objective,
        name=reader.text("name", slo_id),
        monitors=monitors,
        tags=tags,
        window=window or DEFAULT_WINDOW,
    )
    reader.done()
    return slo


def _objective_from_dict(data: Any) -> Objective:
    kind = data.get("kind") if isinstance(data, Mapping) else None
    # An availability objective has no threshold, so one given is reported.
    fields = ["kind", "target"]
    if kind != "availability":
        fields.append("threshold_ms")
    reader = FieldReader(data, fields)
    if kind not in OBJECTIVE_KINDS:
        reader.problem("kind", f"must be availability or latency, got {kind!r}")

    target = reader.data.get("target")
    if not _is_number(target) or not 0.0 < target < 100.0:
        reader.problem(
            "target",
            f"must be a percentage between 0 and 100 (both excluded), got {target!r}",
        )
        target = 99.9

    threshold = reader.data.get("threshold_ms")
    if kind == "latency" and (
        not _is_number(threshold) or not 0.0 < threshold <= MAX_THRESHOLD_MS
    ):
        reader.problem(
            "threshold_ms",
            f"must be milliseconds above 0 and at most {MAX_THRESHOLD_MS:g}, "
            f"got {threshold!r}",
        )
        threshold = None
    reader.done()

    if kind == "latency" and threshold is not None:
        return Objective("latency", float(target), float(threshold))
    return Objective("availability", float(target))


def _is_number(value: object) -> TypeGuard[float]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


class _Counts:
    """Running sums of good and total checks, so that any span costs two look-ups.

    A bucket counts in the span ``[start, end)`` when its start falls inside
    it: rollups are whole buckets, so a span shorter than a bucket sees only
    the buckets that begin in it.
    """

    def __init__(self, at: ArrayLike, good: ArrayLike, total: ArrayLike) -> None:
        starts = np.asarray(at, dtype=np.float64)
        goods = np.asarray(good, dtype=np.float64)
        totals = np.asarray(total, dtype=np.float64)
        if starts.ndim != 1 or not starts.shape == goods.shape == totals.shape:
            raise ValueError("at, good and total must be flat arrays of one length")
        if np.any(np.diff(starts) < 0):
            raise ValueError("at must be in ascending order")
        if np.any(goods < 0) or np.any(goods > totals):
            raise ValueError("good must be between 0 and total in every bucket")
        self.at = starts
        self.good = np.concatenate(([0.0], np.cumsum(goods)))
        self.total = np.concatenate(([0.0], np.cumsum(totals)))

    def sums(
        self, starts: NDArray[np.float64], end: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Good and total checks in ``[start, end)`` for each of ``starts``."""
        low = np.searchsorted(self.at, starts, side="left")
        high = np.searchsorted(self.at, end, side="left")
        return self.good[high] - self.good[low], self.total[high] - self.total[low]

    def burn_rates(
        self, objective: Objective, now: float, spans: Sequence[float]
    ) -> NDArray[np.float64]:
        """The burn rate over the last ``span`` seconds, for each of ``spans``."""
        good, total = self.sums(now - np.asarray(spans, dtype=np.float64), now)
        bad = total - good
        errors = np.divide(bad, total, out=np.zeros_like(bad), where=total > 0)
        return errors / objective.allowed_error


def burn_rate(
    slo: Slo,
    at: ArrayLike,
    good: ArrayLike,
    total: ArrayLike,
    now: float,
    span: float,
) -> float:
    """How many times faster than allowed the budget burned over the last ``span``.

    The error rate of the buckets that start in ``[now - span, now)`` divided
    by the error rate the objective allows: 1 spends the budget exactly over
    the window, 2 spends it in half the window. It is 0 when there were no
    checks, since nothing was spent.
    """
    rates = _Counts(at, good, total).burn_rates(slo.objective, now, [span])
    return float(rates[0])


@dataclass(frozen=True, slots=True)
class Budget:
    """Where an SLO's error budget stands over the window that ends now.

    ``allowed`` and ``consumed`` are in checks; ``remaining`` is the share of
    the allowance still unspent, below zero once overspent. ``attained`` is
    the percentage of good checks, None when there were none.
    """

    good: int
    total: int
    attained: float | None
    allowed: float
    consumed: int
    remaining: float
    recent_burn_rate: float
    exhausted_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "good": self.good,
            "total": self.total,
            "attained": self.attained,
            "allowed": self.allowed,
            "consumed": self.consumed,
            "remaining": self.remaining,
            "recent_burn_rate": self.recent_burn_rate,
            "exhausted_at": self.exhausted_at,
        }


def budget(
    slo: Slo, at: ArrayLike, good: ArrayLike, total: ArrayLike, now: float
) -> Budget:
    """The error budget of ``slo`` over its window ending at ``now``.

    The forecast ``exhausted_at`` answers "if the last tenth of the window
    is how things go from here, when is the budget gone?":

    1. Measure the burn rate over the last tenth of the window.
    2. At a rate ``r`` a whole budget lasts ``window / r``, so the share left
       lasts ``remaining * window / r`` from now.
    3. Give no forecast (None) when the budget is already spent, or when the
       rate is at most 1: at or below the pace the objective allows, a
       rolling window's spending settles at that pace and never runs out.
    """
    counts = _Counts(at, good, total)
    good_sum, total_sum = counts.sums(np.array([now - slo.window]), now)
    good_count, total_count = float(good_sum[0]), float(total_sum[0])
    consumed = total_count - good_count
    allowed = slo.objective.allowed_error * total_count
    remaining = 1.0 - consumed / allowed if allowed > 0 else 1.0

    recent = float(counts.burn_rates(slo.objective, now, [slo.window / 10])[0])
    exhausted_at = None
    if remaining > 0 and recent > 1:
        exhausted_at = now + remaining * slo.window / recent

    return Budget(
        good=round(good_count),
        total=round(total_count),
        attained=100.0 * good_count / total_count if total_count else None,
        allowed=allowed,
        consumed=round(consumed),
        remaining=remaining,
        recent_burn_rate=recent,
        exhausted_at=exhausted_at,
    )


@dataclass(frozen=True, slots=True)
class BurnRule:
    """One alert of the set: a severity, two spans and the rate both must pass.

    The spans are written for a 30-day window and scale with the SLO's
    window, so the rule always means "this share of the whole budget was
    spent within the long span". The short span, a twelfth of the long one,
    makes the alert stop soon after the burning does.
    """

    severity: Severity
    long_span: float
    short_span: float
    threshold: float

    def spans(self, window: float) -> tuple[float, float]:
        """The long and short spans, in seconds, for an SLO of ``window``."""
        scale = window / REFERENCE_WINDOW
        return self.long_span * scale, self.short_span * scale


BURN_ALERTS: Final = (
    BurnRule("page", 3600.0, 300.0, 14.4),
    BurnRule("page", 6 * 3600.0, 1800.0, 6.0),
    BurnRule("ticket", 3 * DAY, 6 * 3600.0, 1.0),
)
"""The recommended rules: 2% of the budget in an hour or 5% in six hours
pages someone; 10% in three days opens a ticket."""


@dataclass(frozen=True, slots=True)
class BurnAlert:
    """A rule of ``BURN_ALERTS`` that fires now, with what was measured."""

    slo: str
    rule: BurnRule
    long_span: float
    short_span: float
    long_rate: float
    short_rate: float
    reason: str

    @property
    def severity(self) -> Severity:
        return self.rule.severity

    def to_dict(self) -> dict[str, Any]:
        return {
            "slo": self.slo,
            "severity": self.severity,
            "threshold": self.rule.threshold,
            "long_span": self.long_span,
            "short_span": self.short_span,
            "long_rate": self.long_rate,
            "short_rate": self.short_rate,
            "reason": self.reason,
        }


def burn_alerts(
    slo: Slo,
    at: ArrayLike,
    good: ArrayLike,
    total: ArrayLike,
    now: float,
    rules: Sequence[BurnRule] = BURN_ALERTS,
) -> list[BurnAlert]:
    """The rules that fire now: both their spans burn faster than the threshold.

    The long span shows enough budget went to matter; the short one shows it
    is still going, so a spike that is over stops paging. Every span is
    measured in one pass over running sums. The short spans are short (5
    minutes for a 30-day SLO, 70 seconds for a 7-day one), so the buckets
    should be as fine: a span sees only the buckets that start inside it.
    """
    counts = _Counts(at, good, total)
    spans = [rule.spans(slo.window) for rule in rules]
    flat = [span for pair in spans for span in pair]
    rates = counts.burn_rates(slo.objective, now, flat).reshape(-1, 2)

    firing: list[BurnAlert] = []
    for rule, (long_span, short_span), (long_rate, short_rate) in zip(
        rules, spans, rates.tolist(), strict=True
    ):
        if long_rate > rule.threshold and short_rate > rule.threshold:
            firing.append(
                BurnAlert(
                    slo=slo.id,
                    rule=rule,
                    long_span=long_span,
                    short_span=short_span,
                    long_rate=long_rate,
                    short_rate=short_rate,
                    reason=_reason(
                        slo.window, long_span, short_span, long_rate, short_rate
                    ),
                )
            )
    return firing


def _reason(
    window: float,
    long_span: float,
    short_span: float,
    long_rate: float,
    short_rate: float,
) -> str:
    return (
        f"error budget burning {long_rate:.1f}x too fast over "
        f"{_span_text(long_span)} (and {short_rate:.1f}x over "
        f"{_span_text(short_span)}): at this rate the {_window_text(window)} "
        f"budget lasts {_lasting_text(window / long_rate)}"
    )


def _span_text(seconds: float) -> str:
    return format_duration(float(round(seconds)) if seconds >= 1 else seconds)


def _window_text(seconds: float) -> str:
    if seconds % DAY == 0:
        return f"{seconds / DAY:g}-day"
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}-hour"
    return format_duration(seconds)


def _lasting_text(seconds: float) -> str:
    for unit, size in (("day", DAY), ("hour", 3600.0), ("minute", 60.0)):
        if seconds >= size:
            count = round(seconds / size)
            return f"{count} {unit}" if count == 1 else f"{count} {unit}s"
    return "under a minute"
