"""Rollups: how results fall into buckets and percentiles come out of them."""

from __future__ import annotations

import pytest

from store.rollups import BUCKETS, aggregate, bucket_of, percentile
from tests.store_samples import failed, result


@pytest.mark.parametrize(
    ("latency", "bucket"), [(0.2, 0), (1.0, 0), (1.5, 1), (60000.0, 18), (9e9, 19)]
)
def test_each_latency_falls_in_its_bucket(latency: float, bucket: int) -> None:
    assert bucket_of(latency) == bucket


def test_percentiles_interpolate_within_a_bucket() -> None:
    histogram = [0] * BUCKETS
    histogram[bucket_of(15.0)] = 100

    assert percentile(histogram, 0.5) == pytest.approx(15.0)
    assert percentile([0] * BUCKETS, 0.5) is None


def test_results_aggregate_by_monitor_and_bucket() -> None:
    rollups = aggregate(
        [
            result("api", 10.0, latency_ms=5.0),
            result("api", 50.0, latency_ms=7.0),
            failed("api", 70.0),
            result("web", 20.0),
        ],
        60,
    )

    by_key = {(r.monitor_id, r.start): r for r in rollups}
    first = by_key[("api", 0.0)]
    assert (first.count, first.ok, first.latency_min, first.latency_max) == (
        2,
        2,
        5.0,
        7.0,
    )
    assert by_key[("api", 60.0)].ok == 0
    assert by_key[("web", 0.0)].count == 1
