"""RollingStats keeps per-slot EWMA, success windows and weekly baselines."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pytest

from analytics.rolling import (
    HOURS_PER_WEEK,
    RollingStats,
    hour_of_week,
    percentiles,
    robust_centre,
    season_name,
)
from bench.rolling import measure_update_cost
from engine.latency import SAMPLES

MONDAY = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
LATENCIES = [120.0, 80.0, 95.5, 300.0, 101.0, 99.0, 87.25, 110.0, 60.0, 140.0]


def fold(
    stats: RollingStats,
    slots: list[int],
    latency_ms: list[float],
    ok: list[bool],
    at: list[float],
) -> None:
    """Call ``update`` once with plain lists turned into the batch's dtypes."""
    stats.update(
        np.array(slots, np.int64),
        np.array(latency_ms, np.float32),
        np.array(ok, np.bool_),
        np.array(at, np.float64),
    )


def one_slot(stats: RollingStats, slot: int, key: str) -> float:
    return float(stats.snapshot(np.array([slot], np.int64))[key][0])


def reference_ewma(values: list[float], alpha: float) -> tuple[float, float]:
    """EWMA mean and standard deviation in plain Python, seeded by the first."""
    mean, var = values[0], 0.0
    for value in values[1:]:
        diff = value - mean
        mean += alpha * diff
        var = (1 - alpha) * (var + alpha * diff * diff)
    return mean, math.sqrt(var)


def reference_success(history: list[bool], window: int) -> float:
    recent = history[-window:]
    return sum(recent) / len(recent) if recent else math.nan


@pytest.mark.parametrize("alpha", [0.05, 0.2, 0.5, 1.0])
def test_ewma_matches_a_plain_python_reference(alpha: float) -> None:
    stats = RollingStats(4, alpha=alpha)
    for index, latency in enumerate(LATENCIES):
        fold(stats, [2], [latency], [True], [MONDAY + index])

    mean, std = reference_ewma(LATENCIES, alpha)
    assert one_slot(stats, 2, "ewma_mean") == pytest.approx(mean, rel=1e-5)
    assert one_slot(stats, 2, "ewma_std") == pytest.approx(std, rel=1e-4, abs=1e-3)


def test_the_first_latency_seeds_the_mean_with_no_spread() -> None:
    stats = RollingStats(2)
    fold(stats, [0], [42.0], [True], [MONDAY])

    assert one_slot(stats, 0, "ewma_mean") == 42.0
    assert one_slot(stats, 0, "ewma_std") == 0.0


def test_a_slot_without_results_reads_as_empty() -> None:
    snapshot = RollingStats(2).snapshot(np.array([1], np.int64))

    for key in ("ewma_mean", "ewma_std", "success_10", "success_100", "last_at"):
        assert math.isnan(float(snapshot[key][0])), key
    assert int(snapshot["count"][0]) == 0


def test_failed_checks_count_for_success_but_not_for_latency() -> None:
    stats = RollingStats(2)
    fold(stats, [0, 0], [100.0, 9999.0], [True, False], [MONDAY, MONDAY + 60])
    snapshot = stats.snapshot(np.array([0], np.int64))

    assert float(snapshot["ewma_mean"][0]) == 100.0
    assert int(snapshot["count"][0]) == 2
    assert int(snapshot["ok_count"][0]) == 1
    assert int(snapshot["latency_count"][0]) == 1
    assert float(snapshot["success_10"][0]) == 0.5
    assert int(stats.baseline(np.array([0], np.int64), np.array([MONDAY]))[1][0]) == 1


@pytest.mark.parametrize(
    ("slots", "ok"),
    [
        ([3, 3, 3], [True, True, True]),
        ([1, 3, 1, 2, 1, 3], [True, False, True, True, False, True]),
        ([0, 1, 2, 3], [True, True, False, True]),
        ([2] * 12 + [0] * 3, [index % 3 != 0 for index in range(15)]),
    ],
)
def test_repeated_slots_in_a_batch_apply_in_batch_order(
    slots: list[int], ok: list[bool]
) -> None:
    latency_ms = [50.0 + 13.0 * index for index in range(len(slots))]
    # Spread over several hours so that the baselines see the order too.
    at = [MONDAY + 1500.0 * index for index in range(len(slots))]
    batched = RollingStats(4, alpha=0.3)
    one_by_one = RollingStats(4, alpha=0.3)

    fold(batched, slots, latency_ms, ok, at)
    for slot, latency, good, when in zip(slots, latency_ms, ok, at, strict=True):
        fold(one_by_one, [slot], [latency], [good], [when])

    every = np.arange(4, dtype=np.int64)
    for key, value in batched.snapshot(every).items():
        np.testing.assert_array_equal(value, one_by_one.snapshot(every)[key], key)
    for hour in range(HOURS_PER_WEEK):
        hours = np.full(4, MONDAY + 3600.0 * hour)
        for ours, theirs in zip(
            batched.baseline(every, hours),
            one_by_one.baseline(every, hours),
            strict=True,
        ):
            np.testing.assert_array_equal(ours, theirs)


