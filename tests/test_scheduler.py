"""The shard scheduler, driven by real check kinds on a real uvloop loop.

The kinds defined here report to a ``Probe`` named by the monitor's target, so
a test can see when each check started, how many overlapped and whether the
scheduler closed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import pytest

from engine.checks import get_kind, register
from engine.checks.base import Check, CheckSpec
from engine.latency import SAMPLES
from engine.model import Monitor, monitor_from_dict
from engine.result import CheckFailure, CheckResult, MonitorState, Observation, Reason
from engine.scheduler import (
    BACKSTOP_GRACE,
    LATENESS_BUCKETS,
    MonitorSeed,
    Scheduler,
    retry_delay,
    run_phase,
)

# Scheduling tolerance: a loop on a busy test machine can wake a little late.
SLACK = 0.1


@dataclass
class Probe:
    """What the checks of one test did, shared by every check aimed at it."""

    starts: list[tuple[str, float]] = field(default_factory=list)
    active: dict[str, int] = field(default_factory=dict)
    most_at_once_per_monitor: dict[str, int] = field(default_factory=dict)
    running: int = 0
    most_at_once: int = 0
    closed: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    def starts_of(self, monitor_id: str) -> list[float]:
        return [at for who, at in self.starts if who == monitor_id]

    def enter(self, monitor_id: str) -> int:
        self.starts.append((monitor_id, time.monotonic()))
        self.active[monitor_id] = self.active.get(monitor_id, 0) + 1
        self.most_at_once_per_monitor[monitor_id] = max(
            self.most_at_once_per_monitor.get(monitor_id, 0),
            self.active[monitor_id],
        )
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        return len(self.starts_of(monitor_id))

    def leave(self, monitor_id: str) -> None:
        self.active[monitor_id] -= 1
        self.running -= 1


_probes: dict[str, Probe] = {}
_probe_numbers = itertools.count()


def new_probe() -> tuple[str, Probe]:
    name = f"probe-{next(_probe_numbers)}"
    _probes[name] = Probe()
    return name, _probes[name]


class ProbeCheck(Check):
    """A test kind: reports to its probe, then does what ``work`` says."""

    __slots__ = ("_monitor_id", "_options", "_probe")

    kind = "test-probe"

    def __init__(self, monitor_id: str, probe: str, options: Mapping[str, Any]):
        self._monitor_id = monitor_id
        self._probe = probe
        self._options = options

    @classmethod
    def prepare(cls, spec: CheckSpec) -> Self:
        return cls(spec.monitor_id, spec.target, spec.options)

    @property
    def probe(self) -> Probe:
        return _probes[self._probe]

    async def run(self) -> Observation:
        probe = self.probe
        run_number = probe.enter(self._monitor_id)
        try:
            return await self.work(run_number)
        finally:
            probe.leave(self._monitor_id)

    async def work(self, run_number: int) -> Observation:
        """Succeed after the optional ``sleep``, reporting the run number as ms."""
        await asyncio.sleep(float(self._options.get("sleep", 0)))
        return Observation(latency_ms=float(run_number))

    async def close(self) -> None:
        self.probe.closed += 1


class HangingCheck(ProbeCheck):
    """Never answers: only the monitor's timeout ends it."""

    __slots__ = ()
    kind = "test-hanging"

    async def work(self, run_number: int) -> Observation:
        await asyncio.sleep(3600)
        return Observation(latency_ms=0.0)


class BrokenCheck(ProbeCheck):
    """Raises instead of reporting, like a kind with a bug."""

    __slots__ = ()
    kind = "test-broken"

    async def work(self, run_number: int) -> Observation:
        raise RuntimeError("the probe fell over")


class FlakyCheck(ProbeCheck):
    """Fails its first ``failures`` runs (``retryable`` as given), then succeeds."""

    __slots__ = ()
    kind = "test-flaky"

    async def work(self, run_number: int) -> Observation:
        if run_number <= int(self._options.get("failures", 0)):
            retryable = bool(self._options.get("retryable", True))
            raise CheckFailure(Reason.CONNECT, "refused", retryable=retryable)
        return Observation(latency_ms=1.0)


