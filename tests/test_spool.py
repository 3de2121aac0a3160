"""The spool keeps batches on disk in order, within its size, and counts losses."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.spool import Spool, SpoolFull

CRITICAL, NORMAL, LOW = 0, 1, 2


def drain(spool: Spool) -> list[bytes]:
    taken = []
    while (first := spool.oldest()) is not None:
        spooled, batch = first
        taken.append(batch)
        spool.remove(spooled)
    return taken


def test_batches_come_back_in_the_order_they_went_in(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for number in range(5):
        spool.append(f"batch {number}".encode(), kind="results", priority=1, count=3)

    assert len(spool) == 5
    assert spool.records == 15
    assert drain(spool) == [f"batch {number}".encode() for number in range(5)]
    assert spool.size == 0
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_spool_left_by_a_crash_is_picked_up_and_goes_on_in_order(
    tmp_path: Path,
) -> None:
    first = Spool(tmp_path / "spool")
    first.append(b"one", kind="results", priority=NORMAL, count=1)
    first.append(b"two", kind="changes", priority=CRITICAL, count=2)
    (tmp_path / "spool" / "000000000009-results-1-1.batch.part").write_bytes(b"x")

    again = Spool(tmp_path / "spool")
    again.append(b"three", kind="results", priority=LOW, count=1)

    assert again.records == 4
    kinds = []
    while (oldest := again.oldest()) is not None:
        kinds.append((oldest[0].kind, oldest[1]))
        again.remove(oldest[0])
    assert kinds == [("results", b"one"), ("changes", b"two"), ("results", b"three")]
    assert not any(p.name.endswith(".part") for p in (tmp_path / "spool").iterdir())


def test_a_full_spool_gives_up_the_oldest_low_priority_batch_first(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=30)
    spool.append(b"c" * 10, kind="results", priority=CRITICAL, count=1)
    spool.append(b"l" * 10, kind="results", priority=LOW, count=4)
    spool.append(b"n" * 10, kind="results", priority=NORMAL, count=2)

    spool.append(b"N" * 10, kind="results", priority=NORMAL, count=3)
    spool.append(b"M" * 10, kind="results", priority=NORMAL, count=5)

    assert spool.dropped == [0, 2, 4]
    assert drain(spool) == [b"c" * 10, b"N" * 10, b"M" * 10]


def test_a_low_batch_is_dropped_when_only_more_important_ones_fill_the_spool(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=20)
    spool.append(b"c" * 10, kind="results", priority=CRITICAL, count=1)
    spool.append(b"n" * 10, kind="results", priority=NORMAL, count=1)

    spool.append(b"l" * 10, kind="results", priority=LOW, count=7)

    assert spool.dropped == [0, 0, 7]
    assert drain(spool) == [b"c" * 10, b"n" * 10]


def test_a_batch_larger_than_the_spool_is_refused_and_counted(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=8)

    with pytest.raises(SpoolFull, match="larger than the spool"):
        spool.append(b"x" * 9, kind="results", priority=CRITICAL, count=6)

    assert spool.dropped == [6, 0, 0]
    assert len(spool) == 0


@pytest.mark.parametrize(
    ("kind", "priority", "message"),
    [("Results", 1, "kind: must be lower-case letters"), ("results", 3, "priority")],
)
def test_bad_records_are_refused_by_name(
    tmp_path: Path, kind: str, priority: int, message: str
) -> None:
    spool = Spool(tmp_path / "spool")

    with pytest.raises(ValueError, match=message):
        spool.append(b"x", kind=kind, priority=priority, count=1)
