"""Slow drifts in a monitor's measurements and when they will cross a line.

Two forecasts live here: where latency is heading (a robust straight line
through the samples, and when it reaches a threshold), and when a TLS
certificate expires, from the days-to-expiry that HTTP checks report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

DAY: Final = 86400.0

MIN_POINTS: Final = 10
"""Fewer samples than this give no trend: a line through them says little."""

MAX_POINTS: Final = 2000
"""The most samples a fit uses; more are thinned evenly to this many.

Theil-Sen takes the median of the slopes between every pair of points, so
its time and memory grow with the square of the count: 2,000 points are
about two million slopes, a fraction of a second.
"""

CONFIDENCE: Final = 0.95
"""The confidence of the interval given around each slope."""

RENEWAL_JUMP_DAYS: Final = 1.0
"""How far days-to-expiry must rise between two checks to count as a renewal.

Days-to-expiry only falls while a certificate stays the same; a rise of
more than a day, and not a rounding wobble, means a new certificate.
"""


@dataclass(frozen=True, slots=True)
class Trend:
    """A straight line through latency samples, robust to outliers.

    The line gives ``intercept`` ms at the moment ``origin`` (unix seconds,
    the first sample) and rises ``slope`` ms per day, which lies between
    ``slope_low`` and ``slope_high`` with 95% confidence. ``points`` is how
    many samples were fitted, ``samples`` how many finite ones were given.
    When ``enough`` is false there was no fit, ``note`` says why and the
    numbers are NaN, so that no arithmetic on them passes for a forecast.
    """

    enough: bool
    slope: float
    slope_low: float
    slope_high: float
    intercept: float
    origin: float
    points: int
    samples: int
    note: str = ""

    def value_at(self, moment: float) -> float:
        """The fitted latency in ms at ``moment`` (unix seconds)."""
        return self.intercept + self.slope * (moment - self.origin) / DAY

    def to_dict(self) -> dict[str, Any]:
        def number(value: float) -> float | None:
            return value if self.enough else None

        return {
            "enough": self.enough,
            "slope": number(self.slope),
            "slope_low": number(self.slope_low),
            "slope_high": number(self.slope_high),
            "intercept": number(self.intercept),
            "origin": number(self.origin),
            "points": self.points,
            "samples": self.samples,
            "note": self.note,
        }


def latency_trend(at: ArrayLike, latency_ms: ArrayLike) -> Trend:
    """The Theil-Sen line through latency samples taken at ``at`` (unix seconds).

    Theil-Sen is the median of pairwise slopes, so a few timeouts or cold
    starts barely move it where least squares would swing. Never raises for
    too little data: it returns a Trend whose ``enough`` is false.

    1. Drop samples with no latency (NaN, as failed checks have) and order
       the rest by time.
    2. With fewer than ``MIN_POINTS`` samples, or all at one moment, stop.
    3. Thin to at most ``MAX_POINTS`` samples, evenly spaced in the series,
       to bound the quadratic cost; ``note`` says when this happened.
    4. Fit latency against days since the first sample.
    """
    times = np.asarray(at, dtype=np.float64)
    values = np.asarray(latency_ms, dtype=np.float64)
    if times.ndim != 1 or times.shape != values.shape:
        raise ValueError("at and latency_ms must be flat arrays of one length")

    finite = np.isfinite(times) & np.isfinite(values)
    order = np.argsort(times[finite], kind="stable")
    times, values = times[finite][order], values[finite][order]
    samples = len(times)
    if samples < MIN_POINTS:
        return _no_trend(samples, f"needs {MIN_POINTS} latency samples, got {samples}")
    if times[-1] == times[0]:
        return _no_trend(samples, "every latency sample was taken at one moment")

    note = ""
    if samples > MAX_POINTS:
        keep = _evenly(samples, MAX_POINTS)
        times, values = times[keep], values[keep]
        note = f"thinned evenly from {samples} to {MAX_POINTS} samples"

    origin = float(times[0])
    days = (times - origin) / DAY
    fit = stats.theilslopes(values, days, alpha=CONFIDENCE)
    return Trend(
        enough=True,
        slope=float(fit.slope),
        slope_low=float(fit.low_slope),
        slope_high=float(fit.high_slope),
        intercept=float(fit.intercept),
        origin=origin,
        points=len(times),
        samples=samples,
        note=note,
    )


def _no_trend(samples: int, note: str) -> Trend:
    nan = math.nan
    return Trend(False, nan, nan, nan, nan, nan, points=0, samples=samples, note=note)


def _evenly(count: int, keep: int) -> NDArray[np.intp]:
    """Indices of ``keep`` items spread evenly over ``count``, first and last kept."""
    return np.unique(np.linspace(0, count - 1, keep).round().astype(np.intp))


def crossing_time(trend: Trend, threshold_ms: float, now: float) -> float | None:
    """When the fitted latency line reaches ``threshold_ms``, or None.

    A forecast that cries wolf is worse than none, so this one is
    conservative:

    1. No fit, no forecast.
    2. If the line is already at or above the threshold at ``now``, there is
       nothing to forecast: the latency is there, and alerts say so.
    3. Only a rise that the data is sure of is forecast: the lower bound of
       the slope's confidence interval must be above zero. A flat, falling
       or merely possibly rising line gives None.
    4. The moment is where the fitted (median) line meets the threshold.
    """
    if not trend.enough:
        return None
    if trend.value_at(now) >= threshold_ms:
        return None
    if not trend.slope_low > 0:
        return None
    return trend.origin + (threshold_ms - trend.intercept) / trend.slope * DAY


@dataclass(frozen=True, slots=True)
class CertForecast:
    """When a certificate expires, as its latest check saw it.

    ``expires_at`` is the latest observation's moment plus its days to
    expiry. ``renewed`` says whether a new certificate appeared during the
    series, and ``renewed_at`` when it was first seen (the latest renewal).
    """

    expires_at: float
    observed_at: float
    days_left: float
    renewed: bool
    renewed_at: float | None

    def warn_at(self, days_before: float) -> float:
        """The moment ``days_before`` days ahead of expiry, to warn someone at."""
        if days_before < 0:
            raise ValueError(f"days_before must not be negative, got {days_before}")
        return self.expires_at - days_before * DAY

    def to_dict(self) -> dict[str, Any]:
        return {
            "expires_at": self.expires_at,
            "observed_at": self.observed_at,
            "days_left": self.days_left,
            "renewed": self.renewed,
            "renewed_at": self.renewed_at,
        }


def certificate_expiry(at: ArrayLike, cert_days: ArrayLike) -> CertForecast:
    """The expiry of a certificate from checks that reported its days to expiry.

    Checks without a certificate (NaN days) are skipped. Raises
    ``ValueError`` when none is left, since there is nothing to forecast.

    1. Order the observations by time.
    2. The latest gives the expiry: its moment plus its days, in seconds.
    3. Wherever days-to-expiry rose by more than ``RENEWAL_JUMP_DAYS``
       between two checks, the certificate was renewed at the later one.
    """
    times = np.asarray(at, dtype=np.float64)
    days = np.asarray(cert_days, dtype=np.float64)
    if times.ndim != 1 or times.shape != days.shape:
        raise ValueError("at and cert_days must be flat arrays of one length")

    finite = np.isfinite(times) & np.isfinite(days)
    order = np.argsort(times[finite], kind="stable")
    times, days = times[finite][order], days[finite][order]
    if len(times) == 0:
        raise ValueError("no check reported the certificate's days to expiry")

    rises = np.flatnonzero(np.diff(days) > RENEWAL_JUMP_DAYS)
    renewed_at = float(times[rises[-1] + 1]) if len(rises) else None
    return CertForecast(
        expires_at=float(times[-1] + days[-1] * DAY),
        observed_at=float(times[-1]),
        days_left=float(days[-1]),
        renewed=renewed_at is not None,
        renewed_at=renewed_at,
    )