def test_a_large_random_batch_with_repeats_matches_one_by_one_updates() -> None:
    rng = np.random.default_rng(7)
    size = 400
    slots = rng.integers(0, 30, size).tolist()
    latency_ms = rng.uniform(1.0, 500.0, size).tolist()
    ok = (rng.random(size) > 0.2).tolist()
    at = (MONDAY + np.arange(size) * 60.0).tolist()
    batched = RollingStats(30)
    one_by_one = RollingStats(30)

    fold(batched, slots, latency_ms, ok, at)
    for slot, latency, good, when in zip(slots, latency_ms, ok, at, strict=True):
        fold(one_by_one, [slot], [latency], [good], [when])

    every = np.arange(30, dtype=np.int64)
    for key, value in batched.snapshot(every).items():
        np.testing.assert_array_equal(value, one_by_one.snapshot(every)[key], key)


@pytest.mark.parametrize(
    "history",
    [
        [True],
        [False] + [True] * 9,
        [False] + [True] * 10,
        [False] * 10 + [True] * 90,
        [False] + [True] * 99,
        [False] + [True] * 100,
        [False] * 100 + [True] * 10,
        [True] * 64 + [False] * 36,
        [False] * 36 + [True] * 64,
        [index % 7 == 0 for index in range(129)],
        [index % 3 != 0 for index in range(300)],
    ],
    ids=lambda history: f"{len(history)}-results-{sum(history)}-ok",
)
def test_success_ratios_cover_exactly_the_last_10_and_100_results(
    history: list[bool],
) -> None:
    stats = RollingStats(1)
    for index, ok in enumerate(history):
        fold(stats, [0], [10.0], [ok], [MONDAY + index])
    snapshot = stats.snapshot(np.array([0], np.int64))

    assert float(snapshot["success_10"][0]) == pytest.approx(
        reference_success(history, 10)
    )
    assert float(snapshot["success_100"][0]) == pytest.approx(
        reference_success(history, 100)
    )
    assert int(snapshot["count"][0]) == len(history)
    assert int(snapshot["ok_count"][0]) == sum(history)


@pytest.mark.parametrize(
    ("when", "bucket"),
    [
        (datetime(2024, 1, 1, 0, 0, tzinfo=UTC), 0),
        (datetime(2024, 1, 1, 0, 59, 59, tzinfo=UTC), 0),
        (datetime(2024, 1, 1, 1, 0, tzinfo=UTC), 1),
        (datetime(2024, 1, 3, 12, 30, tzinfo=UTC), 2 * 24 + 12),
        (datetime(1970, 1, 1, 0, 0, tzinfo=UTC), 72),
        (datetime(2024, 1, 7, 23, 59, tzinfo=UTC), 167),
        (datetime(2024, 1, 8, 0, 0, tzinfo=UTC), 0),
        (datetime(1969, 12, 28, 23, 30, tzinfo=UTC), 167),
    ],
)
def test_hour_of_week_counts_from_monday_midnight_utc(
    when: datetime, bucket: int
) -> None:
    assert int(hour_of_week(np.array([when.timestamp()]))[0]) == bucket


def test_a_latency_updates_only_the_bucket_of_its_hour_of_week() -> None:
    sunday_late = datetime(2024, 1, 7, 23, 59, tzinfo=UTC).timestamp()
    stats = RollingStats(1)
    fold(stats, [0], [250.0], [True], [sunday_late])
    slots = np.zeros(3, np.int64)

    mean, count = stats.baseline(
        slots, np.array([sunday_late, MONDAY, sunday_late + 7 * 86400])
    )

    assert count.tolist() == [1, 0, 1]
    assert mean[0] == 250.0
    assert math.isnan(float(mean[1]))


