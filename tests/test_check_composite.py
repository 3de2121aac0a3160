"""The ``composite`` kind: its definition, its judgement of members, its reader.

Member states come from a plain async function installed as the process's
state reader, answering from a dictionary each test fills in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.checks import get_kind
from engine.checks.base import CheckSpec
from engine.checks.composite import (
    CompositeCheck,
    MemberState,
    set_state_reader,
)
from engine.errors import ValidationError
from engine.model import monitor_from_dict
from engine.result import CheckFailure, CheckResult, MonitorState, Observation, Reason
from engine.scheduler import Scheduler

OWN_ID = "checkout"


@dataclass
class Board:
    """The member states the installed reader answers with, and what it was asked."""

    states: dict[str, MemberState] = field(default_factory=dict)
    asked: list[list[str]] = field(default_factory=list)


@pytest.fixture(autouse=True)
def no_reader_left_behind() -> Iterator[None]:
    """Every test ends with no reader installed, whichever it installed itself."""
    yield
    set_state_reader(None)


@pytest.fixture
def board() -> Iterator[Board]:
    """A reader installed for the test, answering from ``Board.states``."""
    answers = Board()

    async def read(members: list[str]) -> Mapping[str, MemberState]:
        answers.asked.append(members)
        return {m: answers.states[m] for m in members if m in answers.states}

    set_state_reader(read)
    yield answers
    set_state_reader(None)


def spec(target: str, options: Mapping[str, Any] | None = None) -> CheckSpec:
    return CheckSpec(OWN_ID, target, options or {}, 60.0, 10.0)


def composite(
    board: Board, states: list[tuple[str, str]], **options: Any
) -> CompositeCheck:
    """A check over members ``m1``, ``m2``, ... that stand as ``states`` say.

    Each state is ``(state, reason)``; a state of ``missing`` leaves the
    member out of the reader's answer.
    """
    members = [f"m{number}" for number in range(1, len(states) + 1)]
    for member, (state, reason) in zip(members, states, strict=True):
        if state != "missing":
            board.states[member] = MemberState(state, reason)
    return CompositeCheck.prepare(spec(",".join(members), options))


def plain(*states: str) -> list[tuple[str, str]]:
    return [(state, "") for state in states]


async def outcome(check: CompositeCheck) -> Observation | CheckFailure:
    try:
        return await check.run()
    except CheckFailure as failure:
        return failure


@pytest.mark.parametrize(
    ("target", "options", "field_name", "problem"),
    [
        ("", {}, "target", "must name the member monitors"),
        ("   ", {}, "target", "must name the member monitors"),
        ("api-1,,api-2", {}, "target", "has an empty member id"),
        ("api-1,", {}, "target", "has an empty member id"),
        ("api 1,api-2", {}, "target", "member ids must be 1-64 letters"),
        ("-api", {}, "target", "got '-api'"),
        ("a" * 65, {}, "target", "member ids must be 1-64 letters"),
        ("api-1, api-2, api-1", {}, "target", "names 'api-1' more than once"),
        ("api-1, checkout", {}, "target", "must not name the composite itself"),
        (
            ",".join(f"m{number}" for number in range(1001)),
            {},
            "target",
            "may name at most 1000 members, got 1001",
        ),
        ("api-1", {"mode": "most"}, "options.mode", "one of all, any, at_least"),
        ("api-1", {"mode": 2}, "options.mode", "got 2"),
        ("a,b", {"mode": "at_least"}, "options.at_least", "is required"),
        ("a,b", {"mode": "at_least", "at_least": 0}, "options.at_least", "1 and 2"),
        ("a,b", {"mode": "at_least", "at_least": 3}, "options.at_least", "got 3"),
        ("a,b", {"mode": "at_least", "at_least": 1.5}, "options.at_least", "whole"),
        ("a,b", {"mode": "at_least", "at_least": True}, "options.at_least", "whole"),
        ("a,b", {"at_least": 1}, "options.at_least", "only applies with"),
        ("a,b", {"mode": "any", "at_least": 1}, "options.at_least", "only applies"),
        ("a,b", {"timeout": 3}, "options.timeout", "unknown option"),
    ],
)
def test_a_bad_definition_is_refused_naming_its_field(
    target: str, options: dict[str, Any], field_name: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        CompositeCheck.prepare(spec(target, options))

    assert len(caught.value.errors) == 1
    error = caught.value.errors[0]
    assert error.field == field_name
    assert problem in error.problem


def test_every_problem_of_a_definition_is_reported_together() -> None:
    options = {"mode": "most", "colour": "red"}
    with pytest.raises(ValidationError) as caught:
        CompositeCheck.prepare(spec("api-1,api-1,checkout", options))

    fields = [error.field for error in caught.value.errors]
    assert sorted(fields) == ["options.colour", "options.mode", "target", "target"]


@pytest.mark.parametrize(
    ("target", "members"),
    [
        ("api-1", ("api-1",)),
        ("api-1,api-2,api-3", ("api-1", "api-2", "api-3")),
        (" api-1 , api-2,api-3 ", ("api-1", "api-2", "api-3")),
        ("db.primary,cache_0", ("db.primary", "cache_0")),
    ],
)
def test_members_are_read_from_a_comma_separated_target(
    target: str, members: tuple[str, ...]
) -> None:
    assert CompositeCheck.prepare(spec(target)).members == members


def test_a_monitor_of_kind_composite_is_built_from_its_definition() -> None:
    monitor = monitor_from_dict(
        {
            "id": OWN_ID,
            "name": "Checkout",
            "kind": "composite",
            "target": "api-1, api-2",
            "options": {"mode": "at_least", "at_least": 1},
        }
    )

    assert get_kind("composite") is CompositeCheck
    assert monitor.kind == "composite"
    assert isinstance(monitor.check, CompositeCheck)
    assert monitor.check.members == ("api-1", "api-2")


def test_a_monitor_definition_names_the_fields_the_kind_refuses() -> None:
    definition = {
        "id": OWN_ID,
        "name": "Checkout",
        "kind": "composite",
        "target": "api-1,checkout",
        "options": {"mode": "at_least", "at_least": 5},
    }
    with pytest.raises(ValidationError) as caught:
        monitor_from_dict(definition)

    assert sorted(error.field for error in caught.value.errors) == [
        "options.at_least",
        "target",
    ]


@pytest.mark.parametrize(
    ("options", "states", "ok"),
    [
        ({}, ["up", "up", "up"], True),
        ({}, ["up", "down", "up"], False),
        ({}, ["down", "down"], False),
        ({}, ["up", "paused", "maintenance"], True),
        ({}, ["down", "unknown"], False),
        ({"mode": "all"}, ["degraded", "pending"], True),
        ({"mode": "any"}, ["down", "down", "up"], True),
        ({"mode": "any"}, ["down", "down"], False),
        ({"mode": "any"}, ["down", "paused"], False),
        ({"mode": "any"}, ["pending", "down"], True),
        ({"mode": "at_least", "at_least": 2}, ["up", "up", "down"], True),
        ({"mode": "at_least", "at_least": 2}, ["up", "down", "down"], False),
        ({"mode": "at_least", "at_least": 2}, ["up", "paused", "unknown"], False),
        ({"mode": "at_least", "at_least": 3}, ["up", "degraded", "pending"], True),
        ({"mode": "at_least", "at_least": 1}, ["down", "down", "degraded"], True),
        ({"mode": "at_least", "at_least": 1}, ["down", "down", "down"], False),
    ],
)
async def test_each_mode_judges_a_mix_of_member_states(
    board: Board, options: dict[str, Any], states: list[str], ok: bool
) -> None:
    result = await outcome(composite(board, plain(*states), **options))

    assert isinstance(result, Observation) is ok


NOT_CHECKED = (
    "no member is being checked: the member is paused, in maintenance or unknown"
)


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("up", "1 of 1 members up"),
        ("degraded", "1 of 1 members up"),
        ("pending", "1 of 1 members up"),
        ("down", "1 of 1 members down (all must be up): m1"),
        ("maintenance", NOT_CHECKED),
        ("paused", NOT_CHECKED),
        ("unknown", NOT_CHECKED),
        ("missing", NOT_CHECKED),
    ],
)
async def test_a_member_counts_as_up_down_or_not_at_all_by_its_state(
    board: Board, state: str, message: str
) -> None:
    result = await outcome(composite(board, plain(state)))

    assert result.message == message
    reported = "unknown" if state == "missing" else state
    assert result.details == {"members": {"m1": reported}}


@pytest.mark.parametrize(
    ("options", "states", "message"),
    [
        ({}, plain("up", "up", "up"), "3 of 3 members up"),
        (
            {},
            [("up", ""), ("down", "connect"), ("down", "timeout")],
            "2 of 3 members down (all must be up): m2 (connect), m3 (timeout)",
        ),
        (
            {"mode": "any"},
            [("down", "connect"), ("down", "")],
            "2 of 2 members down (at least one must be up): m1 (connect), m2",
        ),
        (
            {"mode": "any"},
            plain("up", "down", "paused"),
            "1 of 3 members up, 1 down, 1 not being checked",
        ),
        (
            {"mode": "at_least", "at_least": 2},
            [("up", ""), ("down", "dns"), ("paused", "")],
            "1 of 3 members down, 1 not being checked "
            "(at least 2 must be up): m2 (dns)",
        ),
        (
            {"mode": "at_least", "at_least": 2},
            plain("up", "paused", "unknown"),
            "1 of 3 members up, 2 not being checked (at least 2 must be up)",
        ),
        (
            {},
            plain("paused", "maintenance"),
            "no member is being checked: "
            "all 2 members are paused, in maintenance or unknown",
        ),
    ],
)
async def test_the_message_counts_the_members_and_names_the_down_ones(
    board: Board,
    options: dict[str, Any],
    states: list[tuple[str, str]],
    message: str,
) -> None:
    result = await outcome(composite(board, states, **options))

    assert result.message == message


@pytest.mark.parametrize(
    ("down", "ending"),
    [
        (10, "m9 (timeout), m10 (timeout)"),
        (11, "m10 (timeout) and 1 more"),
        (15, "m10 (timeout) and 5 more"),
    ],
)
async def test_a_failure_names_ten_down_members_and_counts_the_rest(
    board: Board, down: int, ending: str
) -> None:
    result = await outcome(composite(board, [("down", "timeout")] * down))

    assert isinstance(result, CheckFailure)
    assert result.message.startswith(
        f"{down} of {down} members down (all must be up): m1 (timeout), m2 (timeout)"
    )
    assert result.message.endswith(ending)
    assert result.message.count("(timeout)") == 10


async def test_a_failure_is_a_retryable_assertion_listing_every_member(
    board: Board,
) -> None:
    result = await outcome(composite(board, plain("up", "down", "missing")))

    assert isinstance(result, CheckFailure)
    assert result.reason is Reason.ASSERTION
    assert result.retryable
    assert result.details == {"members": {"m1": "up", "m2": "down", "m3": "unknown"}}


async def test_the_reader_is_asked_for_the_members_in_target_order(
    board: Board,
) -> None:
    check = CompositeCheck.prepare(spec("web-2, web-1 ,db"))

    await outcome(check)

    assert board.asked == [["web-2", "web-1", "db"]]


async def test_the_latency_is_the_time_the_reader_took() -> None:
    async def slow(members: list[str]) -> Mapping[str, MemberState]:
        await asyncio.sleep(0.05)
        return {member: MemberState("up") for member in members}

    set_state_reader(slow)
    check = CompositeCheck.prepare(spec("api-1,api-2"))
    started = time.perf_counter()
    observation = await check.run()
    whole_run_ms = (time.perf_counter() - started) * 1000.0

    # uvloop's timers are millisecond-grained, so the sleep may end a little early.
    assert 45.0 <= observation.latency_ms <= whole_run_ms
    assert observation.details == {"members": {"api-1": "up", "api-2": "up"}}


async def test_without_a_reader_the_check_fails_as_internal() -> None:
    check = CompositeCheck.prepare(spec("api-1"))

    with pytest.raises(CheckFailure) as caught:
        await check.run()

    assert caught.value.reason is Reason.INTERNAL
    assert caught.value.retryable
    assert caught.value.message == "member states are not available in this process"


async def test_a_reader_that_raises_fails_the_check_as_internal_with_the_cause() -> (
    None
):
    problem = ConnectionError("the state actor is unreachable")

    async def unreachable(members: list[str]) -> Mapping[str, MemberState]:
        raise problem

    set_state_reader(unreachable)
    with pytest.raises(CheckFailure) as caught:
        await CompositeCheck.prepare(spec("api-1")).run()

    assert caught.value.reason is Reason.INTERNAL
    assert caught.value.retryable
    assert "ConnectionError: the state actor is unreachable" in caught.value.message
    assert caught.value.__cause__ is problem


async def eventually(condition: Callable[[], bool], within: float = 3.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s")
        await asyncio.sleep(0.01)


async def test_a_scheduled_composite_goes_down_when_its_members_do(
    board: Board,
) -> None:
    board.states.update(api_1=MemberState("up"), api_2=MemberState("up"))
    results: list[CheckResult] = []
    changes: list[tuple[MonitorState, MonitorState]] = []

    def changed(
        monitor_id: str, old: MonitorState, new: MonitorState, result: CheckResult
    ) -> None:
        changes.append((old, new))

    scheduler = Scheduler(on_result=results.append, on_state_change=changed)
    await scheduler.start()
    try:
        scheduler.add(
            monitor_from_dict(
                {
                    "id": OWN_ID,
                    "name": "Checkout",
                    "kind": "composite",
                    "target": "api_1,api_2",
                    "interval": 1,
                }
            )
        )
        await eventually(lambda: bool(results))
        board.states["api_2"] = MemberState("down", reason="connect")
        await eventually(lambda: results[-1].state is MonitorState.DOWN)
    finally:
        await scheduler.close(timeout=0.5)

    assert results[0].ok
    assert results[0].message == "2 of 2 members up"
    assert changes == [
        (MonitorState.UNKNOWN, MonitorState.UP),
        (MonitorState.UP, MonitorState.DOWN),
    ]
    assert results[-1].reason is Reason.ASSERTION
    assert results[-1].message == (
        "1 of 2 members down (all must be up): api_2 (connect)"
    )
    assert results[-1].details == {"members": {"api_1": "up", "api_2": "down"}}
