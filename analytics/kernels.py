"""The compiled loops of ``analytics.anomaly``: running means over a series.

Every figure here is a recurrence (each row's value depends on the row
before), which numpy can only build from several whole-array passes and
temporaries; one compiled loop per series does it in a single pass, several
times faster. numba compiles them on first use and keeps the machine code in
``__pycache__``, so only the first process on a machine pays the few seconds.

The loops give what the numpy definitions in ``analytics.anomaly``'s
docstrings say, in the same order of operations.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Codes below this are counted in a table that stays in the processor's
# cache; for larger ones the table's page faults cost more than a sort.
COUNTED_CODES = 1 << 16


@njit(cache=True, nogil=True)
def surprise(values: np.ndarray, alpha: float, error_alpha: float) -> np.ndarray:
    """``log1p(error / (usual + floor))`` of each value against the prediction."""
    count = len(values)
    out = np.empty(count)
    predicted = values[0]
    usual = abs(values[0]) * 0.01 + 1e-9
    for row in range(count):
        value = values[row]
        error = abs(value - predicted)
        floor = 1e-3 * abs(predicted) + 1e-9
        out[row] = math.log1p(error / (usual + floor))
        predicted = (1.0 - alpha) * predicted + alpha * value
        usual = (1.0 - error_alpha) * usual + error_alpha * error
    return out


@njit(cache=True, nogil=True)
def level_shift(values: np.ndarray, fast: float, slow: float) -> np.ndarray:
    """``log1p(|fast mean - slow mean| / (usual step + 1e-9))``, this row included."""
    count = len(values)
    out = np.empty(count)
    start = values[0]
    quick = start
    steady = start
    step = abs(start) * 0.01 + 1e-9
    last = start
    for row in range(count):
        value = values[row]
        quick = (1.0 - fast) * quick + fast * value
        steady = (1.0 - slow) * steady + slow * value
        step = (1.0 - slow) * step + slow * abs(value - last)
        last = value
        out[row] = math.log1p(abs(quick - steady) / (step + 1e-9))
    return out


@njit(cache=True, nogil=True)
def likelihood_rows(raws: np.ndarray, history: float, shorts: np.ndarray) -> np.ndarray:
    """The likelihood of every row of ``raws``, row ``k`` averaged by ``shorts[k]``.

    Per row: the recent figure (an EWMA by ``short`` from the first value)
    against the mean and variance (EWMAs by ``history``, from the first
    value and 1) of the rows before it, through the logistic fit of the
    normal distribution.
    """
    views, count = raws.shape
    out = np.empty((views, count))
    for view in range(views):
        short = shorts[view]
        first = raws[view, 0]
        mean = first
        variance = 1.0
        recent = first
        for row in range(count):
            raw = raws[view, row]
            recent = (1.0 - short) * recent + short * raw
            out[view, row] = (recent - mean) / math.sqrt(variance + 1e-9)
            deviation = raw - mean
            variance = (1.0 - history) * variance + history * deviation * deviation
            mean = (1.0 - history) * mean + history * raw
    # The distribution function in a loop of its own, free of the running
    # state, which the compiler can vectorise.
    flat = out.ravel()
    for index in range(len(flat)):
        z = flat[index]
        flat[index] = 1.0 / (1.0 + math.exp(-((z * z * 0.070566 + 1.5976) * z)))
    return out


@njit(cache=True, nogil=True)
def seen_before(codes: np.ndarray, size: int) -> np.ndarray:
    """For each row, how many earlier rows hold the same code (``0 <= code < size``)."""
    counts = np.zeros(size, np.int32)
    out = np.empty(len(codes), np.int64)
    for row in range(len(codes)):
        code = codes[row]
        out[row] = counts[code]
        counts[code] += 1
    return out
