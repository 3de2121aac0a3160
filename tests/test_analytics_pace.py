"""Judging pace from a shard's latency rings: sustained, robust, with a reason."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.pace import RECENT, PaceJudge
from engine.latency import LatencyRings


def rings_with(*histories: list[float]) -> LatencyRings:
    rings = LatencyRings(len(histories))
    for slot, history in enumerate(histories):
        rings.reset(slot)
        for latency in history:
            rings.record(slot, latency)
    return rings


def judge(
    judge: PaceJudge, rings: LatencyRings, marked: list[bool]
) -> dict[int, str | None]:
    slots = np.arange(len(marked), dtype=np.int64)
    verdicts = judge.judge(slots, rings.samples, rings.positions, np.array(marked))
    return dict(zip(verdicts.slots.tolist(), verdicts.messages, strict=True))


STEADY = [10.0 + (n % 3) for n in range(60)]


def test_a_monitor_slow_for_its_last_checks_is_judged_slow_with_a_reason() -> None:
    rings = rings_with(STEADY + [200.0] * RECENT, STEADY)

    verdicts = judge(PaceJudge(2), rings, [False, False])

    assert list(verdicts) == [0]
    assert verdicts[0] == "slow: latency 200 ms over the last 5 checks, usually 11 ms"


def test_one_slow_check_is_not_enough() -> None:
    rings = rings_with([*STEADY, 200.0, 11.0, 10.0])

    assert judge(PaceJudge(1), rings, [False]) == {}


def test_a_noisy_monitor_is_not_slow_within_its_usual_spread() -> None:
    noisy = [float(v) for v in np.random.default_rng(4).uniform(5, 60, 60)]

    rings = rings_with(noisy + [70.0] * RECENT)

    assert judge(PaceJudge(1), rings, [False]) == {}


def test_a_monitor_with_too_few_latencies_is_not_judged() -> None:
    rings = rings_with([10.0] * 4 + [500.0] * RECENT)

    assert judge(PaceJudge(1), rings, [False]) == {}


# Half-minute runs, in steps the rings' float16 keeps exactly.
JOB = [30_000.0 + 16 * (n % 3) for n in range(60)]


@pytest.mark.parametrize(
    ("history", "odd", "usual_again"),
    [(STEADY, 200.0, 12.0), (JOB, 900.0, 25_000.0)],
    ids=["slow", "fast"],
)
def test_a_degraded_monitor_is_usual_again_against_the_latency_it_had_before(
    history: list[float], odd: float, usual_again: float
) -> None:
    pace = PaceJudge(1)
    rings = rings_with(history + [odd] * RECENT)
    judge(pace, rings, [False])
    # Long enough to fill the ring with odd checks: still degraded.
    for _ in range(300):
        rings.record(0, odd)
    still = judge(pace, rings, [True])
    for _ in range(RECENT):
        rings.record(0, usual_again)

    again = judge(pace, rings, [True])

    assert still == {}
    assert again == {0: None}


def test_a_trusted_seasonal_usual_replaces_the_ring_and_names_the_hour() -> None:
    rings = rings_with(STEADY + [200.0] * RECENT, STEADY + [200.0] * RECENT)
    slots = np.arange(2, dtype=np.int64)
    # Slot 0 is usually this slow at this hour; slot 1 usually fast.
    seasonal = np.array([190.0, 11.0])

    verdicts = PaceJudge(2).judge(
        slots,
        rings.samples,
        rings.positions,
        np.zeros(2, np.bool_),
        seasonal,
        "Tuesday 14:00 UTC",
    )

    assert verdicts.slots.tolist() == [1]
    assert verdicts.messages == [
        "slow: latency 200 ms over the last 5 checks, usual 11 ms for Tuesday 14:00 UTC"
    ]


def test_an_hour_usually_fast_makes_a_normal_latency_slow() -> None:
    evening = [150.0 + (n % 3) for n in range(60)]
    rings = rings_with(evening + [150.0] * RECENT)

    verdicts = PaceJudge(1).judge(
        np.zeros(1, np.int64),
        rings.samples,
        rings.positions,
        np.zeros(1, np.bool_),
        np.array([40.0]),
        "Sunday 03:00 UTC",
    )

    assert verdicts.slots.tolist() == [0]
    assert verdicts.messages == [
        "slow: latency 150 ms over the last 5 checks, usual 40 ms for Sunday 03:00 UTC"
    ]


def test_a_job_that_finishes_far_sooner_than_usual_is_judged_fast() -> None:
    rings = rings_with(JOB + [900.0] * RECENT, JOB)

    verdicts = judge(PaceJudge(2), rings, [False, False])

    assert verdicts == {
        0: "fast: latency 900 ms over the last 5 checks, usually 30,016 ms"
    }


@pytest.mark.parametrize(
    ("usual", "recent"),
    [
        # Half as fast, but within 20 ms of usual: a fast service stays UP.
        (30.0, 12.0),
        # A third faster only.
        (200.0, 150.0),
    ],
)
def test_a_modestly_faster_monitor_is_not_judged_fast(
    usual: float, recent: float
) -> None:
    rings = rings_with([usual + (n % 3) for n in range(60)] + [recent] * RECENT)

    assert judge(PaceJudge(1), rings, [False]) == {}