class StubbornCheck(ProbeCheck):
    """Swallows its cancellation, then waits for the probe's gate anyway."""

    __slots__ = ()
    kind = "test-stubborn"

    async def work(self, run_number: int) -> Observation:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        await self.probe.gate.wait()
        return Observation(latency_ms=1.0)


class GatedCheck(ProbeCheck):
    """Waits until the probe's gate opens."""

    __slots__ = ()
    kind = "test-gated"

    async def work(self, run_number: int) -> Observation:
        await self.probe.gate.wait()
        return Observation(latency_ms=1.0)


for _kind in (
    ProbeCheck,
    HangingCheck,
    BrokenCheck,
    FlakyCheck,
    GatedCheck,
    StubbornCheck,
):
    register(_kind)


def monitor(monitor_id: str, kind: str, probe: str, **fields: Any) -> Monitor:
    return monitor_from_dict(
        {"id": monitor_id, "name": monitor_id, "kind": kind, "target": probe, **fields}
    )


class Shard:
    """A scheduler with its results and state changes collected in lists."""

    def __init__(self, max_in_flight: int, on_result: Callable[[CheckResult], None]):
        self.results: list[CheckResult] = []
        self.changes: list[tuple[str, MonitorState, MonitorState]] = []
        self._forward = on_result
        self.scheduler = Scheduler(
            max_in_flight=max_in_flight,
            on_result=self._result,
            on_state_change=self._changed,
        )

    def results_of(self, monitor_id: str) -> list[CheckResult]:
        return [result for result in self.results if result.monitor_id == monitor_id]

    def _result(self, result: CheckResult) -> None:
        self.results.append(result)
        self._forward(result)

    def _changed(
        self,
        monitor_id: str,
        old: MonitorState,
        new: MonitorState,
        result: CheckResult,
    ) -> None:
        assert result.state is new
        self.changes.append((monitor_id, old, new))


def _ignore(result: CheckResult) -> None:
    pass


@contextlib.asynccontextmanager
async def running_shard(
    max_in_flight: int = 100, on_result: Callable[[CheckResult], None] = _ignore
) -> AsyncIterator[Shard]:
    shard = Shard(max_in_flight, on_result)
    await shard.scheduler.start()
    try:
        yield shard
    finally:
        await shard.scheduler.close(timeout=0.5)


