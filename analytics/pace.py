"""Deciding, inside a shard, which monitors are slow or fast enough to be DEGRADED.

A monitor is slow when the median of its last ``RECENT`` latencies is far
above its usual latency: more than ``FACTOR`` times it, more than ``SPREAD``
robust deviations above it, and more than ``MIN_EXTRA_MS`` above it, so that
neither a noisy monitor nor a one-millisecond one flaps into DEGRADED. It is
fast by the mirror of that rule: under the usual latency divided by
``FACTOR``, and ``SPREAD`` deviations and ``MIN_EXTRA_MS`` below it. A
heartbeat job that reports its duration and suddenly finishes in seconds
instead of minutes has most likely skipped its work; an endpoint that
answers ten times faster than usual is most likely serving an error page.
The median of several recent checks makes either condition sustained: one
odd check is not enough.

The usual latency is the monitor's own for this hour of the week when the
owner has a trusted seasonal baseline for it (``analytics.rolling``), so a
service that is always slow on Monday mornings is not degraded then, and
one that is fast at night is degraded when it is not. Otherwise it is the
median of the latency ring (the last 256 passing checks). The robust spread
always comes from the ring, scaled to the usual latency.

While a monitor is degraded its usual latency is frozen at what it was when
the spell began, so a spell that lasts longer than the ring does not become
the new normal; a slow spell is over when the recent median falls to
``RECOVER_FACTOR`` times that usual latency, a fast one when it rises to
the usual latency divided by ``RECOVER_FACTOR``.

The work is array operations on the rows of the latency ring of the slots
that had results since the last look; the full median is taken only for
rows whose recent median already stands out against the ring's mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from engine.latency import SAMPLES

RECENT: Final = 5
MIN_SAMPLES: Final = 10
"""Latencies a monitor needs in its ring before it can be judged."""

FACTOR: Final = 2.0
SPREAD: Final = 5.0
MIN_EXTRA_MS: Final = 20.0
RECOVER_FACTOR: Final = 1.5

Slots = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Verdicts:
    """Slots whose pace changed, each with its message, None when back to usual."""

    slots: Slots
    messages: list[str | None]


class PaceJudge:
    """The usual latency of each slot while it is slow or fast, and the verdicts."""

    def __init__(self, capacity: int) -> None:
        self._usual = np.full(capacity, np.nan, np.float64)
        self._fast = np.zeros(capacity, np.bool_)

    def grow(self, capacity: int) -> None:
        if capacity > len(self._usual):
            grown = np.full(capacity, np.nan, np.float64)
            grown[: len(self._usual)] = self._usual
            self._usual = grown
            fast = np.zeros(capacity, np.bool_)
            fast[: len(self._fast)] = self._fast
            self._fast = fast

    def judge(
        self,
        slots: Slots,
        samples: npt.NDArray[np.float16],
        positions: npt.NDArray[np.uint8],
        marked: Bools,
        seasonal: Floats | None = None,
        season: str = "",
    ) -> Verdicts:
        """Which of ``slots`` (distinct) became slow or fast, or are usual again.

        ``samples`` and ``positions`` are the shard's latency rings
        (``engine.latency.LatencyRings``); ``marked`` says, for each of the
        slots, whether it is marked degraded now. ``seasonal`` is each slot's
        trusted usual latency for now (NaN where there is none), and
        ``season`` names when now is, for the reason ("Tuesday 14:00 UTC").
        """
        if len(slots) == 0:
            return Verdicts(slots, [])
        self.grow(int(slots.max()) + 1)
        rows = samples[slots].astype(np.float64)
        last = (positions[slots].astype(np.int64)[:, None] - 1 - np.arange(RECENT)) % (
            SAMPLES
        )
        recent_rows = np.take_along_axis(rows, last, axis=1)
        filled = np.count_nonzero(~np.isnan(rows), axis=1)
        enough = filled >= MIN_SAMPLES
        with np.errstate(all="ignore"):
            recent = np.nanmedian(np.where(enough[:, None], recent_rows, 0.0), axis=1)
            mean = np.nanmean(np.where(enough[:, None], rows, 0.0), axis=1)
        if seasonal is None:
            seasonal = np.full(len(slots), np.nan)
        known = np.isfinite(seasonal) & (seasonal > 0)

        changed: list[int] = []
        messages: list[str | None] = []

        # Degraded ones back to usual, against the latency frozen when the
        # spell began.
        usual = self._usual[slots]
        fast = self._fast[slots]
        over = marked & np.where(
            fast, recent >= usual / RECOVER_FACTOR, recent <= RECOVER_FACTOR * usual
        )
        for slot in slots[over].tolist():
            changed.append(slot)
            messages.append(None)
            self._usual[slot] = np.nan
            self._fast[slot] = False

        # Candidates: not degraded yet, and the recent median stands out
        # against the ring's mean already.
        reference = np.where(known, seasonal, mean)
        with np.errstate(all="ignore"):
            candidate = (
                ~marked
                & enough
                & ((recent > FACTOR * reference) | (recent < reference / FACTOR))
            )
        if not candidate.any():
            return Verdicts(np.array(changed, dtype=np.int64), messages)

        chosen = rows[candidate]
        median = np.nanmedian(chosen, axis=1)
        spread = 1.4826 * np.nanmedian(np.abs(chosen - median[:, None]), axis=1)
        by_season = known[candidate]
        centre = np.where(by_season, seasonal[candidate], median)
        with np.errstate(all="ignore"):
            spread = np.where(by_season, spread * centre / median, spread)
        fresh = recent[candidate]
        slow = (
            (fresh > FACTOR * centre)
            & (fresh > centre + SPREAD * spread)
            & (fresh > centre + MIN_EXTRA_MS)
        )
        quick = (
            (fresh < centre / FACTOR)
            & (fresh < centre - SPREAD * spread)
            & (fresh < centre - MIN_EXTRA_MS)
        )
        for slot, now_ms, usual_ms, seasonal_usual, is_fast in zip(
            slots[candidate][slow | quick].tolist(),
            fresh[slow | quick].tolist(),
            centre[slow | quick].tolist(),
            by_season[slow | quick].tolist(),
            quick[slow | quick].tolist(),
            strict=True,
        ):
            changed.append(slot)
            messages.append(
                pace_message(
                    now_ms, usual_ms, season if seasonal_usual else "", fast=is_fast
                )
            )
            self._usual[slot] = usual_ms
            self._fast[slot] = is_fast
        return Verdicts(np.array(changed, dtype=np.int64), messages)


def pace_message(
    recent_ms: float, usual_ms: float, season: str = "", *, fast: bool = False
) -> str:
    """Why a monitor is DEGRADED, for people; ``season`` names the usual's hour."""
    usual = (
        f"usual {usual_ms:,.0f} ms for {season}"
        if season
        else (f"usually {usual_ms:,.0f} ms")
    )
    pace = "fast" if fast else "slow"
    return f"{pace}: latency {recent_ms:,.0f} ms over the last {RECENT} checks, {usual}"
