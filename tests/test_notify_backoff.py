"""Retry delays for failed deliveries: exponential, capped, jittered, bounded."""

from __future__ import annotations

import random

import pytest

from engine.errors import ValidationError
from notify.backoff import RetryPolicy


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(2, 5.0), (3, 10.0), (4, 20.0), (9, 600.0), (12, 600.0)],
)
def test_the_ceiling_doubles_from_the_first_delay_up_to_the_cap(
    attempt: int, ceiling: float
) -> None:
    assert RetryPolicy().ceiling(attempt) == ceiling


def test_each_delay_is_drawn_below_its_ceiling_and_differs_between_deliveries() -> None:
    policy = RetryPolicy()
    rng = random.Random(7)

    delays = [policy.delay(5, rng) for _ in range(200)]

    assert all(d is not None and 0 <= d <= policy.ceiling(5) for d in delays)
    assert len(set(delays)) == len(delays)


def test_a_delivery_is_given_up_after_its_last_attempt() -> None:
    policy = RetryPolicy(max_attempts=3)

    assert policy.delay(3, random.Random(1)) is not None
    assert policy.delay(4, random.Random(1)) is None


def test_a_huge_attempt_number_stays_at_the_cap() -> None:
    assert RetryPolicy(max_attempts=100).ceiling(100) == 600.0


def test_a_bad_policy_names_every_field_at_fault() -> None:
    with pytest.raises(ValidationError) as caught:
        RetryPolicy(first_delay=0, factor=0.5, max_delay=-1, max_attempts=0)

    assert [error.field for error in caught.value.errors] == [
        "first_delay",
        "factor",
        "max_delay",
        "max_attempts",
    ]