async def eventually(condition: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s")
        await asyncio.sleep(0.005)


def gaps(starts: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(starts)]


@pytest.mark.parametrize(
    ("retry_interval", "failures", "interval", "expected"),
    [
        (1.0, 1, 60.0, 1.0),
        (1.0, 2, 60.0, 2.0),
        (1.0, 3, 60.0, 4.0),
        (20.0, 3, 60.0, 60.0),
        (20.0, 10, 60.0, 60.0),
        (90.0, 1, 60.0, 60.0),
    ],
)
def test_retry_delay_doubles_with_each_failure_up_to_the_interval(
    retry_interval: float, failures: int, interval: float, expected: float
) -> None:
    assert retry_delay(retry_interval, failures, interval) == expected


def test_run_phases_fill_the_interval_evenly() -> None:
    phases = [run_phase(f"web-{number}", 60.0) for number in range(600)]

    assert all(0.0 <= phase < 60.0 for phase in phases)
    counts, _ = np.histogram(phases, bins=6, range=(0.0, 60.0))
    assert counts.min() > 60
    assert run_phase("web-1", 60.0) == run_phase("web-1", 60.0)


async def test_monitors_with_the_same_interval_do_not_fire_together() -> None:
    name, probe = new_probe()
    async with running_shard() as shard:
        for number in range(10):
            shard.scheduler.add(
                monitor(f"spread-{number}", "test-probe", name, interval=1)
            )
        await eventually(lambda: len({who for who, _ in probe.starts}) == 10, 1.5)

    firsts = sorted(min(probe.starts_of(f"spread-{n}")) for n in range(10))
    assert firsts[-1] - firsts[0] > 0.4
    assert max(gaps(firsts)) < 0.6
    assert sum(gap < 0.005 for gap in gaps(firsts)) <= 2


async def test_monitor_runs_once_per_interval_and_stats_count_it() -> None:
    name, probe = new_probe()
    async with running_shard() as shard:
        shard.scheduler.add(monitor("steady", "test-probe", name, interval=1))
        await shard.scheduler.run_once("steady")
        await asyncio.sleep(3.2)
        stats = shard.scheduler.stats()

    starts = probe.starts_of("steady")
    assert len(starts) == 4
    assert all(abs(gap - 1.0) < SLACK for gap in gaps(starts))
    assert all(result.lateness_ms < 50 for result in shard.results)
    assert stats.checks_done == 4
    assert stats.monitors == 1
    assert stats.in_flight == 0
    assert stats.ready == 0
    assert stats.lateness_p99_ms < 50
    assert stats.checks_per_second > 0


async def test_checks_of_one_monitor_never_overlap() -> None:
    name, probe = new_probe()
    async with running_shard() as shard:
        slow = monitor("slow", "test-probe", name, interval=1, options={"sleep": 0.5})
        shard.scheduler.add(slow)
        first = await shard.scheduler.run_once("slow")
        await asyncio.sleep(0.8)
        assert shard.scheduler.status("slow").running
        during = await asyncio.gather(*(shard.scheduler.run_once("slow") for _ in "ab"))
        await asyncio.sleep(0.6)

    assert probe.most_at_once_per_monitor["slow"] == 1
    assert during[0] is during[1]
    assert during[0] in shard.results
    assert first.ok
    assert len(probe.starts_of("slow")) == len(shard.results)


async def test_removed_monitor_never_runs_again_and_closes_its_check() -> None:
    name, probe = new_probe()
    async with running_shard() as shard:
        shard.scheduler.add(monitor("gone", "test-probe", name, interval=1))
        await shard.scheduler.run_once("gone")
        removed = shard.scheduler.remove("gone")
        await asyncio.sleep(1.3)

        assert removed.id == "gone"
        assert "gone" not in shard.scheduler
        with pytest.raises(KeyError):
            shard.scheduler.status("gone")
    assert len(probe.starts_of("gone")) == 1
    assert probe.closed == 1


async def test_check_in_flight_when_removed_reports_nothing_into_a_reused_slot() -> (
    None
):
    name, probe = new_probe()
    async with running_shard() as shard:
        shard.scheduler.add(monitor("old", "test-gated", name))
        slot = shard.scheduler.latency_ring().slots["old"]
        checking = asyncio.create_task(shard.scheduler.run_once("old"))
        await eventually(lambda: probe.running == 1)

        shard.scheduler.remove("old")
        shard.scheduler.add(monitor("new", "test-gated", name, interval=3600))
        probe.gate.set()
        with pytest.raises(KeyError):
            await checking
        await asyncio.sleep(0.05)

        assert shard.scheduler.latency_ring().slots["new"] == slot
        assert shard.results == []
        assert shard.scheduler.status("new").state is MonitorState.UNKNOWN
        assert shard.scheduler.status("new").last_check_at is None
        assert shard.scheduler.stats().in_flight == 0
    assert probe.starts_of("new") == []


async def test_paused_monitor_does_not_run_until_resumed() -> None:
    name, probe = new_probe()
    async with running_shard() as shard:
        shard.scheduler.add(monitor("nap", "test-probe", name, interval=1))
        await shard.scheduler.run_once("nap")
        shard.scheduler.pause("nap")
        await asyncio.sleep(1.3)

        assert shard.scheduler.status("nap").state is MonitorState.PAUSED
        assert len(probe.starts_of("nap")) == 1

        shard.scheduler.resume("nap")
        await eventually(lambda: len(probe.starts_of("nap")) == 2, 0.3)
        await eventually(lambda: shard.scheduler.status("nap").state is MonitorState.UP)


async def test_disabled_monitor_is_paused_from_the_start() -> None:
    name, _ = new_probe()
    async with running_shard() as shard:
        shard.scheduler.add(monitor("off", "test-probe", name, enabled=False))
        checked = await shard.scheduler.run_once("off")

        assert shard.scheduler.status("off").state is MonitorState.PAUSED
        assert checked.ok
        assert checked.state is MonitorState.PAUSED
        assert shard.results == []
        assert shard.scheduler.status("off").last_check_at is None


async def test_update_applies_a_new_interval_at_once_and_keeps_history() -> None:
    name, probe = new_probe()
    monitor_id = next(
        f"update-{n}"
        for n in range(100)
        if (run_phase(f"update-{n}", 60) - time.time()) % 60 > 20
    )
    async with running_shard() as shard:
        shard.scheduler.add(monitor(monitor_id, "test-probe", name, interval=60))
        await asyncio.sleep(0.2)
        assert probe.starts == []

        shard.scheduler.update(monitor(monitor_id, "test-probe", name, interval=1))
        await eventually(lambda: len(probe.starts) == 2, 2.5)
        # A check is recorded a moment after it starts.
        await eventually(lambda: len(shard.scheduler.latencies(monitor_id)) == 2)

        assert shard.scheduler.get(monitor_id).interval == 1
        assert gaps(probe.starts_of(monitor_id))[0] == pytest.approx(1.0, abs=SLACK)
        assert probe.closed == 1
        assert list(shard.scheduler.latencies(monitor_id)) == [1.0, 2.0]


async def test_failing_monitor_retries_with_backoff_then_goes_down() -> None:
    name, probe = new_probe()
    failing = monitor(
        "flaky",
        "test-flaky",
        name,
        interval=4,
        retries=2,
        retry_interval=1,
        options={"failures": 99},
    )
    async with running_shard() as shard:
        shard.scheduler.add(failing)
        await shard.scheduler.run_once("flaky")
        await eventually(lambda: len(shard.results) == 3, 3.5)
        status = shard.scheduler.status("flaky")

    assert [result.state for result in shard.results] == [
        MonitorState.PENDING,
        MonitorState.PENDING,
        MonitorState.DOWN,
    ]
    assert [result.attempt for result in shard.results] == [0, 1, 2]
    assert gaps(probe.starts_of("flaky")) == [
        pytest.approx(1.0, abs=SLACK),
        pytest.approx(2.0, abs=SLACK),
    ]
    assert shard.changes == [
        ("flaky", MonitorState.UNKNOWN, MonitorState.PENDING),
        ("flaky", MonitorState.PENDING, MonitorState.DOWN),
    ]
    assert status.consecutive_failures == 3
    assert status.last_reason is Reason.CONNECT
    assert status.last_message == "refused"
    assert status.last_ok is False


async def test_failure_that_cannot_be_retried_goes_down_at_once() -> None:
    name, _ = new_probe()
    fatal = monitor(
        "fatal",
        "test-flaky",
        name,
        interval=30,
        retries=3,
        options={"failures": 1, "retryable": False},
    )
    async with running_shard() as shard:
        shard.scheduler.add(fatal)
        result = await shard.scheduler.run_once("fatal")
        status = shard.scheduler.status("fatal")

    assert result.state is MonitorState.DOWN
    assert not result.retryable
    assert status.next_check_in == pytest.approx(30, abs=SLACK)


async def test_down_monitor_recovers_to_up() -> None:
    name, _ = new_probe()
    async with running_shard() as shard:
        shard.scheduler.add(
            monitor("phoenix", "test-flaky", name, options={"failures": 2})
        )
        states = [(await shard.scheduler.run_once("phoenix")).state for _ in "abc"]
        status = shard.scheduler.status("phoenix")

    assert states == [MonitorState.DOWN, MonitorState.DOWN, MonitorState.UP]
    assert shard.changes == [
        ("phoenix", MonitorState.UNKNOWN, MonitorState.DOWN),
        ("phoenix", MonitorState.DOWN, MonitorState.UP),
    ]
    assert status.consecutive_failures == 0
    assert status.last_reason is None
    assert status.last_message == ""


async def test_a_check_that_ignores_its_timeout_is_cut_off_by_the_backstop() -> None:
    name, probe = new_probe()
    async with running_shard() as shard:
        shard.scheduler.add(
            monitor("stuck", "test-hanging", name, interval=1, timeout="200ms")
        )
        shard.scheduler.add(monitor("fine", "test-probe", name, interval=1))
        timed_out, fine = await asyncio.gather(
            shard.scheduler.run_once("stuck"), shard.scheduler.run_once("fine")
        )
        await asyncio.sleep(1.15)

    assert timed_out.reason is Reason.TIMEOUT
    assert timed_out.latency_ms == pytest.approx(200 + BACKSTOP_GRACE * 1000, abs=50)
    assert fine.ok
    assert len(shard.results_of("fine")) == 2
    assert [r.reason for r in shard.results_of("stuck")] == [Reason.TIMEOUT] * 2
    assert probe.running == 0


async def test_a_check_that_swallows_its_cancellation_is_abandoned_not_waited_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    name, probe = new_probe()
    async with running_shard(max_in_flight=1) as shard:
        shard.scheduler.add(
            monitor("stubborn", "test-stubborn", name, interval=1, timeout="100ms")
        )
        shard.scheduler.add(monitor("fine", "test-probe", name, interval=1))
        with caplog.at_level(logging.ERROR, logger="engine.scheduler"):
            await eventually(lambda: len(shard.results_of("fine")) >= 2, within=4)
        stats = shard.scheduler.stats()
        stuck = shard.results_of("stubborn")
        probe.gate.set()

    assert stats.abandoned == 1
    assert len(stuck) == 1
    assert stuck[0].reason is Reason.TIMEOUT
    assert "ignored cancellation" in stuck[0].message
    assert probe.most_at_once_per_monitor["stubborn"] == 1
    assert any("abandoned" in record.getMessage() for record in caplog.records)


async def test_a_seeded_monitor_carries_on_from_its_state() -> None:
    name, _ = new_probe()
    seed = MonitorSeed(
        state=MonitorState.DOWN,
        failures=3,
        last_check_at=1000.0,
        last_ok=False,
        last_reason=Reason.CONNECT,
        last_message="refused",
    )
    async with running_shard() as shard:
        shard.scheduler.add(
            monitor("carried", "test-flaky", name, options={"failures": 1}), seed
        )
        before = shard.scheduler.status("carried")
        still_down = await shard.scheduler.run_once("carried")
        recovered = await shard.scheduler.run_once("carried")

    assert (before.state, before.last_check_at, before.last_message) == (
        MonitorState.DOWN,
        1000.0,
        "refused",
    )
    assert still_down.state is MonitorState.DOWN
    assert still_down.previous_state is None
    assert recovered.state is MonitorState.UP
    assert recovered.previous_state is MonitorState.DOWN
    assert shard.changes == [("carried", MonitorState.DOWN, MonitorState.UP)]


async def test_only_results_that_change_the_state_name_the_state_before() -> None:
    name, _ = new_probe()
    async with running_shard() as shard:
        shard.scheduler.add(monitor("steady", "test-probe", name))
        first = await shard.scheduler.run_once("steady")
        second = await shard.scheduler.run_once("steady")
        snapshot = shard.scheduler.snapshot("steady")

    assert first.previous_state is MonitorState.UNKNOWN
    assert second.previous_state is None
    assert snapshot.state is MonitorState.UP
    assert snapshot.last_latency_ms == second.latency_ms


async def test_every_start_lands_in_the_lateness_histogram() -> None:
    name, _ = new_probe()
    async with running_shard() as shard:
        for number in range(5):
            shard.scheduler.add(monitor(f"timed-{number}", "test-probe", name))
            await shard.scheduler.run_once(f"timed-{number}")
        stats = shard.scheduler.stats()

    assert len(stats.lateness_counts) == len(LATENESS_BUCKETS) + 1
    assert sum(stats.lateness_counts) == 5
    assert stats.lateness_sum >= 0


async def test_check_that_raises_becomes_an_internal_failure_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    name, _ = new_probe()
    async with running_shard() as shard:
        shard.scheduler.add(monitor("buggy", "test-broken", name, retries=1))
        with caplog.at_level(logging.ERROR, logger="engine.scheduler"):
            first = await shard.scheduler.run_once("buggy")
            second = await shard.scheduler.run_once("buggy")

    assert first.reason is Reason.INTERNAL
    assert "RuntimeError: the probe fell over" in first.message
    assert (first.state, second.state) == (MonitorState.PENDING, MonitorState.DOWN)
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None


async def test_in_flight_cap_holds_and_critical_monitors_go_first() -> None:
    blocker_probe, blocker = new_probe()
    name, probe = new_probe()
    waiting = {
        "low-a": "low",
        "low-b": "low",
        "normal": "normal",
        "critical": "critical",
    }
    async with running_shard(max_in_flight=1) as shard:
        shard.scheduler.add(monitor("blocker", "test-gated", blocker_probe))
        blocking = asyncio.create_task(shard.scheduler.run_once("blocker"))
        await eventually(lambda: blocker.running == 1)
        for monitor_id, priority in waiting.items():
            shard.scheduler.add(
                monitor(monitor_id, "test-probe", name, interval=1, priority=priority)
            )
        lows = sorted(
            ("low-a", "low-b"),
            key=lambda m: shard.scheduler.status(m).next_check_in or 0.0,
        )
        await eventually(lambda: shard.scheduler.stats().ready == 4, 1.5)
        assert shard.scheduler.stats().in_flight == 1
        await asyncio.sleep(0.1)

        blocker.gate.set()
        await blocking
        await eventually(lambda: len(probe.starts) == 4)
        stats = shard.scheduler.stats()

    assert [who for who, _ in probe.starts] == ["critical", "normal", *lows]
    assert probe.most_at_once == 1
    assert all(result.lateness_ms >= 100 for result in shard.results[1:])
    assert stats.lateness_p99_ms >= 100


async def test_latency_ring_keeps_the_last_256_samples_in_order() -> None:
    name, _ = new_probe()
    async with running_shard() as shard:
        shard.scheduler.add(monitor("ringed", "test-probe", name, interval=3600))
        for _ in range(300):
            await shard.scheduler.run_once("ringed")
        history = shard.scheduler.latencies("ringed")
        ring = shard.scheduler.latency_ring()

    assert len(history) == SAMPLES
    assert list(history) == [float(n) for n in range(300 - SAMPLES + 1, 301)]
    slot = ring.slots["ringed"]
    assert int(ring.positions[slot]) == 300 % SAMPLES
    assert float(ring.samples[slot, ring.positions[slot] - 1]) == 300.0
    assert not ring.samples.flags.writeable


async def test_close_waits_for_checks_in_flight() -> None:
    name, probe = new_probe()
    shard = Shard(10, _ignore)
    await shard.scheduler.start()
    shard.scheduler.add(monitor("busy", "test-probe", name, options={"sleep": 0.3}))
    checking = asyncio.create_task(shard.scheduler.run_once("busy"))
    await eventually(lambda: probe.running == 1)

    began = time.monotonic()
    await shard.scheduler.close(timeout=2)

    assert time.monotonic() - began >= 0.25
    assert (await checking).ok
    assert [result.ok for result in shard.results] == [True]
    assert probe.closed == 1
    with pytest.raises(RuntimeError):
        shard.scheduler.add(monitor("late", "test-probe", name))


async def test_close_cancels_checks_that_outlast_its_timeout() -> None:
    name, probe = new_probe()
    shard = Shard(10, _ignore)
    await shard.scheduler.start()
    shard.scheduler.add(monitor("endless", "test-hanging", name, timeout=30))
    checking = asyncio.create_task(shard.scheduler.run_once("endless"))
    await eventually(lambda: probe.running == 1)

    began = time.monotonic()
    await shard.scheduler.close(timeout=0.2)

    assert time.monotonic() - began < 1.0
    assert probe.running == 0
    assert shard.results == []
    with pytest.raises(KeyError):
        await checking


async def test_sink_that_raises_does_not_stop_the_shard(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(result: CheckResult) -> None:
        raise ValueError("the sink is full")

    name, _ = new_probe()
    async with running_shard(on_result=refuse) as shard:
        shard.scheduler.add(monitor("noisy", "test-probe", name))
        with caplog.at_level(logging.ERROR, logger="engine.scheduler"):
            first = await shard.scheduler.run_once("noisy")
            second = await shard.scheduler.run_once("noisy")

    assert first.ok
    assert second.ok
    assert shard.scheduler.status("noisy").state is MonitorState.UP
    assert len([r for r in caplog.records if "on_result raised" in r.message]) == 1


async def test_adding_a_monitor_twice_is_refused() -> None:
    name, _ = new_probe()
    async with running_shard() as shard:
        shard.scheduler.add(monitor("twin", "test-probe", name))
        with pytest.raises(ValueError, match="already"):
            shard.scheduler.add(monitor("twin", "test-probe", name))
        assert len(shard.scheduler) == 1


@pytest.mark.skipif(get_kind("tcp") is None, reason="the tcp kind is not built yet")
async def test_tcp_monitor_follows_a_real_local_server() -> None:
    async def accept(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    tcp = monitor_from_dict(
        {"id": "port", "name": "port", "kind": "tcp", "target": f"127.0.0.1:{port}"}
    )
    async with running_shard() as shard:
        shard.scheduler.add(tcp)
        up = await shard.scheduler.run_once("port")
        server.close()
        await server.wait_closed()
        down = await shard.scheduler.run_once("port")

    assert up.ok
    assert up.state is MonitorState.UP
    assert up.latency_ms < 1000
    assert not down.ok
    assert down.reason is Reason.CONNECT
    assert down.state is MonitorState.DOWN


async def test_a_held_shard_starts_nothing_until_released() -> None:
    name, probe = new_probe()
    async with running_shard() as shard:
        shard.scheduler.hold()
        shard.scheduler.add(monitor("held", "test-probe", name, interval=1))
        await asyncio.sleep(1.2)
        held_runs = len(probe.starts)
        released_at = time.monotonic()
        shard.scheduler.release()
        await asyncio.sleep(0.3)

    assert held_runs == 0
    # The late run starts at once; the next beat on the monitor's phase may
    # follow within the same 0.3 s.
    assert 1 <= len(probe.starts) <= 2
    assert probe.starts[0][1] - released_at < 0.1
    assert shard.scheduler.stats().lateness_p99_ms > 0


async def test_a_monitor_marked_slow_passes_as_degraded_until_unmarked() -> None:
    name, _ = new_probe()
    async with running_shard() as shard:
        shard.scheduler.add(monitor("sluggish", "test-probe", name))
        first = await shard.scheduler.run_once("sluggish")
        slots = shard.scheduler.slots_of(["sluggish", "elsewhere"])
        shard.scheduler.mark_degraded(slots[:1], ["slow: latency 900 ms"])
        degraded = await shard.scheduler.run_once("sluggish")
        marked = shard.scheduler.degraded(slots[:1]).tolist()
        shard.scheduler.mark_degraded(slots[:1], [None])
        again = await shard.scheduler.run_once("sluggish")

    assert slots[1] == -1
    assert [first.state, degraded.state, again.state] == [
        MonitorState.UP,
        MonitorState.DEGRADED,
        MonitorState.UP,
    ]
    assert degraded.previous_state == MonitorState.UP
    assert degraded.message == "slow: latency 900 ms"
    assert again.previous_state == MonitorState.DEGRADED
    assert marked == [True]
