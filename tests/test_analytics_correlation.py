"""Tests for co-failure analysis: spans, pair counts, groups and likely roots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from analytics.correlation import (
    CHUNK,
    MAX_MONITORS,
    CoFailure,
    Root,
    RootReason,
    Span,
    co_failures,
    failure_spans,
    likely_root,
    related_groups,
)
from engine.events import StateChange
from engine.result import MonitorState

UP = MonitorState.UP
DOWN = MonitorState.DOWN
PENDING = MonitorState.PENDING


def change(
    monitor_id: str, at: float, before: MonitorState, after: MonitorState
) -> StateChange:
    return StateChange(monitor_id=monitor_id, at=at, before=before, after=after)


@pytest.mark.parametrize(
    ("changes", "until", "since", "expected"),
    [
        pytest.param(
            [change("api", 100, UP, DOWN)],
            500,
            None,
            {"api": [(100, 500)]},
            id="a span still open ends at until",
        ),
        pytest.param(
            [
                change("api", 10, UP, DOWN),
                change("api", 20, DOWN, UP),
                change("api", 30, UP, DOWN),
                change("api", 40, DOWN, UP),
                change("api", 50, UP, DOWN),
            ],
            60,
            None,
            {"api": [(10, 20), (30, 40), (50, 60)]},
            id="a flapping monitor gets a span for each time down",
        ),
        pytest.param(
            [
                change("api", 10, UP, PENDING),
                change("api", 20, PENDING, DOWN),
                change("api", 50, DOWN, PENDING),
                change("api", 70, PENDING, UP),
            ],
            100,
            None,
            {"api": [(20, 50)]},
            id="pending before and after down is not down",
        ),
        pytest.param(
            [change("api", 10, UP, PENDING), change("api", 20, PENDING, UP)],
            100,
            None,
            {"api": []},
            id="a monitor that never went down has no spans",
        ),
        pytest.param(
            [change("api", 10, UP, DOWN), change("api", 30, DOWN, DOWN)],
            40,
            None,
            {"api": [(10, 40)]},
            id="down again while down keeps one span",
        ),
        pytest.param(
            [
                change("db", 30, DOWN, UP),
                change("api", 20, UP, DOWN),
                change("db", 10, UP, DOWN),
                change("api", 40, DOWN, UP),
            ],
            100,
            None,
            {"api": [(20, 40)], "db": [(10, 30)]},
            id="changes out of order and interleaved are sorted per monitor",
        ),
        pytest.param(
            [change("db", 30, DOWN, UP)],
            100,
            0,
            {"db": [(0, 30)]},
            id="down before the first change starts at since",
        ),
        pytest.param(
            [change("db", 30, DOWN, UP)],
            100,
            None,
            {"db": []},
            id="down before the first change without since is left out",
        ),
        pytest.param(
            [
                change("db", 5, UP, DOWN),
                change("db", 15, DOWN, UP),
                change("db", 90, UP, DOWN),
                change("db", 120, DOWN, UP),
            ],
            100,
            10,
            {"db": [(10, 15), (90, 100)]},
            id="spans are cut to the window and later changes ignored",
        ),
    ],
)
def test_failure_spans_are_the_intervals_spent_down(
    changes: list[StateChange],
    until: float,
    since: float | None,
    expected: dict[str, list[Span]],
) -> None:
    assert failure_spans(changes, until, since=since) == expected


# One hour in minutes. a, b and c fail together three times (c starts a
# little later the first time); d fails twice on its own; e and f fail
# together three times, one minute each, apart from everyone else.
SCENARIO: dict[str, list[Span]] = {
    "a": [(600, 700), (1800, 1860), (3000, 3300)],
    "b": [(600, 700), (1800, 1860), (3000, 3300)],
    "c": [(670, 700), (1800, 1860), (3000, 3300)],
    "d": [(60, 180), (2400, 2460)],
    "e": [(1200, 1260), (1320, 1380), (1440, 1500)],
    "f": [(1200, 1260), (1320, 1380), (1440, 1500)],
}


def scenario() -> CoFailure:
    return co_failures(SCENARIO, bucket=60, since=0, until=3600)


@pytest.mark.parametrize(
    ("a", "b", "together", "jaccard"),
    [
        pytest.param("a", "b", 8, 1.0, id="identical spans"),
        pytest.param("a", "c", 7, 7 / 8, id="one bucket apart"),
        pytest.param("b", "c", 7, 7 / 8, id="the same the other way"),
        pytest.param("a", "d", 0, 0.0, id="independent"),
        pytest.param("a", "a", 8, 1.0, id="a monitor with itself"),
    ],
)
def test_co_failures_count_buckets_failing_together(
    a: str, b: str, together: int, jaccard: float
) -> None:
    co = scenario()

    assert co.pair(a, b).together == together
    assert co.pair(a, b).jaccard == pytest.approx(jaccard)
    assert co.pair(b, a) == co.pair(a, b)


def test_co_failures_list_monitors_in_id_order_with_their_failing_buckets() -> None:
    co = scenario()

    assert co.monitor_ids == ("a", "b", "c", "d", "e", "f")
    assert co.buckets == 60
    assert co.failing.tolist() == [8, 8, 7, 3, 3, 3]
    assert co.together.shape == (6, 6)
    assert co.together.diagonal().tolist() == co.failing.tolist()


@pytest.mark.parametrize(
    ("x", "y", "lift"),
    [
        # Four buckets, each monitor down in two: P(x) = P(y) = 1/2.
        pytest.param([(0, 120)], [(0, 120)], 2.0, id="always together"),
        pytest.param([(0, 120)], [(0, 60), (120, 180)], 1.0, id="independent"),
        pytest.param([(0, 120)], [(120, 240)], 0.0, id="never together"),
    ],
)
def test_lift_is_one_for_independent_failures_and_more_for_shared_ones(
    x: list[Span], y: list[Span], lift: float
) -> None:
    co = co_failures({"x": x, "y": y}, bucket=60, since=0, until=240)

    assert co.pair("x", "y").lift == pytest.approx(lift)


def test_a_monitor_that_never_failed_has_no_jaccard_and_no_lift() -> None:
    co = co_failures({"x": [(0, 60)], "y": []}, bucket=60, since=0, until=240)

    assert co.pair("x", "y") == (0, 0.0, 0.0)
    assert co.pair("y", "y") == (0, 0.0, 0.0)


def test_a_span_touching_a_bucket_edge_does_not_fail_the_next_bucket() -> None:
    co = co_failures({"x": [(60, 120)]}, bucket=60, since=0, until=240)

    assert co.failing.tolist() == [1]


def test_buckets_multiplied_in_blocks_add_up_across_the_blocks() -> None:
    # One-second buckets over 10,000 s are three blocks of CHUNK buckets; the
    # shared span crosses both edges between them.
    assert CHUNK < 5_000 < 2 * CHUNK < 9_000
    spans: dict[str, list[Span]] = {"x": [(3_000, 9_000)], "y": [(4_000, 10_000)]}
    co = co_failures(spans, bucket=1, since=0, until=10_000)

    assert co.pair("x", "y").together == 5_000
    assert co.pair("x", "y").jaccard == pytest.approx(5_000 / 7_000)


def test_co_failures_of_no_monitors_are_empty() -> None:
    co = co_failures({}, since=0, until=3600)

    assert co.monitor_ids == ()
    assert co.together.shape == (0, 0)
    assert related_groups(co) == []


@pytest.mark.parametrize(
    ("monitors", "bucket", "until", "argument"),
    [
        pytest.param(MAX_MONITORS + 1, 60.0, 3600, "spans", id="too many monitors"),
        pytest.param(2, 0.001, 3600, "bucket", id="too many buckets"),
        pytest.param(2, 0.0, 3600, "bucket", id="an empty bucket"),
        pytest.param(2, 60.0, 0, "until", id="a window that ends at its start"),
    ],
)
def test_co_failures_refuse_what_would_not_fit_naming_the_argument(
    monitors: int, bucket: float, until: float, argument: str
) -> None:
    spans: dict[str, list[Span]] = {f"m{index}": [] for index in range(monitors)}

    with pytest.raises(ValueError, match=f"^{argument}"):
        co_failures(spans, bucket=bucket, since=0, until=until)


@pytest.mark.parametrize(
    ("min_jaccard", "min_together", "expected"),
    [
        pytest.param(0.5, 3, [["a", "b", "c"], ["e", "f"]], id="defaults"),
        pytest.param(0.9, 3, [["a", "b"], ["e", "f"]], id="only the closest"),
        pytest.param(0.5, 4, [["a", "b", "c"]], id="only the most frequent"),
        pytest.param(0.5, 9, [], id="nothing above both"),
        pytest.param(0.0, 1, [["a", "b", "c"], ["e", "f"]], id="d stays alone"),
    ],
)
def test_related_groups_are_monitors_above_both_thresholds_largest_first(
    min_jaccard: float, min_together: int, expected: list[list[str]]
) -> None:
    groups = related_groups(
        scenario(), min_jaccard=min_jaccard, min_together=min_together
    )

    assert groups == expected


def test_related_groups_join_monitors_linked_through_another() -> None:
    # x and z never fail together, but each fails with y.
    spans: dict[str, list[Span]] = {
        "x": [(0, 180)],
        "y": [(0, 360)],
        "z": [(180, 360)],
    }
    co = co_failures(spans, bucket=60, since=0, until=600)

    assert co.pair("x", "z").together == 0
    assert related_groups(co, min_jaccard=0.5, min_together=3) == [["x", "y", "z"]]


@pytest.mark.parametrize(
    ("min_jaccard", "min_together", "argument"),
    [
        pytest.param(1.5, 3, "min_jaccard", id="jaccard above one"),
        pytest.param(0.5, 0, "min_together", id="no bucket together"),
    ],
)
def test_related_groups_refuse_thresholds_that_mean_nothing(
    min_jaccard: float, min_together: int, argument: str
) -> None:
    with pytest.raises(ValueError, match=f"^{argument}"):
        related_groups(scenario(), min_jaccard=min_jaccard, min_together=min_together)


# router <- db <- api, router <- cache: api needs db, db and cache need router.
TREE: dict[str, list[str]] = {"db": ["router"], "api": ["db"], "cache": ["router"]}
TREE_FAILED = {"router": 100.0, "db": 142.0, "api": 143.0, "cache": 150.0}


@pytest.mark.parametrize(
    ("monitors", "first_failed", "depends_on", "expected"),
    [
        pytest.param(
            ["api", "cache", "db", "router"],
            TREE_FAILED,
            TREE,
            Root(
                monitor_id="router",
                reason=RootReason.SHARED_DEPENDENCY,
                explanation=(
                    "router failed 42 s before the 3 others "
                    "and all of them depend on it"
                ),
                others=("db", "api", "cache"),
                lead=42.0,
            ),
            id="the top of the tree",
        ),
        pytest.param(
            ["api", "db"],
            TREE_FAILED,
            TREE,
            Root(
                monitor_id="db",
                reason=RootReason.SHARED_DEPENDENCY,
                explanation="db failed 1 s before api, which depends on it",
                others=("api",),
                lead=1.0,
            ),
            id="a branch of the tree",
        ),
        pytest.param(
            ["api", "cache"],
            TREE_FAILED,
            TREE,
            Root(
                monitor_id="api",
                reason=RootReason.FAILED_FIRST,
                explanation=(
                    "api failed 7 s before cache; "
                    "both depend on router, which is not failing"
                ),
                others=("cache",),
                lead=7.0,
            ),
            id="a shared dependency that is not failing is told, not named",
        ),
        pytest.param(
            ["a", "b", "c"],
            {"a": 105.0, "b": 100.0, "c": 130.0},
            {},
            Root(
                monitor_id="b",
                reason=RootReason.FAILED_FIRST,
                explanation="b failed 5 s before the first of the 2 others",
                others=("a", "c"),
                lead=5.0,
            ),
            id="no dependencies, the first to fail",
        ),
        pytest.param(
            ["b", "a"],
            {"a": 100.0, "b": 100.0},
            {},
            Root(
                monitor_id="a",
                reason=RootReason.FAILED_FIRST,
                explanation="a and b failed at the same moment; a comes first by id",
                others=("b",),
                lead=0.0,
            ),
            id="a tie goes to the lowest id",
        ),
        pytest.param(
            ["api"],
            {"api": 100.0},
            TREE,
            Root(
                monitor_id="api",
                reason=RootReason.FAILED_FIRST,
                explanation="api failed alone",
                others=(),
                lead=None,
            ),
            id="one monitor is its own root",
        ),
    ],
)
def test_likely_root_prefers_a_failing_shared_dependency_then_the_first_to_fail(
    monitors: list[str],
    first_failed: Mapping[str, float],
    depends_on: Mapping[str, Sequence[str]],
    expected: Root,
) -> None:
    root = likely_root(monitors, first_failed=first_failed, depends_on=depends_on)

    assert root == expected


def test_a_parent_all_children_need_is_the_root_though_they_failed_first() -> None:
    # The children are checked every 10 s and db every minute, so they saw
    # the outage half a minute before db's own check did. Timing tells the
    # check schedule; the dependency tells the cause, so db is the root.
    depends_on = {"api": ["db"], "web": ["db"], "db": []}
    first_failed = {"api": 100.0, "web": 101.0, "db": 130.0}

    root = likely_root(
        ["api", "web", "db"], first_failed=first_failed, depends_on=depends_on
    )

    assert root.monitor_id == "db"
    assert root.reason is RootReason.SHARED_DEPENDENCY
    assert root.others == ("api", "web")
    assert root.lead == -30.0
    assert root.explanation == (
        "all 2 others depend on db, though it was seen failing 30 s after "
        "the first of them"
    )


def test_likely_root_walks_dependencies_through_monitors_not_failing() -> None:
    # edge needs lb, lb needs router; router and edge fail, lb is fine.
    depends_on = {"edge": ["lb"], "lb": ["router"]}

    root = likely_root(
        ["edge", "router"],
        first_failed={"edge": 100.0, "router": 100.0},
        depends_on=depends_on,
    )

    assert root.monitor_id == "router"
    assert root.reason is RootReason.SHARED_DEPENDENCY


@pytest.mark.parametrize(
    ("monitors", "first_failed", "argument"),
    [
        pytest.param([], {}, "monitor_ids", id="no monitors"),
        pytest.param(["a", "b"], {"a": 1.0}, "first_failed", id="a missing time"),
    ],
)
def test_likely_root_refuses_what_it_cannot_judge(
    monitors: list[str], first_failed: Mapping[str, float], argument: str
) -> None:
    with pytest.raises(ValueError, match=f"^{argument}"):
        likely_root(monitors, first_failed=first_failed, depends_on={})
