"""A bounded spool on disk for result batches the store cannot take right now.

When the primary store is unreachable, the Storage actor keeps each batch it
is handed here, as a file, and replays them in the order they came once the
store answers again. The spool has a size limit; to stay under it, whole
batches are given up, the oldest of the lowest priority first, and every
result given up is counted, so a loss is always reported.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# Priorities, as the scheduler ranks monitors: critical, normal, low. The
# spool gives up the highest number first.
PRIORITIES = ("critical", "normal", "low")

DEFAULT_MAX_BYTES = 256 * 1024 * 1024

_NAME = re.compile(r"(\d{12})-([a-z]+)-(\d)-(\d+)\.batch")


@dataclass(frozen=True, slots=True)
class Spooled:
    """One batch in the spool: its place in line, what it holds, its priority
    and how many records it carries."""

    sequence: int
    kind: str
    priority: int
    count: int
    size: int

    @property
    def name(self) -> str:
        return f"{self.sequence:012d}-{self.kind}-{self.priority}-{self.count}.batch"


class SpoolFull(Exception):
    """A batch is larger than the whole spool may hold."""


class Spool:
    """Batches kept in files under ``directory``, at most ``max_bytes`` of them.

    Each batch is one file, written under a temporary name and renamed, so a
    crash leaves either the whole batch or nothing. The files name their
    order, priority and result count, so a spool left by a previous run is
    picked up as it was.
    """

    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes: must be at least 1, got {max_bytes}")
        self.directory = directory
        self.max_bytes = max_bytes
        self._batches: list[Spooled] = []
        self._bytes = 0
        self._next = 0
        self.dropped = [0] * len(PRIORITIES)
        """Records given up to stay under the limit, by priority."""
        directory.mkdir(parents=True, exist_ok=True)
        self._load()

    def _load(self) -> None:
        for entry in sorted(self.directory.iterdir()):
            match = _NAME.fullmatch(entry.name)
            if match is None:
                if entry.name.endswith(".part"):
                    entry.unlink(missing_ok=True)
                continue
            size = entry.stat().st_size
            self._batches.append(
                Spooled(int(match[1]), match[2], int(match[3]), int(match[4]), size)
            )
            self._bytes += size
        if self._batches:
            self._next = self._batches[-1].sequence + 1
            logger.warning(
                "the spool holds %d records from before; they will be written",
                self.records,
            )

    def __len__(self) -> int:
        """Batches waiting."""
        return len(self._batches)

    @property
    def records(self) -> int:
        """Records (results, state changes) waiting, over every batch."""
        return sum(batch.count for batch in self._batches)

    @property
    def size(self) -> int:
        """Bytes the waiting batches take on disk."""
        return self._bytes

    def append(self, batch: bytes, *, kind: str, priority: int, count: int) -> None:
        """Keep a batch at the end of the line, making room if needed.

        ``kind`` says what the batch holds (a word of lower-case letters), for
        whoever replays it.

        1. A batch larger than the whole spool cannot be kept: its results
           are counted as dropped and ``SpoolFull`` is raised.
        2. While the spool would overflow, give up the oldest batch of the
           lowest priority present that is not above this batch's priority;
           if only more important batches are left, this batch is the one
           given up.
        3. Write the batch to a temporary file and rename it into place.
        """
        if not 0 <= priority < len(PRIORITIES):
            raise ValueError(f"priority: must be 0 to {len(PRIORITIES) - 1}")
        if not kind.isalpha() or not kind.islower():
            raise ValueError(f"kind: must be lower-case letters, got {kind!r}")
        if len(batch) > self.max_bytes:
            self.dropped[priority] += count
            raise SpoolFull(
                f"a batch of {len(batch)} bytes is larger than the spool "
                f"({self.max_bytes} bytes)"
            )
        while self._bytes + len(batch) > self.max_bytes:
            victim = self._least_needed(priority)
            if victim is None:
                self.dropped[priority] += count
                logger.error(
                    "the spool is full of more important records; %d %s ones dropped",
                    count,
                    PRIORITIES[priority],
                )
                return
            self._forget(victim)
            self.dropped[victim.priority] += victim.count
            logger.error(
                "the spool is full; dropped %d %s records, the oldest of them",
                victim.count,
                PRIORITIES[victim.priority],
            )
        spooled = Spooled(self._next, kind, priority, count, len(batch))
        self._next += 1
        temporary = self.directory / f"{spooled.name}.part"
        temporary.write_bytes(batch)
        os.replace(temporary, self.directory / spooled.name)
        self._batches.append(spooled)
        self._bytes += spooled.size

    def oldest(self) -> tuple[Spooled, bytes] | None:
        """The batch first in line and its bytes, or None when empty."""
        if not self._batches:
            return None
        first = self._batches[0]
        return first, (self.directory / first.name).read_bytes()

    def remove(self, spooled: Spooled) -> None:
        """Let go of a batch once the store has it."""
        self._forget(spooled)

    def _least_needed(self, priority: int) -> Spooled | None:
        for level in range(len(PRIORITIES) - 1, priority - 1, -1):
            for batch in self._batches:
                if batch.priority == level:
                    return batch
        return None

    def _forget(self, spooled: Spooled) -> None:
        self._batches.remove(spooled)
        self._bytes -= spooled.size
        (self.directory / spooled.name).unlink(missing_ok=True)
