"""Rendezvous placement: stable, balanced, and moving little when shards change."""

from __future__ import annotations

import pytest

from actors.placement import assign, owner

IDS = [f"monitor-{index}" for index in range(20_000)]


def test_every_monitor_has_exactly_one_owner() -> None:
    groups = assign(IDS, ["a", "b", "c"])

    placed = [monitor for group in groups.values() for monitor in group]

    assert sorted(placed) == sorted(IDS)


def test_the_owner_does_not_depend_on_shard_order() -> None:
    assert all(owner(i, ["a", "b", "c"]) == owner(i, ["c", "a", "b"]) for i in IDS)


@pytest.mark.parametrize("count", [2, 3, 5])
def test_monitors_spread_evenly(count: int) -> None:
    shards = [f"shard-{n}" for n in range(count)]
    sizes = [len(group) for group in assign(IDS, shards).values()]

    assert max(sizes) - min(sizes) < 0.1 * len(IDS) / count


@pytest.mark.parametrize("count", [2, 3, 4])
def test_adding_a_shard_moves_about_one_in_n_and_only_to_it(count: int) -> None:
    before = [f"shard-{n}" for n in range(count)]
    after = [*before, "shard-new"]

    moved = [i for i in IDS if owner(i, before) != owner(i, after)]

    assert all(owner(i, after) == "shard-new" for i in moved)
    assert abs(len(moved) / len(IDS) - 1 / (count + 1)) < 0.03


def test_removing_a_shard_moves_only_its_monitors() -> None:
    before = ["a", "b", "c"]
    moved = [i for i in IDS if owner(i, before) != owner(i, ["a", "b"])]

    assert all(owner(i, before) == "c" for i in moved)


def test_placing_on_no_shards_is_refused() -> None:
    with pytest.raises(ValueError, match="no shards"):
        owner("x", [])