def test_a_young_bucket_is_the_plain_average_of_its_samples() -> None:
    values = [100.0, 140.0, 90.0, 130.0]
    stats = RollingStats(1, baseline_alpha=0.05)
    for week, value in enumerate(values):
        fold(stats, [0], [value], [True], [MONDAY + week * 7 * 86400])

    mean, count = stats.baseline(np.zeros(1, np.int64), np.array([MONDAY]))

    assert float(mean[0]) == pytest.approx(sum(values) / len(values), rel=1e-3)
    assert int(count[0]) == len(values)


def test_a_bucket_count_saturates_at_255() -> None:
    stats = RollingStats(1)
    for week in range(300):
        fold(stats, [0], [75.0], [True], [MONDAY + week * 7 * 86400])

    mean, count = stats.baseline(np.zeros(1, np.int64), np.array([MONDAY]))

    assert int(count[0]) == 255
    assert float(mean[0]) == 75.0


def test_results_left_out_of_learning_move_the_ewma_but_not_the_baseline() -> None:
    stats = RollingStats(1)
    fold(stats, [0], [100.0], [True], [MONDAY])

    stats.update(
        np.zeros(2, np.int64),
        np.array([900.0, 900.0], np.float32),
        np.ones(2, np.bool_),
        np.array([MONDAY + 60, MONDAY + 120]),
        learn=np.zeros(2, np.bool_),
    )
    mean, count = stats.baseline(np.zeros(1, np.int64), np.array([MONDAY]))

    assert float(mean[0]) == 100.0
    assert int(count[0]) == 1
    assert one_slot(stats, 0, "ewma_mean") > 100.0
    assert int(one_slot(stats, 0, "latency_count")) == 3


def test_first_at_is_kept_from_the_first_result_until_the_slot_is_reset() -> None:
    stats = RollingStats(1)
    fold(stats, [0, 0], [10.0, 20.0], [False, True], [MONDAY, MONDAY + 30])

    assert one_slot(stats, 0, "first_at") == MONDAY
    assert one_slot(stats, 0, "last_at") == MONDAY + 30
    stats.reset(0)
    assert math.isnan(one_slot(stats, 0, "first_at"))


def test_a_week_lists_every_bucket_from_monday_midnight() -> None:
    stats = RollingStats(2)
    tuesday_two_pm = MONDAY + (24 + 14) * 3600.0
    fold(stats, [1, 1], [120.0, 80.0], [True, True], [tuesday_two_pm, MONDAY])

    mean, count = stats.week(1)

    assert mean.shape == count.shape == (HOURS_PER_WEEK,)
    assert float(mean[38]) == 120.0
    assert float(mean[0]) == 80.0
    assert int(count.sum()) == 2
    assert np.isnan(np.delete(mean, [0, 38])).all()


@pytest.mark.parametrize("capacity", [5, 8, 1000])
def test_growing_keeps_every_row_and_adds_empty_ones(capacity: int) -> None:
    stats = RollingStats(4)
    fold(stats, [0, 3], [20.0, 30.0], [True, False], [MONDAY, MONDAY + 5])
    before = stats.snapshot(np.array([0, 3], np.int64))

    stats.grow(capacity)
    after = stats.snapshot(np.array([0, 3], np.int64))
    added = np.arange(4, capacity, dtype=np.int64)

    assert stats.capacity == capacity
    for key, value in before.items():
        np.testing.assert_array_equal(value, after[key], key)
    assert stats.baseline(np.zeros(1, np.int64), np.array([MONDAY]))[1][0] == 1
    assert (stats.snapshot(added)["count"] == 0).all()
    assert (stats.baseline(added, np.full(added.size, MONDAY))[1] == 0).all()


@pytest.mark.parametrize("capacity", [0, 3, 4])
def test_growing_to_no_more_than_the_capacity_changes_nothing(capacity: int) -> None:
    stats = RollingStats(4)
    fold(stats, [3], [20.0], [True], [MONDAY])

    stats.grow(capacity)

    assert stats.capacity == 4
    assert one_slot(stats, 3, "ewma_mean") == 20.0


def test_reset_clears_one_slot_and_leaves_the_others() -> None:
    stats = RollingStats(3)
    fold(stats, [0, 1], [20.0, 30.0], [True, True], [MONDAY, MONDAY])

    stats.reset(0)
    snapshot = stats.snapshot(np.array([0, 1], np.int64))
    counts = stats.baseline(np.array([0, 1], np.int64), np.array([MONDAY, MONDAY]))[1]

    assert snapshot["count"].tolist() == [0, 1]
    assert math.isnan(float(snapshot["ewma_mean"][0]))
    assert float(snapshot["ewma_mean"][1]) == 30.0
    assert counts.tolist() == [0, 1]


