"""Deciding, inside a shard, which monitors are slow enough to be DEGRADED.

A monitor is slow when the median of its last ``RECENT`` latencies is far
above its usual latency: more than ``FACTOR`` times it, more than ``SPREAD``
robust deviations above it, and more than ``MIN_EXTRA_MS`` above it, so that
neither a noisy monitor nor a one-millisecond one flaps into DEGRADED. The
median of several recent checks makes the condition sustained: one slow
check is not enough.

The usual latency is the monitor's own for this hour of the week when the
owner has a trusted seasonal baseline for it (``analytics.rolling``), so a
service that is always slow on Monday mornings is not degraded then, and
one that is fast at night is degraded when it is not. Otherwise it is the
median of the latency ring (the last 256 passing checks). The robust spread
always comes from the ring, scaled to the usual latency.

While a monitor is slow its usual latency is frozen at what it was when it
became slow, so a slow spell that lasts longer than the ring does not
become the new normal; it is over when the recent median falls to
``RECOVER_FACTOR`` times that usual latency.

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
"""Latencies a monitor needs in its ring before it can be judged slow."""

FACTOR: Final = 2.0
SPREAD: Final = 5.0
MIN_EXTRA_MS: Final = 20.0
RECOVER_FACTOR: Final = 1.5

Slots = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Verdicts:
    """Slots whose slowness changed, each with its message, None when over."""

    slots: Slots
    messages: list[str | None]


class SlownessJudge:
    """The usual latency of each slot while it is slow, and the verdicts."""

    def __init__(self, capacity: int) -> None:
        self._usual = np.full(capacity, np.nan, np.float64)

    def grow(self, capacity: int) -> None:
        if capacity > len(self._usual):
            grown = np.full(capacity, np.nan, np.float64)
            grown[: len(self._usual)] = self._usual
            self._usual = grown

    def judge(
        self,
        slots: Slots,
        samples: npt.NDArray[np.float16],
        positions: npt.NDArray[np.uint8],
        marked: npt.NDArray[np.bool_],
        seasonal: Floats | None = None,
        season: str = "",
    ) -> Verdicts:
        """Which of ``slots`` (distinct) became slow or stopped being slow.

        ``samples`` and ``positions`` are the shard's latency rings
        (``engine.latency.LatencyRings``); ``marked`` says, for each of the
        slots, whether it is marked slow now. ``seasonal`` is each slot's
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

        # Slow ones that recovered, against the latency frozen when they slowed.
        usual = self._usual[slots]
        over = marked & (recent <= RECOVER_FACTOR * usual)
        for slot in slots[over].tolist():
            changed.append(slot)
            messages.append(None)
            self._usual[slot] = np.nan

        # Candidates: not slow yet, and the recent median stands out already.
        reference = np.where(known, seasonal, mean)
        candidate = ~marked & enough & (recent > FACTOR * reference)
        if candidate.any():
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
            for slot, now_ms, usual_ms, seasonal_usual in zip(
                slots[candidate][slow].tolist(),
                fresh[slow].tolist(),
                centre[slow].tolist(),
                by_season[slow].tolist(),
                strict=True,
            ):
                changed.append(slot)
                messages.append(
                    slow_message(now_ms, usual_ms, season if seasonal_usual else "")
                )
                self._usual[slot] = usual_ms
        return Verdicts(np.array(changed, dtype=np.int64), messages)


def slow_message(recent_ms: float, usual_ms: float, season: str = "") -> str:
    """Why a monitor is DEGRADED, for people; ``season`` names the usual's hour."""
    usual = (
        f"usual {usual_ms:,.0f} ms for {season}"
        if season
        else (f"usually {usual_ms:,.0f} ms")
    )
    return f"slow: latency {recent_ms:,.0f} ms over the last {RECENT} checks, {usual}"
