"""Which monitors fail together, and which of them is the likely root of a failure.

Everything here is a pure function of state changes, spans and monitor
definitions: nothing reads a store or a clock, so the same history always
gives the same groups and the same root.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from engine.events import StateChange
from engine.result import MonitorState

Span = tuple[float, float]
CountMatrix = npt.NDArray[np.int32]
RatioMatrix = npt.NDArray[np.float32]
CountVector = npt.NDArray[np.int64]
Dependencies = Mapping[str, Sequence[str]]

# The pair matrices grow with the square of the monitors: 5,000 monitors keep
# 25 million pairs, about 300 MB, and reach about 500 MB while computed.
MAX_MONITORS = 5_000
# The failing matrix holds a byte per monitor and bucket: 5,000 monitors over
# 50,000 buckets (a month of minutes) is 250 MB.
MAX_BUCKETS = 50_000
# Buckets multiplied at once. The float32 copy of a block costs
# monitors x CHUNK x 4 bytes, so the whole window is never copied at once.
CHUNK = 4_096


def failure_spans(
    changes: Iterable[StateChange], until: float, *, since: float | None = None
) -> dict[str, list[Span]]:
    """The intervals each monitor spent DOWN, from its state changes.

    Spans are what the co-failure matrix is built from, and the first one of an
    incident tells when a monitor was first seen failing. Every monitor the
    changes mention gets an entry, an empty list if it never went down, so a
    caller sees the monitors that stayed up as well. Keys are in id order.

    1. Changes are taken in time order (equal times keep their given order);
       those after ``until`` are not looked at.
    2. A change to DOWN opens a span unless one is open already; a change to
       any other state (PENDING and UP alike) closes it.
    3. A monitor whose first change leaves DOWN was already down before it:
       with ``since`` its span starts there, without it the start is unknown
       and that span is left out.
    4. A span still open ends at ``until``. Spans are cut to ``[since, until]``
       and those left with no length are dropped.
    """
    ordered = sorted(changes, key=lambda change: change.at)
    spans: dict[str, list[Span]] = {}
    opened: dict[str, float | None] = {}
    start_of_window = -math.inf if since is None else since

    def close(monitor_id: str, start: float, end: float) -> None:
        start = max(start, start_of_window)
        end = min(end, until)
        if end > start:
            spans[monitor_id].append((start, end))

    for change in ordered:
        if change.at > until:
            break
        monitor_id = change.monitor_id
        if monitor_id not in spans:
            spans[monitor_id] = []
            down_before = change.before is MonitorState.DOWN
            opened[monitor_id] = since if down_before else None

        start = opened[monitor_id]
        if change.after is MonitorState.DOWN:
            if start is None:
                opened[monitor_id] = change.at
        elif start is not None:
            close(monitor_id, start, change.at)
            opened[monitor_id] = None

    for monitor_id, start in opened.items():
        if start is not None:
            close(monitor_id, start, until)
    return {monitor_id: spans[monitor_id] for monitor_id in sorted(spans)}


class Pair(NamedTuple):
    """How two monitors failed together, read out of a ``CoFailure``."""

    together: int
    jaccard: float
    lift: float


@dataclass(frozen=True, slots=True, eq=False)
class CoFailure:
    """How often each pair of monitors failed in the same time buckets.

    Row and column ``i`` of every matrix is ``monitor_ids[i]``; the matrices
    are symmetric. ``failing[i]`` counts the buckets in which monitor ``i``
    failed at all, and the diagonal of ``together`` repeats it.

    ``jaccard`` is the buckets failing together over the buckets in which
    either failed: 1 when the two always fail at the same time. ``lift`` is
    P(both) / (P(a) P(b)) over the ``buckets`` of the window: about 1 for two
    monitors that fail independently, well above 1 for two that fail
    together, 0 for two that never overlap. Both are 0 where undefined (a
    monitor that never failed).
    """

    monitor_ids: tuple[str, ...]
    since: float
    bucket: float
    buckets: int
    failing: CountVector
    together: CountMatrix
    jaccard: RatioMatrix
    lift: RatioMatrix

    def pair(self, a: str, b: str) -> Pair:
        """The figures for monitors ``a`` and ``b``; KeyError for an unknown id."""
        i, j = self._index(a), self._index(b)
        return Pair(
            together=int(self.together[i, j]),
            jaccard=float(self.jaccard[i, j]),
            lift=float(self.lift[i, j]),
        )

    def _index(self, monitor_id: str) -> int:
        try:
            return self.monitor_ids.index(monitor_id)
        except ValueError:
            raise KeyError(monitor_id) from None


def co_failures(
    spans: Mapping[str, Sequence[Span]],
    *,
    bucket: float = 60.0,
    since: float,
    until: float,
) -> CoFailure:
    """Count, for every pair of monitors, the time buckets in which both failed.

    Failing in the same minute is the evidence that two monitors share a
    cause; the counts feed ``related_groups``. Pass the monitors involved in
    recent incidents, not the whole fleet: memory grows with the square of
    the monitors. The failing matrix costs a byte per monitor and bucket, and
    the three pair matrices 12 bytes per pair (300 MB at ``MAX_MONITORS``),
    with temporaries taking the peak to about 20 bytes per pair. Above
    ``MAX_MONITORS`` monitors or ``MAX_BUCKETS`` buckets the call is refused
    with a ValueError naming the argument.

    1. The window ``[since, until)`` is cut into buckets of ``bucket``
       seconds; the last one may be shorter.
    2. A boolean matrix, monitors x buckets, is True where any DOWN span of
       the monitor overlaps the bucket by more than an instant.
    3. Its product with its own transpose, as float32 and a block of buckets
       at a time, counts the buckets failing together for every pair (float32
       is exact for counts below 2**24, far above ``MAX_BUCKETS``).
    4. Jaccard and lift follow from those counts and the diagonal.
    """
    if bucket <= 0:
        raise ValueError(f"bucket must be more than 0 seconds, got {bucket}")
    if until <= since:
        raise ValueError(f"until ({until}) must come after since ({since})")
    if len(spans) > MAX_MONITORS:
        raise ValueError(
            f"spans has {len(spans)} monitors, at most {MAX_MONITORS} are taken: "
            "pass the monitors of recent incidents, not the whole fleet"
        )
    buckets = math.ceil((until - since) / bucket)
    if buckets > MAX_BUCKETS:
        raise ValueError(
            f"bucket of {bucket} s cuts the window into {buckets} buckets, "
            f"at most {MAX_BUCKETS} are taken: use longer buckets or a shorter "
            "window"
        )

    monitor_ids = tuple(sorted(spans))
    failing_matrix = _failing_matrix(spans, monitor_ids, since, bucket, buckets)

    together_f = np.zeros((len(monitor_ids), len(monitor_ids)), np.float32)
    for first in range(0, buckets, CHUNK):
        block = failing_matrix[:, first : first + CHUNK].astype(np.float32)
        together_f += block @ block.T
        del block

    failing: CountVector = failing_matrix.sum(axis=1, dtype=np.int64)
    counts = failing.astype(np.float32)
    del failing_matrix

    # One m x m buffer serves first as the union, then as P(a) P(b).
    scratch = np.add.outer(counts, counts)
    scratch -= together_f
    jaccard: RatioMatrix = np.zeros_like(together_f)
    np.divide(together_f, scratch, out=jaccard, where=scratch > 0)

    np.multiply.outer(counts, counts, out=scratch)
    lift: RatioMatrix = np.zeros_like(together_f)
    np.divide(together_f, scratch, out=lift, where=scratch > 0)
    lift *= np.float32(buckets)
    del scratch

    together: CountMatrix = np.rint(together_f).astype(np.int32)
    return CoFailure(
        monitor_ids=monitor_ids,
        since=since,
        bucket=bucket,
        buckets=buckets,
        failing=failing,
        together=together,
        jaccard=jaccard,
        lift=lift,
    )


def _failing_matrix(
    spans: Mapping[str, Sequence[Span]],
    monitor_ids: Sequence[str],
    since: float,
    bucket: float,
    buckets: int,
) -> npt.NDArray[np.bool_]:
    """Monitors x buckets, True where a span overlaps the bucket.

    Bucket ``k`` covers ``[since + k * bucket, since + (k + 1) * bucket)``, so
    a span ``[start, end)`` touches buckets ``floor((start - since) / bucket)``
    up to ``ceil((end - since) / bucket) - 1``. One slice is set per span:
    spans are few next to buckets, and a slice costs no index array.
    """
    matrix = np.zeros((len(monitor_ids), buckets), np.bool_)
    for row, monitor_id in enumerate(monitor_ids):
        for start, end in spans[monitor_id]:
            if end <= start:
                continue
            first = max(math.floor((start - since) / bucket), 0)
            last = min(math.ceil((end - since) / bucket), buckets)
            if first < last:
                matrix[row, first:last] = True
    return matrix


def related_groups(
    co: CoFailure, *, min_jaccard: float = 0.5, min_together: int = 3
) -> list[list[str]]:
    """Groups of monitors that fail together, largest first.

    A group is what an operator would look at as one problem, and what
    ``likely_root`` names a root for. Singletons are left out: a monitor
    that fails on its own needs no grouping.

    1. Two monitors are linked when they failed together in at least
       ``min_together`` buckets and their Jaccard index is at least
       ``min_jaccard``; both are needed, since one shared bucket of two
       rarely failing monitors gives a high Jaccard by chance.
    2. Groups are the connected components of that graph, so a link may be
       indirect: a and c are grouped when both are linked to b.
    3. Ids within a group are in id order; groups of equal size are in the
       order of their first id.
    """
    if not 0 <= min_jaccard <= 1:
        raise ValueError(f"min_jaccard must be between 0 and 1, got {min_jaccard}")
    if min_together < 1:
        raise ValueError(f"min_together must be at least 1, got {min_together}")
    size = len(co.monitor_ids)
    if size == 0:
        return []

    linked = (co.together >= min_together) & (co.jaccard >= min_jaccard)
    np.fill_diagonal(linked, False)
    rows, columns = np.nonzero(linked)
    graph = coo_array(
        (np.ones(len(rows), np.int8), (rows, columns)), shape=(size, size)
    )
    _, found = connected_components(graph, directed=False)
    labels: npt.NDArray[np.int32] = np.asarray(found, np.int32)

    members: dict[int, list[str]] = {}
    for index, label in enumerate(labels.tolist()):
        members.setdefault(label, []).append(co.monitor_ids[index])
    groups = [group for group in members.values() if len(group) > 1]
    groups.sort(key=lambda group: (-len(group), group[0]))
    return groups


class RootReason(enum.StrEnum):
    """Why a monitor was named the likely root of a failure."""

    SHARED_DEPENDENCY = "shared_dependency"
    FAILED_FIRST = "failed_first"


@dataclass(frozen=True, slots=True)
class Root:
    """The likely root of a failure among several monitors, and why.

    ``others`` are the rest of the monitors, grouped under the root, in the
    order they were first seen failing. ``lead`` is how many seconds the root
    was seen failing before the first of the others: negative when it was
    seen after them, None when there are no others.
    """

    monitor_id: str
    reason: RootReason
    explanation: str
    others: tuple[str, ...]
    lead: float | None


def likely_root(
    monitor_ids: Iterable[str],
    *,
    first_failed: Mapping[str, float],
    depends_on: Mapping[str, Sequence[str]],
) -> Root:
    """Name the monitor most likely at the root of one incident or group.

    An operator fixes one thing first; the root is that thing. Only a failing
    monitor can be the root: a dependency that nobody saw failing may be
    healthy, so it is told in the explanation but never named.

    1. Dependencies are walked through ``depends_on`` transitively.
    2. If one of the monitors is a dependency of all the others, it is the
       root ("shared_dependency"), even when others were seen failing before
       it: a dependency checked less often notices its failure later, and
       timing tells the schedule, not the cause. Without a cycle in
       ``depends_on`` at most one monitor can be that; in a cycle the earliest
       to fail is taken, then the lowest id.
    3. Otherwise the monitor seen failing first is the root ("failed_first"),
       with its lead over the next; equal times go to the lowest id. If all
       share a dependency that is not among them, the deepest such ones
       (those no other shared one depends on) are told in the explanation.

    Every monitor needs an entry in ``first_failed``; ValueError otherwise,
    and for no monitors at all.
    """
    members = sorted(set(monitor_ids))
    if not members:
        raise ValueError("monitor_ids is empty: a root needs at least one monitor")
    missing = [monitor_id for monitor_id in members if monitor_id not in first_failed]
    if missing:
        raise ValueError(f"first_failed has no time for {', '.join(missing)}")

    def when(monitor_id: str) -> tuple[float, str]:
        return first_failed[monitor_id], monitor_id

    ordered = sorted(members, key=when)
    needs = {
        monitor_id: _dependencies(monitor_id, depends_on) for monitor_id in members
    }

    shared_roots = [
        candidate
        for candidate in ordered
        if all(candidate in needs[other] for other in members if other != candidate)
    ]
    if len(members) > 1 and shared_roots:
        root = shared_roots[0]
        others = tuple(other for other in ordered if other != root)
        lead = first_failed[others[0]] - first_failed[root]
        return Root(
            monitor_id=root,
            reason=RootReason.SHARED_DEPENDENCY,
            explanation=_dependency_sentence(root, others, lead),
            others=others,
            lead=lead,
        )

    root, others = ordered[0], tuple(ordered[1:])
    if not others:
        return Root(
            monitor_id=root,
            reason=RootReason.FAILED_FIRST,
            explanation=f"{root} failed alone",
            others=(),
            lead=None,
        )
    lead = first_failed[others[0]] - first_failed[root]
    explanation = _first_sentence(root, others, lead)
    healthy = _deepest_shared(members, needs, depends_on)
    if healthy:
        subject = "both" if len(members) == 2 else "all of them"
        verb = "is" if len(healthy) == 1 else "are"
        explanation += (
            f"; {subject} depend on {_names(healthy)}, which {verb} not failing"
        )
    return Root(
        monitor_id=root,
        reason=RootReason.FAILED_FIRST,
        explanation=explanation,
        others=others,
        lead=lead,
    )


def _dependencies(monitor_id: str, depends_on: Dependencies) -> set[str]:
    """Every monitor ``monitor_id`` needs, directly or through others."""
    found: set[str] = set()
    waiting = list(depends_on.get(monitor_id, ()))
    while waiting:
        needed = waiting.pop()
        if needed in found:
            continue
        found.add(needed)
        waiting.extend(depends_on.get(needed, ()))
    found.discard(monitor_id)
    return found


def _deepest_shared(
    members: Sequence[str],
    needs: Mapping[str, set[str]],
    depends_on: Dependencies,
) -> list[str]:
    """The dependencies all members share, outside them, that no other one needs."""
    shared = set.intersection(*(needs[monitor_id] for monitor_id in members))
    shared.difference_update(members)
    below = {
        dependency
        for other in shared
        for dependency in _dependencies(other, depends_on)
        if dependency in shared
    }
    return sorted(shared - below)


def _dependency_sentence(root: str, others: Sequence[str], lead: float) -> str:
    """Why ``root`` is the shared dependency of ``others``, with the timing."""
    if len(others) == 1:
        other = others[0]
        if lead > 0:
            ahead = _seconds(lead)
            return f"{root} failed {ahead} before {other}, which depends on it"
        if lead == 0:
            return f"{other} depends on {root}, which failed at the same moment"
        return (
            f"{other} depends on {root}, though {root} was seen failing "
            f"{_seconds(lead)} later"
        )
    count = len(others)
    if lead > 0:
        return (
            f"{root} failed {_seconds(lead)} before the {count} others "
            "and all of them depend on it"
        )
    if lead == 0:
        return (
            f"all {count} others depend on {root}, which failed at the same "
            "moment as the first of them"
        )
    return (
        f"all {count} others depend on {root}, though it was seen failing "
        f"{_seconds(lead)} after the first of them"
    )


def _first_sentence(root: str, others: Sequence[str], lead: float) -> str:
    """Why ``root`` is named for failing first, with its lead over the next."""
    if len(others) == 1:
        other = others[0]
        if lead > 0:
            return f"{root} failed {_seconds(lead)} before {other}"
        tie = f"{root} and {other} failed at the same moment"
        return f"{tie}; {root} comes first by id"
    count = len(others)
    if lead > 0:
        return f"{root} failed {_seconds(lead)} before the first of the {count} others"
    return (
        f"{root} failed at the same moment as the first of the {count} others "
        "and comes first by id"
    )


def _seconds(value: float) -> str:
    """A duration for a sentence: ``42 s``, ``0.5 s``; the sign is left out."""
    return f"{abs(value):.1f}".removesuffix(".0") + " s"


def _names(monitor_ids: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(monitor_ids) == 1:
        return monitor_ids[0]
    return ", ".join(monitor_ids[:-1]) + " and " + monitor_ids[-1]