def rings(rows: list[list[float]]) -> npt.NDArray[np.float16]:
    """LatencyRings-shaped rows: the given samples, then NaN for empty entries."""
    samples = np.full((len(rows), SAMPLES), np.nan, np.float16)
    for index, row in enumerate(rows):
        samples[index, : len(row)] = row
    return samples


PARTLY_EMPTY = [
    [10.0, 20.0, 30.0, 40.0, 1000.0],
    [5.0],
    [],
    [float(value) for value in range(1, SAMPLES + 1)],
]


def test_robust_centre_ignores_empty_entries_and_empty_rows() -> None:
    median, mad = robust_centre(rings(PARTLY_EMPTY))

    for index, row in enumerate(PARTLY_EMPTY):
        if not row:
            assert math.isnan(float(median[index]))
            assert math.isnan(float(mad[index]))
            continue
        values = np.array(row, np.float32)
        centre = float(np.median(values))
        deviation = np.median(np.abs(values - centre))
        assert float(median[index]) == pytest.approx(centre)
        assert float(mad[index]) == pytest.approx(float(deviation))


@pytest.mark.parametrize("qs", [(50, 95, 99), (0, 100), (25,)])
def test_percentiles_ignore_empty_entries_and_empty_rows(
    qs: tuple[float, ...],
) -> None:
    result = percentiles(rings(PARTLY_EMPTY), qs)

    assert result.shape == (len(qs), len(PARTLY_EMPTY))
    for index, row in enumerate(PARTLY_EMPTY):
        if not row:
            assert np.isnan(result[:, index]).all()
            continue
        expected = np.percentile(np.array(row, np.float32), qs)
        np.testing.assert_allclose(result[:, index], expected, rtol=1e-6)


def test_robust_figures_of_only_empty_rows_are_nan_without_warnings() -> None:
    median, mad = robust_centre(rings([[], []]))

    assert np.isnan(median).all()
    assert np.isnan(mad).all()
    assert np.isnan(percentiles(rings([[]]))).all()


@pytest.mark.parametrize("capacity", [1, 1000, 65_536])
def test_memory_per_slot_stays_within_a_kilobyte(capacity: int) -> None:
    stats = RollingStats(capacity)
    stats.grow(capacity * 2)

    assert stats.nbytes / stats.capacity <= 1024


@pytest.mark.parametrize(
    ("slots", "error"),
    [
        ([0, 1], ValueError),
        ([-1], IndexError),
        ([4], IndexError),
    ],
)
def test_update_refuses_a_malformed_batch(
    slots: list[int], error: type[Exception]
) -> None:
    stats = RollingStats(4)

    with pytest.raises(error):
        fold(stats, slots, [1.0], [True], [MONDAY])


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.5])
def test_an_alpha_outside_zero_to_one_is_refused(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha"):
        RollingStats(1, alpha=alpha)


def test_the_update_benchmark_reports_cost_and_memory() -> None:
    figures = measure_update_cost(monitors=1000, batches=3, batch_size=50)

    assert set(figures) == {"us_per_result", "bytes_per_monitor"}
    assert figures["us_per_result"] > 0
    assert figures["bytes_per_monitor"] <= 1024


def test_a_bucket_is_trusted_once_the_monitor_is_a_week_old() -> None:
    stats = RollingStats(1)
    tuesday_two_pm = MONDAY + (24 + 14) * 3600.0
    slot = np.zeros(1, np.int64)
    fold(stats, [0, 0], [120.0, 120.0], [True, True], [tuesday_two_pm] * 2)
    in_first_week = stats.trusted_usual(slot, tuesday_two_pm + 60)
    for week in range(1, 3):
        fold(stats, [0], [120.0], [True], [tuesday_two_pm + week * 7 * 86400])

    in_second_week = stats.trusted_usual(slot, tuesday_two_pm + 7 * 86400 + 60)
    in_third_week = stats.trusted_usual(slot, tuesday_two_pm + 14 * 86400 + 60)
    at_another_hour = stats.trusted_usual(slot, tuesday_two_pm + 14 * 86400 + 3600)

    assert math.isnan(float(in_first_week[0]))
    assert float(in_second_week[0]) == 120.0
    assert float(in_third_week[0]) == 120.0
    assert math.isnan(float(at_another_hour[0]))
    assert season_name(tuesday_two_pm) == "Tuesday 14:00 UTC"
