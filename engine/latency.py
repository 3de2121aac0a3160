"""The latency history of every monitor in a shard, kept in one 2-D array.

Each monitor owns one row of ``SAMPLES`` slots. Rows are addressed by the
scheduler's slot number, so a million monitors cost one array and no Python
object per sample. Values are float16 milliseconds: 512 bytes a monitor, with
about three significant digits (123.4 ms is kept as 123.4 or 123.5), which is
finer than network jitter. Latencies above ``MAX_LATENCY_MS`` (about 65 s) are
kept as that ceiling. An empty entry is NaN, so a fresh row reads as empty
without a separate count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLES = 256
MAX_LATENCY_MS = float(np.finfo(np.float16).max)

SampleArray = npt.NDArray[np.float16]
PositionArray = npt.NDArray[np.uint8]


class LatencyRings:
    """A ring of the last ``SAMPLES`` latencies for each slot.

    ``positions[slot]`` is where the next sample goes; since ``SAMPLES`` is 256
    a uint8 wraps by itself. The array grows by doubling, like the
    scheduler's other per-slot arrays. Rows are cleared when a slot is taken
    (``reset``), never ahead of time: the memory of rows no slot has used yet
    is left untouched, so the kernel backs it with pages only once used and
    doubling the capacity does not double the resident size.
    """

    __slots__ = ("positions", "samples")

    def __init__(self, capacity: int) -> None:
        self.samples: SampleArray = np.empty((capacity, SAMPLES), np.float16)
        self.positions: PositionArray = np.zeros(capacity, np.uint8)

    @property
    def capacity(self) -> int:
        return int(self.samples.shape[0])

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` slots, keeping every existing row."""
        old = self.capacity
        if capacity <= old:
            return
        samples = np.empty((capacity, SAMPLES), np.float16)
        samples[:old] = self.samples
        positions = np.zeros(capacity, np.uint8)
        positions[:old] = self.positions
        self.samples = samples
        self.positions = positions

    def reset(self, slot: int) -> None:
        """Forget a slot's history, ready for a new monitor."""
        self.samples[slot] = np.nan
        self.positions[slot] = 0

    def record(self, slot: int, latency_ms: float) -> None:
        position = int(self.positions[slot])
        self.samples[slot, position] = min(max(latency_ms, 0.0), MAX_LATENCY_MS)
        self.positions[slot] = (position + 1) % SAMPLES

    def history(self, slot: int) -> npt.NDArray[np.float32]:
        """The slot's samples, oldest first, as a float32 copy without gaps."""
        position = int(self.positions[slot])
        row = self.samples[slot]
        ordered = np.concatenate((row[position:], row[:position]))
        kept: npt.NDArray[Any] = ordered[~np.isnan(ordered)]
        return kept.astype(np.float32)
