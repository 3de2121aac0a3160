"""The monitor model: defaults, validation errors that name fields, file round trips."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, Self

import pytest
import yaml

from engine.checks import Check, CheckSpec, register
from engine.dependencies import dependency_cycle
from engine.durations import format_duration, parse_duration
from engine.errors import FieldError, ValidationError
from engine.model import (
    Priority,
    dump_monitors,
    load_monitors,
    monitor_from_dict,
    monitors_from_dicts,
    slugify,
)
from engine.result import (
    CheckResult,
    MonitorState,
    Observation,
    Reason,
    pack_results,
    unpack_results,
)


class ModelTestCheck(Check):
    """A kind that accepts any target except 'bad' and one option, ``level``."""

    __slots__ = ("target",)
    kind = "model-test"

    def __init__(self, target: str) -> None:
        self.target = target

    @classmethod
    def prepare(cls, spec: CheckSpec) -> Self:
        errors = []
        if spec.target == "bad":
            errors.append(FieldError("target", "must not be 'bad'"))
        level = spec.options.get("level", 1)
        if not isinstance(level, int):
            errors.append(
                FieldError("options.level", f"must be a number, got {level!r}")
            )
        if errors:
            raise ValidationError(errors)
        return cls(spec.target)

    async def run(self) -> Observation:
        return Observation(latency_ms=0.0)


register(ModelTestCheck)


def definition(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"name": "Billing API", "kind": "model-test", "target": "x"}
    base.update(fields)
    return base


def problems(data: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        monitor_from_dict(data)
    return [str(error) for error in caught.value.errors]


def test_a_minimal_definition_gets_sensible_defaults() -> None:
    monitor = monitor_from_dict(definition())

    assert monitor.id == "billing-api"
    assert monitor.interval == 60
    assert monitor.timeout == 10
    assert monitor.retries == 0
    assert monitor.retry_interval == 20
    assert monitor.priority is Priority.NORMAL
    assert monitor.enabled is True
    assert monitor.tags == ()
    assert isinstance(monitor.check, ModelTestCheck)


def test_short_intervals_shorten_the_default_timeout_and_retry_interval() -> None:
    monitor = monitor_from_dict(definition(interval="5s"))

    assert monitor.timeout == 5
    assert monitor.retry_interval == 5


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"interval": 0}, "interval: must be between 1s and 24h, got 0s"),
        ({"interval": "25h"}, "interval: must be between 1s and 24h, got 25h"),
        (
            {"interval": "soon"},
            "interval: must be a duration such as 30s or 5m, got 'soon'",
        ),
        ({"timeout": "2m"}, "timeout: must not exceed the interval (1m), got 2m"),
        ({"timeout": 0}, "timeout: must be above 0s, got 0s"),
        ({"retries": 11}, "retries: must be between 0 and 10, got 11"),
        ({"retries": "3"}, "retries: must be a whole number, got '3'"),
        (
            {"retry_interval": "500ms"},
            "retry_interval: must be between 1s and 24h, got 500ms",
        ),
        (
            {"priority": "urgent"},
            "priority: must be one of critical, normal, low, got 'urgent'",
        ),
        ({"enabled": "yes"}, "enabled: must be true or false, got 'yes'"),
        ({"tags": "prod"}, "tags: must be a list of text, got 'prod'"),
        ({"tags": ["ok", 5]}, "tags[1]: must be text of 1-64 characters, got 5"),
        (
            {"id": "no spaces"},
            "id: must be 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, got 'no spaces'",
        ),
        ({"name": ""}, "name: must not be empty"),
        ({"options": [1]}, "options: must be a mapping, got [1]"),
        ({"colour": "red"}, "colour: unknown field"),
        ({"target": "bad"}, "target: must not be 'bad'"),
        ({"options": {"level": "high"}}, "options.level: must be a number, got 'high'"),
    ],
)
def test_a_bad_field_is_named_with_its_problem(
    fields: dict[str, Any], expected: str
) -> None:
    assert problems(definition(**fields)) == [expected]


@pytest.mark.parametrize(
    ("accepted", "refused", "expected"),
    [
        (
            {"interval": 60},
            {"interval": True},
            "interval: must be a duration such as 30s or 5m, got True",
        ),
        (
            {"retries": 1},
            {"retries": True},
            "retries: must be a whole number, got True",
        ),
        (
            {"options": {"level": 1}},
            {"options": {"level": 1.0}},
            "options.level: must be a number, got 1.0",
        ),
    ],
)
def test_a_value_equal_to_an_accepted_one_but_of_another_type_is_judged_anew(
    accepted: dict[str, Any], refused: dict[str, Any], expected: str
) -> None:
    monitor_from_dict(definition(**accepted))

    assert problems(definition(**refused)) == [expected]


def test_options_keep_the_types_they_were_given() -> None:
    number = monitor_from_dict(definition(options={"level": 1}))
    flag = monitor_from_dict(definition(options={"level": True}))

    assert type(number.options["level"]) is int
    assert type(flag.options["level"]) is bool
    assert flag.to_dict()["options"] == {"level": True}


def test_an_unknown_kind_lists_the_known_ones() -> None:
    (problem,) = problems(definition(kind="smtp-magic"))

    assert problem.startswith("kind: unknown kind 'smtp-magic'; known: ")
    assert "model-test" in problem


def test_several_problems_are_reported_together() -> None:
    found = problems(
        {"kind": "model-test", "interval": 0, "priority": "x", "target": "bad"}
    )

    assert [line.split(":")[0] for line in found] == [
        "name",
        "interval",
        "priority",
        "target",
    ]


def test_problems_in_a_list_name_the_monitor_they_belong_to() -> None:
    with pytest.raises(ValidationError) as caught:
        monitors_from_dicts(
            [definition(), definition(interval=0), definition(name="Billing API")]
        )

    assert [str(error) for error in caught.value.errors] == [
        "monitors[1].interval: must be between 1s and 24h, got 0s",
        "monitors[2].id: 'billing-api' is already used by monitors[0]",
    ]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_monitors_survive_a_round_trip_through_a_file(
    tmp_path: Path, suffix: str
) -> None:
    original = monitors_from_dicts(
        [
            definition(
                interval="90s",
                timeout=2.5,
                retries=2,
                tags=["prod", "eu"],
                priority="critical",
                enabled=False,
                description="Charges customers",
                options={"level": 3},
            ),
            definition(name="Search", id="search-1"),
        ]
    )
    path = tmp_path / f"monitors{suffix}"

    dump_monitors(original, path)
    loaded = load_monitors(path)

    assert loaded == original
    assert [m.to_dict() for m in loaded] == [m.to_dict() for m in original]


def test_the_dictionary_form_is_the_api_schema() -> None:
    monitor = monitor_from_dict(definition(interval="1m30s", tags=["a"]))

    assert monitor.to_dict() == {
        "id": "billing-api",
        "name": "Billing API",
        "kind": "model-test",
        "target": "x",
        "interval": 90,
        "timeout": 10,
        "retries": 0,
        "retry_interval": 20,
        "tags": ["a"],
        "priority": "normal",
        "enabled": True,
        "description": "",
        "options": {},
        "depends_on": [],
    }
    assert json.loads(json.dumps(monitor.to_dict())) == monitor.to_dict()


def test_replace_validates_the_changed_copy() -> None:
    monitor = monitor_from_dict(definition())

    assert monitor.replace(interval=30).interval == 30
    with pytest.raises(ValidationError, match="interval: must be between"):
        monitor.replace(interval=0)


def test_a_file_that_is_not_yaml_says_so(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("monitors: [\n", encoding="utf-8")

    with pytest.raises(ValidationError, match=r"broken\.yaml: not valid"):
        load_monitors(path)


def test_a_broken_yaml_file_is_reported_as_the_yaml_library_words_it(
    tmp_path: Path,
) -> None:
    text = "monitors:\n  - name: a\n   kind: http\n"
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(yaml.YAMLError) as parsed:
        yaml.safe_load(text)

    with pytest.raises(ValidationError) as caught:
        load_monitors(path)

    assert str(caught.value) == f"{path}: not valid: {parsed.value}"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("250ms", 0.25),
        ("2d", 172800),
        (45, 45),
        ("1.5", 1.5),
    ],
)
def test_durations_read_as_people_write_them(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (0.25, "250ms"), (90, "1m30s"), (86400, "24h")]
)
def test_durations_print_in_their_shortest_form(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_slugs_keep_letters_and_digits() -> None:
    assert slugify("API health (EU) #2") == "api-health-eu-2"


def test_result_batches_survive_msgpack() -> None:
    results = [
        CheckResult(
            monitor_id="api",
            started_at=1_700_000_000.5,
            ok=False,
            latency_ms=12.5,
            state=MonitorState.PENDING,
            reason=Reason.CONNECT,
            message="connection refused",
            retryable=True,
            attempt=1,
            phases={"connect": 0.4, "total": 0.5},
            details={"status": None},
        ),
        CheckResult("db", 1_700_000_001.0, True, 3.0, MonitorState.UP),
    ]

    assert unpack_results(pack_results(results)) == results


def test_validating_many_definitions_reports_progress() -> None:
    seen: list[tuple[int, int]] = []
    items = [definition(name=f"m{i}") for i in range(25_000)]

    monitors = monitors_from_dicts(items, progress=lambda *step: seen.append(step))

    assert len(monitors) == 25_000
    assert seen == [(10_000, 25_000), (20_000, 25_000), (25_000, 25_000)]


def test_validation_errors_survive_pickling_with_every_field() -> None:
    error = ValidationError([FieldError("interval", "too short"), FieldError("", "x")])

    copy = pickle.loads(pickle.dumps(error))

    assert copy.errors == error.errors
    assert str(copy) == str(error)


@pytest.mark.parametrize(
    ("depends_on", "field", "problem"),
    [
        ("db", "depends_on", "must be a list of monitor ids"),
        (["db", "db"], "depends_on[1]", "named twice"),
        (["billing-api"], "depends_on[0]", "cannot depend on itself"),
        (["no spaces"], "depends_on[0]", "must be a monitor id"),
    ],
)
def test_a_bad_dependency_is_named(
    depends_on: object, field: str, problem: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        monitor_from_dict(definition(depends_on=depends_on))

    [error] = raised.value.errors
    assert error.field == field
    assert problem in error.problem


def test_dependencies_are_kept_in_order() -> None:
    monitor = monitor_from_dict(definition(depends_on=["router", "db"]))

    assert monitor.depends_on == ("router", "db")
    assert monitor_from_dict(monitor.to_dict()).depends_on == ("router", "db")


@pytest.mark.parametrize(
    ("graph", "start", "cycle"),
    [
        ({"a": ["b"], "b": ["c"], "c": []}, "a", None),
        ({"a": ["b"], "b": ["a"]}, "a", ["a", "b", "a"]),
        ({"a": ["b", "c"], "c": ["d"], "d": ["a"]}, "a", ["a", "c", "d", "a"]),
        ({"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}, "a", None),
    ],
)
def test_a_dependency_cycle_is_found_with_its_path(
    graph: dict[str, list[str]], start: str, cycle: list[str] | None
) -> None:
    assert dependency_cycle(start, lambda m: graph.get(m, [])) == cycle
