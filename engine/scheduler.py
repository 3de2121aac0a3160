"""The shard scheduler: runs every monitor of one shard on time, within limits.

One ``Scheduler`` owns the monitors of a shard and runs on that shard's event
loop. It is built to hold a million monitors, so per-monitor state lives in
numpy arrays indexed by a slot number rather than in a Python object per
monitor, and one driver task with a heap of due times does all the timing.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import heapq
import logging
import math
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from engine.checks.base import Check
from engine.durations import format_duration
from engine.latency import LatencyRings, PositionArray, SampleArray
from engine.model import Monitor
from engine.result import CheckFailure, CheckResult, MonitorState, Reason

__all__ = [
    "DEFAULT_MAX_IN_FLIGHT",
    "LATENESS_BUCKETS",
    "LatencyRingView",
    "MonitorSeed",
    "MonitorStatus",
    "ResultSink",
    "Scheduler",
    "SchedulerStats",
    "StateSink",
    "retry_delay",
    "run_phase",
]

logger = logging.getLogger(__name__)

# The cap on checks in flight. A shard that starts every due check at once
# measures its own queueing instead of its targets: response times get
# inflated by the event loop's backlog, and each open check holds a file
# descriptor. A thousand concurrent checks keep a single loop busy without
# crowding it and stay far below the usual descriptor limits.
DEFAULT_MAX_IN_FLIGHT: Final = 1000

# Everything due within this window is started in the same wake. uvloop's
# timers are millisecond-grained, so waiting for less would only spin.
GROUPING: Final = 0.001

# The longest the driver sleeps, so rate samples stay fresh on an idle shard.
MAX_SLEEP: Final = 1.0

LATENESS_SAMPLES: Final = 8192

# Upper bounds, in seconds, of the lateness histogram every shard keeps from
# its start: fine below a second, where a healthy shard lives, and coarse
# above it. The last bucket (beyond 60 s) has no bound.
LATENESS_BUCKETS: Final = (
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.3,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    10.0,
    30.0,
    60.0,
)
RATE_WINDOW: Final = 10.0
INITIAL_CAPACITY: Final = 1024
INTERNAL_LOG_EVERY: Final = 300.0
SINK_LOG_EVERY: Final = 60.0
CHECK_CLOSE_TIMEOUT: Final = 5.0
CANCEL_GRACE: Final = 1.0
MESSAGE_LIMIT: Final = 500

# Check kinds enforce the monitor's timeout themselves, so that a timeout can
# say which step ran out of time. The scheduler's own limit is a backstop for
# a check that ignores its timeout: it fires this much later, and is swept
# from one heap by the driver instead of costing a timer per check.
BACKSTOP_GRACE: Final = 0.25

# Heap entries are single ints: due milliseconds above the slot number (and
# the priority rank above both in the ready queue). An int costs a third of a
# tuple, which matters with a million entries.
_SLOT_BITS: Final = 24
_SLOT_MASK: Final = (1 << _SLOT_BITS) - 1
_DUE_BITS: Final = 44
_DUE_MASK: Final = (1 << _DUE_BITS) - 1
MAX_MONITORS: Final = 1 << _SLOT_BITS

# Where a slot is in its cycle.
_IDLE: Final = 0
_SCHEDULED: Final = 1
_READY: Final = 2
_RUNNING: Final = 3

_STATES: Final = tuple(MonitorState)
_STATE_CODE: Final = {state: code for code, state in enumerate(_STATES)}
_UNKNOWN: Final = _STATE_CODE[MonitorState.UNKNOWN]
_UP: Final = _STATE_CODE[MonitorState.UP]
_PENDING: Final = _STATE_CODE[MonitorState.PENDING]
_DOWN: Final = _STATE_CODE[MonitorState.DOWN]
_PAUSED: Final = _STATE_CODE[MonitorState.PAUSED]
_DEGRADED: Final = _STATE_CODE[MonitorState.DEGRADED]

_REASONS: Final = tuple(Reason)
_REASON_CODE: Final = {reason: code + 1 for code, reason in enumerate(_REASONS)}

ResultSink = Callable[[CheckResult], None]
StateSink = Callable[[str, MonitorState, MonitorState, CheckResult], None]


@dataclass(frozen=True, slots=True)
class MonitorStatus:
    """Where one monitor stands, as of its last finished check.

    ``last_check_at`` is unix seconds; ``next_check_in`` is seconds from now,
    or None while the monitor is paused or its check is running.
    """

    monitor_id: str
    state: MonitorState
    consecutive_failures: int
    last_check_at: float | None
    last_ok: bool | None
    last_latency_ms: float | None
    last_reason: Reason | None
    last_message: str
    running: bool
    next_check_in: float | None


@dataclass(frozen=True, slots=True)
class MonitorSeed:
    """Where a monitor stood when it left a shard, to carry on from elsewhere.

    A shard that restarts, or takes over a monitor from another shard, seeds
    it with this so the monitor keeps its state (a DOWN monitor stays DOWN
    rather than starting again from UNKNOWN) and its last result shows.
    """

    state: MonitorState
    failures: int = 0
    last_check_at: float | None = None
    last_ok: bool | None = None
    last_latency_ms: float | None = None
    last_reason: Reason | None = None
    last_message: str = ""


@dataclass(frozen=True, slots=True)
class SchedulerStats:
    """How a shard is keeping up.

    ``lateness`` is how long after its due time a check started, over the
    last ``LATENESS_SAMPLES`` checks; ``lateness_counts`` is a histogram of
    every start since the shard began, one count per bound of
    ``LATENESS_BUCKETS`` plus one beyond the last, and ``lateness_sum`` their
    total in seconds. ``overruns`` counts beats skipped because a monitor's
    previous check ran (or waited) past its next one; ``abandoned`` counts
    checks that ignored cancellation and were left behind.
    """

    monitors: int
    in_flight: int
    max_in_flight: int
    ready: int
    checks_done: int
    checks_failed: int
    checks_per_second: float
    lateness_p50_ms: float
    lateness_p99_ms: float
    lateness_counts: tuple[int, ...]
    lateness_sum: float
    overruns: int
    abandoned: int


@dataclass(frozen=True, slots=True)
class LatencyRingView:
    """Read-only access to every monitor's latency ring, for analytics.

    ``samples[slots[id]]`` is a monitor's ring of float16 milliseconds with
    NaN for empty entries, and ``positions[slot]`` is where its next sample
    goes, so the oldest kept sample sits there. Rows of slots that hold no
    monitor mean nothing. The arrays are views valid until the shard grows;
    take a fresh view for each pass.
    """

    samples: SampleArray
    positions: PositionArray
    slots: Mapping[str, int]


@dataclass(slots=True)
class _Run:
    """One check in flight: the task, and what it needs when it ends."""

    slot: int
    generation: int
    check: Check
    deadline_ms: int = 0
    task: asyncio.Task[CheckResult | None] | None = None
    timed_out: bool = False
    abandoned: bool = False


def retry_delay(retry_interval: float, failures: int, interval: float) -> float:
    """How long to wait before retry number ``failures`` of a failing monitor.

    The wait doubles with each failure so a flapping target is not hammered,
    and never exceeds the monitor's interval, which is the pace it asked for:
    ``retry_interval * 2 ** (failures - 1)``, capped at ``interval``.
    """
    exponent = min(max(failures - 1, 0), 32)
    return float(min(retry_interval * 2**exponent, interval))


def run_phase(monitor_id: str, interval: float) -> float:
    """Where in each interval a monitor runs, from a stable hash of its id.

    Monitors added together with the same interval would otherwise fire
    together every time. The phase is measured on the wall clock (seconds
    past a multiple of the interval since the epoch), so the hash spreads
    them evenly, and a monitor keeps its place across restarts and when it
    moves to another shard.
    """
    fraction = zlib.crc32(monitor_id.encode()) / 2**32
    return fraction * interval


class Scheduler:
    """Runs the checks of one shard's monitors and reports every result.

    Why it is shaped this way: a shard holds up to a million monitors, so a
    monitor costs a slot in a set of numpy arrays (a struct of arrays that
    grows by doubling, with freed slots reused) and no task of its own. One
    driver task sleeps until the earliest due time in a heap of ``(due, slot)``
    entries and starts what is due, at most ``max_in_flight`` checks at a time;
    monitors due while the shard is saturated wait in a ready queue, critical
    ones first. Each finished check goes through the monitor's state machine
    and then to ``on_result``.

    The state machine, per finished check:

    1. Success: the monitor is UP and its failures reset; the next check is
       one interval after this one was due.
    2. Failure with retries left (and a retryable reason, and not already
       DOWN): PENDING, retried after ``retry_delay``.
    3. Any other failure: DOWN, checked again at the normal interval.

    Paused monitors (or ones defined with ``enabled: false``) are PAUSED and
    do not run. Every change takes effect at once, without a restart.
    """

    def __init__(
        self,
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        on_result: ResultSink | None = None,
        on_state_change: StateSink | None = None,
        clock: Callable[[], float] | None = None,
        capacity: int = INITIAL_CAPACITY,
        shard: str = "",
    ) -> None:
        """Set up an empty shard; ``start`` begins running it.

        ``on_result`` receives every finished check and ``on_state_change``
        every change of state, both on the loop; one that raises is logged and
        the shard goes on. ``clock`` gives monotonic seconds for scheduling
        (the running loop's clock by default). ``capacity`` is the number of
        slots to allocate up front, for a shard that knows its size and would
        rather not grow; ``shard`` names it in every log record.
        """
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self._max_in_flight = max_in_flight
        self._on_result = on_result
        self._on_state_change = on_state_change
        self._own_clock = clock is not None
        self._clock: Callable[[], float] = clock or time.monotonic
        self._log = logging.LoggerAdapter(logger, {"shard": shard})

        capacity = max(1, min(capacity, MAX_MONITORS))
        self._monitors: list[Monitor | None] = [None] * capacity
        self._state = np.zeros(capacity, np.int8)
        self._stage = np.zeros(capacity, np.int8)
        self._rank = np.zeros(capacity, np.int8)
        self._failures = np.zeros(capacity, np.uint32)
        self._generation = np.zeros(capacity, np.uint32)
        self._due_ms = np.zeros(capacity, np.int64)
        self._last_check = np.full(capacity, np.nan, np.float64)
        self._last_latency = np.full(capacity, np.nan, np.float32)
        self._last_ok = np.full(capacity, -1, np.int8)
        self._last_reason = np.zeros(capacity, np.int8)
        self._rings = LatencyRings(capacity)
        # Set by analytics: a passing check of a slot marked slow is DEGRADED,
        # told by its message, instead of UP.
        self._degraded = np.zeros(capacity, np.bool_)
        self._degraded_messages: dict[int, str] = {}
        self._slots: dict[str, int] = {}
        self._free: list[int] = []
        self._used = 0
        self._messages: dict[int, str] = {}

        self._timers: list[int] = []
        self._deadlines: list[int] = []
        self._ready: list[int] = []
        self._runs: dict[int, _Run] = {}
        self._in_flight = 0
        self._closers: set[asyncio.Task[None]] = set()

        self._loop: asyncio.AbstractEventLoop | None = None
        self._driver: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._wake_at = math.inf
        self._stopping = False
        self._closed = False
        self._held = False

        self._checks_done = 0
        self._checks_failed = 0
        self._overruns = 0
        self._abandoned = 0
        self._lateness_counts = [0] * (len(LATENESS_BUCKETS) + 1)
        self._lateness_sum = 0.0
        self._rate_samples: deque[tuple[float, int]] = deque(maxlen=16)
        self._lateness = np.zeros(LATENESS_SAMPLES, np.float32)
        self._lateness_count = 0
        self._internal_logged: dict[int, float] = {}
        self._sink_logged_at = -math.inf
        self._sink_suppressed = 0

    # Membership -----------------------------------------------------------

    def __len__(self) -> int:
        return len(self._slots)

    def monitor_ids(self) -> list[str]:
        """The ids of every monitor this shard owns."""
        return list(self._slots)

    def __contains__(self, monitor_id: object) -> bool:
        return monitor_id in self._slots

    def get(self, monitor_id: str) -> Monitor:
        """The monitor with this id; raises ``KeyError`` if the shard lacks it."""
        monitor = self._monitors[self._slot(monitor_id)]
        assert monitor is not None
        return monitor

    def add(self, monitor: Monitor, seed: MonitorSeed | None = None) -> None:
        """Start owning ``monitor``; it first runs at its phase (``run_phase``).

        ``seed`` carries on a monitor that ran elsewhere before: its state,
        failure count and last result. Without one the monitor starts UNKNOWN.
        """
        self._refuse_when_closed()
        if monitor.id in self._slots:
            raise ValueError(f"monitor {monitor.id!r} is already in this shard")
        slot = self._allocate()
        self._slots[monitor.id] = slot
        self._monitors[slot] = monitor
        self._rank[slot] = monitor.priority.rank
        self._failures[slot] = 0
        self._last_check[slot] = np.nan
        self._last_latency[slot] = np.nan
        self._last_ok[slot] = -1
        self._last_reason[slot] = 0
        self._stage[slot] = _IDLE
        self._rings.reset(slot)
        self._degraded[slot] = False
        self._degraded_messages.pop(slot, None)
        if seed is not None:
            self._seed(slot, seed)
        if not monitor.enabled:
            self._state[slot] = _PAUSED
            return
        if seed is None or seed.state in (MonitorState.PAUSED, MonitorState.UNKNOWN):
            self._state[slot] = _UNKNOWN
        now = self._clock()
        due = self._irregular_due(monitor, now)
        if due is None:
            phase = run_phase(monitor.id, monitor.interval)
            due = now + (phase - time.time()) % monitor.interval
        self._schedule(slot, due)

    def update(self, monitor: Monitor) -> None:
        """Replace a monitor's definition, keeping its state and latency history.

        A new interval applies at once: the next run moves to one new
        interval after the last one was due (or now, if that has passed).
        Switching ``enabled`` pauses or resumes the monitor. A check already
        running finishes under the old definition, and the old check object
        is closed once nothing uses it.
        """
        self._refuse_when_closed()
        slot = self._slot(monitor.id)
        old = self._monitors[slot]
        assert old is not None
        self._monitors[slot] = monitor
        self._rank[slot] = monitor.priority.rank
        if old.check is not monitor.check and not self._is_running_check(
            slot, old.check
        ):
            self._close_later(old.check)

        if old.enabled and not monitor.enabled:
            self.pause(monitor.id)
            return
        if monitor.enabled and not old.enabled:
            self.resume(monitor.id)
            return
        if self._stage[slot] != _SCHEDULED or self._state[slot] == _PENDING:
            return

        now = self._clock()
        due = self._irregular_due(monitor, now)
        if due is None:
            if monitor.interval == old.interval:
                return
            anchor = int(self._due_ms[slot]) / 1000 - old.interval
            due = max(now, anchor + monitor.interval)
        self._schedule(slot, due)

    def snapshot(self, monitor_id: str) -> MonitorSeed:
        """Where a monitor stands now, to seed it elsewhere with ``add``."""
        status = self.status(monitor_id)
        return MonitorSeed(
            state=status.state,
            failures=status.consecutive_failures,
            last_check_at=status.last_check_at,
            last_ok=status.last_ok,
            last_latency_ms=status.last_latency_ms,
            last_reason=status.last_reason,
            last_message=status.last_message,
        )

    def _seed(self, slot: int, seed: MonitorSeed) -> None:
        self._state[slot] = _STATE_CODE[seed.state]
        self._failures[slot] = max(0, seed.failures)
        if seed.last_check_at is not None:
            self._last_check[slot] = seed.last_check_at
        if seed.last_latency_ms is not None:
            self._last_latency[slot] = seed.last_latency_ms
        if seed.last_ok is not None:
            self._last_ok[slot] = int(seed.last_ok)
        if seed.last_reason is not None:
            self._last_reason[slot] = _REASON_CODE[seed.last_reason]
        if seed.last_message:
            self._messages[slot] = seed.last_message[:MESSAGE_LIMIT]

    def remove(self, monitor_id: str) -> Monitor:
        """Stop owning a monitor at once; a check in flight is cancelled unseen."""
        slot = self._slots.pop(monitor_id)
        monitor = self._monitors[slot]
        assert monitor is not None
        self._monitors[slot] = None
        self._generation[slot] += np.uint32(1)
        self._stage[slot] = _IDLE
        self._state[slot] = _UNKNOWN
        self._messages.pop(slot, None)
        self._internal_logged.pop(slot, None)

        run = self._runs.pop(slot, None)
        if run is not None and run.task is not None:
            run.task.cancel()
        if run is None or run.check is not monitor.check:
            self._close_later(monitor.check)
        self._free.append(slot)
        return monitor

    def pause(self, monitor_id: str) -> None:
        """Stop running a monitor until ``resume``; a running check is discarded."""
        slot = self._slot(monitor_id)
        if self._state[slot] == _PAUSED:
            return
        self._state[slot] = _PAUSED
        self._failures[slot] = 0
        self._messages.pop(slot, None)
        if self._stage[slot] != _RUNNING:
            self._stage[slot] = _IDLE

    def resume(self, monitor_id: str) -> None:
        """Run a paused monitor again, starting with a check right away."""
        self._refuse_when_closed()
        slot = self._slot(monitor_id)
        if self._state[slot] != _PAUSED:
            return
        self._state[slot] = _UNKNOWN
        if self._stage[slot] == _IDLE:
            self._schedule(slot, self._clock())

    def check_now(self, monitor_id: str) -> None:
        """Check a monitor at once if it is waiting for its next check.

        A push monitor's check judges the pings its job sent; one that
        arrives between checks is judged right away this way, not an
        interval later. A check already running or about to run, or a
        paused monitor, is left as it is.
        """
        slot = self._slot(monitor_id)
        if self._state[slot] == _PAUSED or self._stage[slot] != _SCHEDULED:
            return
        self._schedule(slot, self._clock())

    # Reading --------------------------------------------------------------

    def status(self, monitor_id: str) -> MonitorStatus:
        slot = self._slot(monitor_id)
        last_check = float(self._last_check[slot])
        latency = float(self._last_latency[slot])
        last_ok = int(self._last_ok[slot])
        reason_code = int(self._last_reason[slot])
        stage = int(self._stage[slot])
        next_check_in = None
        if stage in (_SCHEDULED, _READY):
            next_check_in = max(0.0, int(self._due_ms[slot]) / 1000 - self._clock())
        return MonitorStatus(
            monitor_id=monitor_id,
            state=_STATES[int(self._state[slot])],
            consecutive_failures=int(self._failures[slot]),
            last_check_at=None if math.isnan(last_check) else last_check,
            last_ok=None if last_ok < 0 else bool(last_ok),
            last_latency_ms=None if math.isnan(latency) else latency,
            last_reason=_REASONS[reason_code - 1] if reason_code else None,
            last_message=self._messages.get(slot, ""),
            running=stage == _RUNNING,
            next_check_in=next_check_in,
        )

    def slots_of(self, monitor_ids: Iterable[str]) -> npt.NDArray[np.int64]:
        """The slots of these monitors, -1 for one this shard does not own."""
        slots = self._slots
        return np.fromiter(
            (slots.get(monitor_id, -1) for monitor_id in monitor_ids), np.int64
        )

    def mark_degraded(
        self, slots: npt.NDArray[np.int64], messages: Sequence[str | None]
    ) -> None:
        """Mark slots degraded (with the message that says why) or, with None, not.

        The next passing check of each slot is DEGRADED (or UP again), so the
        change of state is told by a result, as every other change is.
        """
        for slot, message in zip(slots.tolist(), messages, strict=True):
            if message is None:
                self._degraded[slot] = False
                self._degraded_messages.pop(slot, None)
            else:
                self._degraded[slot] = True
                self._degraded_messages[slot] = message[:MESSAGE_LIMIT]

    def degraded(self, slots: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Whether each slot is marked degraded."""
        marked: npt.NDArray[np.bool_] = self._degraded[slots]
        return marked

    def degraded_message(self, slot: int) -> str | None:
        """Why the slot is marked degraded, None when it is not."""
        return self._degraded_messages.get(slot)

    def latencies(self, monitor_id: str) -> npt.NDArray[np.float32]:
        """The monitor's last successful latencies in ms, oldest first."""
        return self._rings.history(self._slot(monitor_id))

    def latency_ring(self) -> LatencyRingView:
        samples = self._rings.samples.view()
        samples.flags.writeable = False
        positions = self._rings.positions.view()
        positions.flags.writeable = False
        return LatencyRingView(samples, positions, MappingProxyType(self._slots))

    def stats(self) -> SchedulerStats:
        now = self._clock()
        rate = 0.0
        for sampled_at, done in self._rate_samples:
            if now - sampled_at <= RATE_WINDOW and now > sampled_at:
                rate = (self._checks_done - done) / (now - sampled_at)
                break
        kept = min(self._lateness_count, LATENESS_SAMPLES)
        p50 = p99 = 0.0
        if kept:
            p50, p99 = (
                float(value) for value in np.percentile(self._lateness[:kept], (50, 99))
            )
        ready = int(np.count_nonzero(self._stage[: self._used] == _READY))
        return SchedulerStats(
            monitors=len(self._slots),
            in_flight=self._in_flight,
            max_in_flight=self._max_in_flight,
            ready=ready,
            checks_done=self._checks_done,
            checks_failed=self._checks_failed,
            checks_per_second=rate,
            lateness_p50_ms=p50,
            lateness_p99_ms=p99,
            lateness_counts=tuple(self._lateness_counts),
            lateness_sum=self._lateness_sum,
            overruns=self._overruns,
            abandoned=self._abandoned,
        )

    # Flow control ---------------------------------------------------------

    def hold(self) -> None:
        """Start no new checks until ``release``; checks in flight finish.

        A shard holds while the sink of its results is backed up, so that it
        slows down instead of buffering results without bound. Checks that
        come due meanwhile wait in the ready queue and their lateness shows.
        """
        self._held = True

    def release(self) -> None:
        """Start due checks again after ``hold``."""
        if self._held:
            self._held = False
            self._poke()

    @property
    def held(self) -> bool:
        return self._held

    # Lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        """Start the driver on the running loop."""
        self._refuse_when_closed()
        if self._driver is not None:
            raise RuntimeError("the scheduler is already started")
        self._loop = asyncio.get_running_loop()
        if not self._own_clock:
            self._clock = self._loop.time
        self._driver = self._loop.create_task(self._drive(), name="scheduler-driver")

    # ``timeout`` is the grace period that checks in flight get, not a bound
    # on the whole call, so it stays a parameter rather than a cancel scope.
    async def close(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Stop gracefully: start nothing new and let running checks finish.

        1. Stop the driver, so no further check starts.
        2. Wait up to ``timeout`` seconds for checks in flight; their results
           are still reported.
        3. Cancel whatever is still running after that.
        4. Close every monitor's check, waiting a bounded time.

        If ``close`` itself is cancelled, the shard is terminated.
        """
        if self._closed:
            return
        self._stopping = True
        try:
            await self._stop_driver()
            tasks = [run.task for run in self._runs.values() if run.task is not None]
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=timeout)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=CANCEL_GRACE)
            for monitor in self._monitors[: self._used]:
                if monitor is not None:
                    self._close_later(monitor.check)
            if self._closers:
                await asyncio.wait(set(self._closers), timeout=CHECK_CLOSE_TIMEOUT)
        except asyncio.CancelledError:
            self.terminate()
            raise
        self._closed = True

    def terminate(self) -> None:
        """Stop at once: cancel the driver and every check, close nothing."""
        self._stopping = True
        self._closed = True
        if self._driver is not None:
            self._driver.cancel()
        for run in list(self._runs.values()):
            if run.task is not None:
                run.task.cancel()
        for closer in list(self._closers):
            closer.cancel()

    async def _stop_driver(self) -> None:
        driver = self._driver
        if driver is None or driver.done():
            return
        self._poke()
        await asyncio.wait([driver], timeout=CANCEL_GRACE)
        if not driver.done():
            driver.cancel()
            await asyncio.wait([driver], timeout=CANCEL_GRACE)

    async def run_once(self, monitor_id: str) -> CheckResult:
        """Check a monitor now, outside its schedule, and return the result.

        The result counts like any other: it moves the state machine, is
        reported, and the next scheduled run follows from it. If the
        monitor's check is already running, its result is awaited instead of
        starting a second one. A paused monitor is checked without recording
        anything; its result says PAUSED.
        """
        self._refuse_when_closed()
        slot = self._slot(monitor_id)
        run = self._runs.get(slot)
        if run is None or run.task is None:
            task = self._launch(slot, self._clock(), asyncio.get_running_loop())
        else:
            task = run.task
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            message = f"monitor {monitor_id!r} was removed during its check"
            raise KeyError(message) from None
        if result is None:
            raise KeyError(f"monitor {monitor_id!r} was removed during its check")
        return result

    # The driver -----------------------------------------------------------

    async def _drive(self) -> None:
        """Wake at the earliest due time, start what is due, sleep again.

        A bug in one pass is logged and the loop goes on, so one bad monitor
        cannot stop a shard.
        """
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                delay = self._tick()
            except Exception:
                self._log.exception("scheduler pass failed; going on")
                delay = 0.1
            wake: asyncio.Future[None] = loop.create_future()
            handle = loop.call_later(delay, _settle, wake)
            self._wake = wake
            self._wake_at = self._clock() + delay
            try:
                await wake
            finally:
                handle.cancel()
                self._wake = None
                self._wake_at = -math.inf

    def _tick(self) -> float:
        """One pass of the driver; returns how long to sleep.

        1. Move every heap entry due within ``GROUPING`` to the ready queue,
           dropping stale entries (the slot moved on since it was pushed).
        2. Start ready checks, most urgent first, up to the in-flight cap.
        3. Sleep until the next due time, but at least ``GROUPING``; when
           saturated, sleep until a finishing check wakes the driver.
        """
        now = self._clock()
        horizon = int((now + GROUPING) * 1000)
        timers = self._timers
        ready = self._ready
        stage = self._stage
        due_ms = self._due_ms
        while timers and timers[0] >> _SLOT_BITS <= horizon:
            key = heapq.heappop(timers)
            slot = key & _SLOT_MASK
            due = key >> _SLOT_BITS
            if stage[slot] != _SCHEDULED or due_ms[slot] != due:
                continue
            stage[slot] = _READY
            urgency = (int(self._rank[slot]) << _DUE_BITS) | due
            heapq.heappush(ready, (urgency << _SLOT_BITS) | slot)

        self._launch_ready()
        self._sweep_deadlines(int(now * 1000))
        self._sample_rate(now)
        if len(timers) > 2 * len(self._slots) + INITIAL_CAPACITY:
            self._compact_timers()

        earliest = math.inf
        if timers and not (ready and self._in_flight >= self._max_in_flight):
            earliest = (timers[0] >> _SLOT_BITS) / 1000
        if self._deadlines:
            earliest = min(earliest, (self._deadlines[0] >> _SLOT_BITS) / 1000)
        return min(MAX_SLEEP, max(GROUPING, earliest - now))

    def _launch_ready(self) -> None:
        loop = self._loop
        if loop is None or self._stopping or self._held:
            return
        ready = self._ready
        while ready and self._in_flight < self._max_in_flight:
            key = heapq.heappop(ready)
            slot = key & _SLOT_MASK
            due = (key >> _SLOT_BITS) & _DUE_MASK
            if self._stage[slot] != _READY or self._due_ms[slot] != due:
                continue
            self._launch(slot, due / 1000, loop)

    def _launch(
        self, slot: int, due: float, loop: asyncio.AbstractEventLoop
    ) -> asyncio.Task[CheckResult | None]:
        monitor = self._monitors[slot]
        assert monitor is not None
        deadline_ms = int((self._clock() + monitor.timeout + BACKSTOP_GRACE) * 1000)
        run = _Run(slot, int(self._generation[slot]), monitor.check, deadline_ms)
        self._stage[slot] = _RUNNING
        self._in_flight += 1
        task = loop.create_task(self._execute(run, monitor, due))
        task.add_done_callback(functools.partial(self._finished, run))
        run.task = task
        self._runs[slot] = run
        heapq.heappush(self._deadlines, (deadline_ms << _SLOT_BITS) | slot)
        if deadline_ms / 1000 < self._wake_at:
            self._poke()
        return task

    def _sweep_deadlines(self, now_ms: int) -> None:
        """Cancel the checks that outlived their monitor's timeout and grace.

        A check still running ``CANCEL_GRACE`` after its cancellation ignores
        it; it is abandoned (see ``_abandon``) so it cannot hold a place among
        the checks in flight for ever.
        """
        deadlines = self._deadlines
        while deadlines and deadlines[0] >> _SLOT_BITS <= now_ms:
            key = heapq.heappop(deadlines)
            run = self._runs.get(key & _SLOT_MASK)
            if run is None or run.deadline_ms != key >> _SLOT_BITS:
                continue
            if run.task is None or run.task.done():
                continue
            if run.timed_out:
                self._abandon(run)
                continue
            run.timed_out = True
            run.task.cancel()
            run.deadline_ms += int(CANCEL_GRACE * 1000)
            heapq.heappush(deadlines, (run.deadline_ms << _SLOT_BITS) | run.slot)

    def _abandon(self, run: _Run) -> None:
        """Give up on a check that will not end: fail it and free its place.

        The monitor is reported as timed out, but is not checked again until
        the stuck task does end, so that its checks still never overlap; the
        rest of the shard carries on.
        """
        run.abandoned = True
        self._abandoned += 1
        self._in_flight -= 1
        monitor = self._monitors[run.slot]
        if monitor is None or self._generation[run.slot] != run.generation:
            return
        self._log.error(
            "check ignored its cancellation and was abandoned monitor=%s kind=%s",
            monitor.id,
            monitor.kind,
        )
        message = (
            f"no answer within {format_duration(monitor.timeout)}; the check "
            "ignored cancellation and is still running"
        )
        begin = time.perf_counter() - (monitor.timeout + BACKSTOP_GRACE)
        result = _failed(monitor, time.time(), begin, Reason.TIMEOUT, message)
        if self._state[run.slot] != _PAUSED:
            self._record(run.slot, monitor, result, self._clock(), schedule=False)
        if self._ready:
            self._poke()

    def _schedule(self, slot: int, due: float) -> None:
        if self._stopping:
            self._stage[slot] = _IDLE
            return
        due_ms = max(0, int(due * 1000))
        self._due_ms[slot] = due_ms
        self._stage[slot] = _SCHEDULED
        heapq.heappush(self._timers, (due_ms << _SLOT_BITS) | slot)
        if due < self._wake_at:
            self._poke()

    def _poke(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _compact_timers(self) -> None:
        """Rebuild the heap from the slots still scheduled, dropping stale entries."""
        used = self._used
        live = np.nonzero(self._stage[:used] == _SCHEDULED)[0]
        dues = self._due_ms[live].tolist()
        self._timers = [
            (due << _SLOT_BITS) | slot
            for due, slot in zip(dues, live.tolist(), strict=True)
        ]
        heapq.heapify(self._timers)

    def _sample_rate(self, now: float) -> None:
        samples = self._rate_samples
        if not samples or now - samples[-1][0] >= 1.0:
            samples.append((now, self._checks_done))

    # Running one check ----------------------------------------------------

    async def _execute(
        self, run: _Run, monitor: Monitor, due: float
    ) -> CheckResult | None:
        """Run one check, record it, report it and schedule the next one."""
        started = self._clock()
        lateness = max(0.0, started - due)
        self._note_lateness(lateness)
        result = await self._measure(run, monitor)
        result.lateness_ms = lateness * 1000

        slot = run.slot
        if self._generation[slot] != run.generation or run.abandoned:
            return None
        self._stage[slot] = _IDLE
        if self._state[slot] == _PAUSED:
            result.state = MonitorState.PAUSED
            return result
        try:
            self._record(slot, monitor, result, due)
        except Exception:
            self._log.exception("recording a check failed monitor=%s", monitor.id)
            if self._stage[slot] == _IDLE:
                self._schedule(slot, self._clock() + monitor.interval)
        return result

    async def _measure(self, run: _Run, monitor: Monitor) -> CheckResult:
        """Run the check and turn any outcome into a result.

        A check that is still running past its deadline is cancelled by
        ``_sweep_deadlines``; that cancellation becomes a timeout here, while
        any other cancellation goes on up.
        """
        slot = run.slot
        started_at = time.time()
        begin = time.perf_counter()
        try:
            observation = await monitor.check.run()
        except CheckFailure as failure:
            return _failed(
                monitor,
                started_at,
                begin,
                failure.reason,
                failure.message,
                retryable=failure.retryable,
                phases=failure.phases,
                details=failure.details,
            )
        except asyncio.CancelledError as exc:
            current = asyncio.current_task()
            if run.timed_out and current is not None and current.uncancel() == 0:
                return self._backstop_timeout(monitor, started_at, begin)
            if current is None or current.cancelling():
                raise
            return self._internal_failure(slot, monitor, started_at, begin, exc)
        except TimeoutError:
            return self._backstop_timeout(monitor, started_at, begin)
        except Exception as exc:
            return self._internal_failure(slot, monitor, started_at, begin, exc)
        return CheckResult(
            monitor_id=monitor.id,
            started_at=started_at,
            ok=True,
            latency_ms=observation.latency_ms,
            state=MonitorState.UNKNOWN,
            message=observation.message,
            phases=observation.phases,
            details=observation.details,
        )

    def _backstop_timeout(
        self, monitor: Monitor, started_at: float, begin: float
    ) -> CheckResult:
        message = f"no answer within {format_duration(monitor.timeout)}"
        return _failed(monitor, started_at, begin, Reason.TIMEOUT, message)

    def _internal_failure(
        self,
        slot: int,
        monitor: Monitor,
        started_at: float,
        begin: float,
        exc: BaseException,
    ) -> CheckResult:
        """A check that broke instead of reporting: log it (rarely) and fail it.

        The traceback is logged at ERROR at most once per
        ``INTERNAL_LOG_EVERY`` seconds for each monitor, so a kind that breaks
        on every run cannot flood the log.
        """
        now = self._clock()
        last = self._internal_logged.get(slot)
        if last is None or now - last >= INTERNAL_LOG_EVERY:
            self._internal_logged[slot] = now
            self._log.error(
                "check raised instead of reporting monitor=%s kind=%s",
                monitor.id,
                monitor.kind,
                exc_info=exc,
            )
        elif self._log.isEnabledFor(logging.DEBUG):
            self._log.debug("check raised again monitor=%s error=%r", monitor.id, exc)
        message = f"the check broke: {type(exc).__name__}: {exc}"
        return _failed(
            monitor, started_at, begin, Reason.INTERNAL, message[:MESSAGE_LIMIT]
        )

    def _record(
        self,
        slot: int,
        monitor: Monitor,
        result: CheckResult,
        due: float,
        *,
        schedule: bool = True,
    ) -> None:
        """Apply a finished check to the monitor's state, then report it.

        1. Work out the new state and failure count (see the class docs).
        2. Store the result in the slot's arrays and the latency ring.
        3. Schedule the next run (unless ``schedule`` is off): a retry after
           the backoff while PENDING, otherwise the regular schedule.
        4. Hand the result to the sinks and log it.
        """
        old_code = int(self._state[slot])
        failures = int(self._failures[slot])
        result.attempt = failures if old_code == _PENDING else 0
        if result.ok:
            new_code = _DEGRADED if self._degraded[slot] else _UP
            failures = 0
            if new_code == _DEGRADED:
                result.message = self._degraded_messages.get(slot, result.message)
        else:
            failures += 1
            retry = result.retryable and old_code != _DOWN
            new_code = _PENDING if retry and failures <= monitor.retries else _DOWN
        result.state = _STATES[new_code]
        result.priority = monitor.priority.value
        if new_code != old_code:
            result.previous_state = _STATES[old_code]

        self._state[slot] = new_code
        self._failures[slot] = failures
        self._last_check[slot] = result.started_at
        self._last_latency[slot] = result.latency_ms
        self._last_ok[slot] = int(result.ok)
        if result.ok:
            self._last_reason[slot] = 0
            if new_code == _DEGRADED:
                self._messages[slot] = result.message[:MESSAGE_LIMIT]
            else:
                self._messages.pop(slot, None)
            self._rings.record(slot, result.latency_ms)
        else:
            assert result.reason is not None
            self._last_reason[slot] = _REASON_CODE[result.reason]
            self._messages[slot] = result.message[:MESSAGE_LIMIT]
            self._checks_failed += 1
        self._checks_done += 1

        now = self._clock()
        if schedule and new_code == _PENDING:
            delay = retry_delay(monitor.retry_interval, failures, monitor.interval)
            self._schedule(slot, now + delay)
        elif schedule:
            self._schedule(slot, self._regular_due(monitor, due, now))

        if self._log.isEnabledFor(logging.DEBUG):
            self._log.debug(
                "check finished monitor=%s ok=%s reason=%s duration_ms=%.1f",
                monitor.id,
                result.ok,
                result.reason,
                result.latency_ms,
            )
        self._report(result)
        if new_code != old_code:
            self._state_changed(monitor.id, _STATES[old_code], result)

    def _regular_due(self, monitor: Monitor, due: float, now: float) -> float:
        """The next run on the monitor's own schedule.

        An irregular schedule (a cron push monitor) is asked directly.
        Otherwise the run comes one interval after the last was due, so the
        phase chosen at the first run holds; beats already missed (the check
        ran or waited past the next due time) are skipped and counted.
        """
        irregular = self._irregular_due(monitor, now)
        if irregular is not None:
            return irregular
        interval = monitor.interval
        following = due + interval
        if following < now:
            missed = math.ceil((now - following) / interval)
            self._overruns += missed
            following += missed * interval
        return following

    def _irregular_due(self, monitor: Monitor, now: float) -> float | None:
        try:
            wall_due = monitor.check.next_due(time.time())
        except Exception:
            self._log.exception("next_due failed monitor=%s", monitor.id)
            return None
        if wall_due is None:
            return None
        return max(now, now + (wall_due - time.time()))

    def _report(self, result: CheckResult) -> None:
        if self._on_result is None:
            return
        try:
            self._on_result(result)
        except Exception:
            self._sink_failed("on_result")

    def _state_changed(
        self, monitor_id: str, old: MonitorState, result: CheckResult
    ) -> None:
        new = result.state
        # A first check that finds the monitor up is routine, not news.
        level = logging.DEBUG if old is MonitorState.UNKNOWN else logging.INFO
        if new is not MonitorState.UP:
            level = logging.INFO
        if self._log.isEnabledFor(level):
            self._log.log(
                level,
                "state changed monitor=%s from=%s to=%s reason=%s",
                monitor_id,
                old,
                new,
                result.reason,
            )
        if self._on_state_change is None:
            return
        try:
            self._on_state_change(monitor_id, old, new, result)
        except Exception:
            self._sink_failed("on_state_change")

    def _sink_failed(self, sink: str) -> None:
        """Log a raising sink with its traceback at most once a minute."""
        now = self._clock()
        if now - self._sink_logged_at < SINK_LOG_EVERY:
            self._sink_suppressed += 1
            return
        self._log.exception(
            "%s raised; the shard goes on (%d earlier failures not logged)",
            sink,
            self._sink_suppressed,
        )
        self._sink_logged_at = now
        self._sink_suppressed = 0

    def _finished(self, run: _Run, task: asyncio.Task[CheckResult | None]) -> None:
        """Book-keeping when a check's task ends, however it ended.

        This runs as a done callback rather than in the task, because a task
        cancelled before its first step never runs its own ``finally``.
        """
        if not run.abandoned:
            self._in_flight -= 1
        slot = run.slot
        if self._runs.get(slot) is run:
            del self._runs[slot]
        current = self._generation[slot] == run.generation
        monitor = self._monitors[slot] if current else None
        if monitor is None or monitor.check is not run.check:
            self._close_later(run.check)

        if not task.cancelled() and task.exception() is not None:
            self._log.error(
                "check task failed slot=%d", slot, exc_info=task.exception()
            )
        # A task that was cancelled or broke did not schedule the next run.
        stuck = slot not in self._runs and self._stage[slot] == _RUNNING
        if monitor is not None and stuck:
            self._stage[slot] = _IDLE
            if self._state[slot] != _PAUSED:
                self._schedule(slot, self._clock() + monitor.interval)

        if self._ready:
            self._poke()

    # Slots ----------------------------------------------------------------

    def _slot(self, monitor_id: str) -> int:
        try:
            return self._slots[monitor_id]
        except KeyError:
            raise KeyError(f"no monitor {monitor_id!r} in this shard") from None

    def _allocate(self) -> int:
        if self._free:
            return self._free.pop()
        if self._used == MAX_MONITORS:
            raise RuntimeError(f"a shard holds at most {MAX_MONITORS} monitors")
        if self._used == len(self._monitors):
            self._grow(min(2 * len(self._monitors), MAX_MONITORS))
        slot = self._used
        self._used += 1
        return slot

    def _grow(self, capacity: int) -> None:
        """Double every per-slot array, keeping the slots already in use."""
        self._monitors.extend([None] * (capacity - len(self._monitors)))
        self._state = _grown(self._state, capacity, 0)
        self._stage = _grown(self._stage, capacity, 0)
        self._rank = _grown(self._rank, capacity, 0)
        self._failures = _grown(self._failures, capacity, 0)
        self._generation = _grown(self._generation, capacity, 0)
        self._due_ms = _grown(self._due_ms, capacity, 0)
        self._last_check = _grown(self._last_check, capacity, np.nan)
        self._last_latency = _grown(self._last_latency, capacity, np.nan)
        self._last_ok = _grown(self._last_ok, capacity, -1)
        self._last_reason = _grown(self._last_reason, capacity, 0)
        self._degraded = _grown(self._degraded, capacity, False)
        self._rings.grow(capacity)

    def _is_running_check(self, slot: int, check: Check) -> bool:
        run = self._runs.get(slot)
        return run is not None and run.check is check

    def _close_later(self, check: Check) -> None:
        """Close a check in the background, bounded, logging what goes wrong."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._log.warning("no running loop to close a %s check", check.kind)
            return
        closer = loop.create_task(_close_check(check, self._log))
        self._closers.add(closer)
        closer.add_done_callback(self._closers.discard)

    def _note_lateness(self, lateness: float) -> None:
        self._lateness[self._lateness_count % LATENESS_SAMPLES] = lateness * 1000
        self._lateness_count += 1
        self._lateness_counts[bisect.bisect_left(LATENESS_BUCKETS, lateness)] += 1
        self._lateness_sum += lateness

    def _refuse_when_closed(self) -> None:
        if self._stopping:
            raise RuntimeError("the scheduler is closed")


async def _close_check(
    check: Check, log: logging.LoggerAdapter[logging.Logger]
) -> None:
    try:
        async with asyncio.timeout(CHECK_CLOSE_TIMEOUT):
            await check.close()
    except Exception:
        log.exception("closing a %s check failed", check.kind)


def _settle(wake: asyncio.Future[None]) -> None:
    if not wake.done():
        wake.set_result(None)


def _failed(
    monitor: Monitor,
    started_at: float,
    begin: float,
    reason: Reason,
    message: str,
    *,
    retryable: bool = True,
    phases: dict[str, float] | None = None,
    details: dict[str, Any] | None = None,
) -> CheckResult:
    """The result of a failed check, before the state machine has seen it."""
    return CheckResult(
        monitor_id=monitor.id,
        started_at=started_at,
        ok=False,
        latency_ms=_elapsed_ms(begin),
        state=MonitorState.UNKNOWN,
        reason=reason,
        message=message,
        retryable=retryable,
        phases=phases if phases is not None else {},
        details=details if details is not None else {},
    )


def _elapsed_ms(begin: float) -> float:
    return (time.perf_counter() - begin) * 1000


def _grown(array: npt.NDArray[Any], capacity: int, fill: Any) -> npt.NDArray[Any]:
    grown = np.full(capacity, fill, array.dtype)
    grown[: len(array)] = array
    return grown
