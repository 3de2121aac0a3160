"""Tests for the assertion language: parsing, evaluation and explanations."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from engine.conditions import (
    MAX_DEPTH,
    MAX_PATTERN_LENGTH,
    MAX_SOURCE_LENGTH,
    MISSING,
    ConditionSyntaxError,
    parse_condition,
)

RESULT: dict[str, Any] = {
    "status": 200,
    "response_time": 120.5,
    "cert_days": 40,
    "size": 2048,
    "body": {
        "status": "UP",
        "version": "2.4.1",
        "count": "17",
        "empty": [],
        "nothing": None,
        "weird key": "found",
        "items": [{"name": "alpha", "ok": True}, {"name": "beta", "ok": False}],
        "checks": [
            {"name": "db", "status": "UP", "latency": 3},
            {"name": "cache", "status": "UP", "latency": 1},
        ],
        "matrix": [[1, 2], [3, 4]],
    },
    "headers": {"content-type": "application/json; charset=utf-8", "x-id": "42"},
    "answers": ["10.0.0.1", "10.0.0.2"],
    "flags": [True, 1, "x"],
    "reply": "220 mail.example.net ESMTP",
}


def value_of(source: str, env: dict[str, Any] | None = None) -> Any:
    return parse_condition(source).evaluate(RESULT if env is None else env)


@pytest.mark.parametrize(
    "source",
    [
        "status == 200",
        "status == 200 and response_time < 300",
        'body.status == "UP" and cert_days > 14',
        "status == 200 and response_time < 300 and cert_days > 14 and size > 0",
        "status != 500",
        "response_time <= 120.5 and response_time >= 120.5",
        "status in [200, 204]",
        "status not in [500, 503]",
        "'10.0.0.1' in answers",
        'answers contains "10.0.0.2"',
        '"ESMTP" in reply',
        'reply contains "mail"',
        '"content-type" in headers',
        "body.items[0].name == 'alpha'",
        "body.items[-1].name == 'beta'",
        'body["weird key"] == "found"',
        "body.matrix[1][0] == 3",
        "body.nothing == null",
        "exists(body.nothing)",
        "not exists(body.absent)",
        "true",
        "!false",
        "status == 200 && cert_days > 14",
        "status == 500 || cert_days > 14",
        "len(answers) == 2",
        "len(body.empty) == 0",
        "len(reply) > 10",
        "len(headers) == 2",
        'lower("MiXeD") == "mixed"',
        'upper(body.status) == "UP"',
        "number(body.count) == 17",
        'number(" 2.5 ") == 2.5',
        "number(status) == 200",
        "size / 1024 == 2",
        "size * 2 - 96 == 4000",
        '"ab" + "cd" == "abcd"',
        "-status == -200",
        "status == 200.0",
        "[1, 2] == [1, 2]",
    ],
)
def test_condition_holds_for_a_healthy_result(source: str) -> None:
    assert parse_condition(source).check(RESULT) is None


@pytest.mark.parametrize(
    "source",
    [
        "status == 503",
        "response_time > 300",
        'body.status == "DOWN"',
        "status in [500, 503]",
        "'10.9.9.9' in answers",
        "false",
        "null",
        "0",
        '""',
        "body.empty",
        "status == 200 and cert_days > 90",
        "not status",
        "len(body.empty) > 0",
        "number(body.version) > 0",
    ],
)
def test_condition_fails_for_a_healthy_result(source: str) -> None:
    assert parse_condition(source).check(RESULT) is not None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),
        ("12 / 3 / 2", 2.0),
        ("-2 * 3", -6),
        ("- (1 + 2)", -3),
        ("true or false and false", True),
        ("(true or false) and false", False),
        ("not false and false", False),
        ("not (false and false)", True),
        ("not status == 500", True),
        ("!status == 200", False),
        ("1 + 1 == 2 and 3 > 2", True),
        ("false or 1 < 2", True),
        ("2 * 3 in [6]", True),
        ("a or b and c", False),
        ("true || false && false", True),
    ],
)
def test_operators_bind_with_usual_precedence(source: str, expected: Any) -> None:
    assert value_of(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("42", 42),
        ("0.25", 0.25),
        ("1e3", 1000.0),
        ("2.5E-1", 0.25),
        ('"double"', "double"),
        ("'single'", "single"),
        (r'"say \"hi\""', 'say "hi"'),
        (r"'it\'s'", "it's"),
        (r'"tab\tnewline\n"', "tab\tnewline\n"),
        (r'"back\\slash"', "back\\slash"),
        (r'"\u00e9t\u00E9"', "été"),
        (r'"\d+\.\d+"', r"\d+\.\d+"),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[]", []),
        ("[1, 'two', [3],]", [1, "two", [3]]),
        ("[status, -1]", [200, -1]),
        ("[1, 2][1]", 2),
    ],
)
def test_literals_evaluate_to_their_values(source: str, expected: Any) -> None:
    assert value_of(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "nosuchname",
        "body.absent",
        "body.status.deeper",
        "body.items[9]",
        "body.items[-9]",
        "body.items.name",
        "body.items['0']",
        "body[0]",
        "status.code",
        "answers[true]",
        "body.items[0.5]",
        "size / 0",
        "status + 'x'",
        "'x' * 3",
        "-reply",
        "len(status)",
        "lower(status)",
        "number('twelve')",
        "number('nan')",
        "number(true)",
        "body.__class__",
        "reply.__len__",
    ],
)
def test_unreachable_values_are_missing(source: str) -> None:
    assert value_of(source) is MISSING


@pytest.mark.parametrize(
    "source",
    [
        "nosuchname == null",
        "nosuchname != 1",
        "nosuchname < 1",
        "nosuchname >= 1",
        "nosuchname in [1]",
        "nosuchname not in [1]",
        "1 in nosuchname",
        "1 not in nosuchname",
        "nosuchname == nosuchname",
        "exists(nosuchname)",
        "exists(body.items[5].name)",
        "nosuchname =~ '.*'",
        "nosuchname !~ 'x'",
        "any(nosuchname)",
        "all(nosuchname, it)",
    ],
)
def test_comparisons_with_missing_values_are_false(source: str) -> None:
    assert value_of(source) is False


def test_not_of_a_missing_value_is_true() -> None:
    assert value_of("not nosuchname") is True


@pytest.mark.parametrize(
    "source",
    [
        "reply < 5",
        "reply >= 5",
        "status > '100'",
        "status <= '300'",
        "true < 2",
        "null < 1",
        "answers > 1",
        "body > body",
        "status == '200'",
        "true == 1",
        "1 == true",
        "false == 0",
        "null == 0",
        "[1] == 1",
        "[true] == [1]",
        "status in reply",
        "status in body",
        "1 in 7",
        "body == 1",
    ],
)
def test_comparisons_between_incompatible_types_are_false(source: str) -> None:
    assert value_of(source) is False


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("status != '200'", True),
        ("true != 1", True),
        ("'b' > 'a'", True),
        ("2 > 1.5", True),
        ("1 in flags", True),
        ("true in flags", True),
        ("[1, 2] != [1, 3]", True),
        ("body.nothing != 0", True),
    ],
)
def test_values_of_different_kinds_are_never_equal(source: str, expected: bool) -> None:
    assert value_of(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('any(body.checks, it.status == "UP")', True),
        ('all(body.checks, it.status == "UP")', True),
        ("all(body.checks, it.latency < 2)", False),
        ("any(body.checks, it.latency < 2)", True),
        ("any(body.items, it.ok)", True),
        ("all(body.items, it.ok)", False),
        ("all(body.items, exists(it.name))", True),
        ("any(answers, it =~ '^10\\.0\\.0\\.2$')", True),
        ("any(body.matrix, any(it, it == 4))", True),
        ("all(body.matrix, all(it, it > 0))", True),
        ("all(body.matrix, any(it, it > 2))", False),
        ("any(body.empty, true)", False),
        ("all(body.empty, false)", True),
        ("any(flags)", True),
        ("all(flags)", True),
        ("all([1, 0])", False),
        ("any([0, '', null])", False),
        ("any(reply, true)", False),
        ("all(body, true)", False),
        ("any(body.checks, it.name == status)", False),
        ("len(body.checks) == 2 and all(body.checks, len(it.name) > 1)", True),
    ],
)
def test_any_and_all_test_each_element_as_it(source: str, expected: bool) -> None:
    assert value_of(source) is expected


def test_it_outside_a_predicate_is_an_ordinary_name() -> None:
    condition = parse_condition("it == 1")

    assert condition.names == {"it"}
    assert condition.check({"it": 1}) is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('headers["content-type"] =~ "^application/json"', True),
        ('headers["Content-Type"] =~ "charset=utf-8$"', True),
        ("headers['content-type'] =~ 'xml'", False),
        ("headers['content-type'] !~ 'xml'", True),
        ("headers['content-type'] !~ 'json'", False),
        ('body.version =~ "\\d+\\.\\d+\\.\\d+"', True),
        (r'body.version =~ "^2\\.4"', True),
        ('status =~ "^2.."', True),
        ('response_time =~ "\\.5$"', True),
        ("reply =~ 'esmtp'", False),
        ("reply =~ '(?i)esmtp'", True),
        ("body.items =~ 'alpha'", False),
        ("reply =~ body.pattern", False),
        ("reply =~ pattern", True),
        ("reply =~ bad_pattern", False),
        ("reply !~ bad_pattern", False),
    ],
)
def test_regex_match_against_header_value(source: str, expected: bool) -> None:
    env = {**RESULT, "pattern": "^220 ", "bad_pattern": "(unclosed"}

    assert value_of(source, env) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ('headers["Content-Type"]', "application/json; charset=utf-8"),
        ("headers.X_ID", MISSING),
        ('headers["X-Id"]', "42"),
        ('"X-ID" in headers', True),
        ('headers contains "X-ID"', True),
    ],
)
def test_header_lookups_fall_back_to_lowercase_keys(source: str, expected: Any) -> None:
    assert value_of(source) == expected


def test_exact_keys_win_over_their_lowercase_spelling() -> None:
    env = {"body": {"Mode": "exact", "mode": "lowered"}}

    assert value_of("body.Mode", env) == "exact"
    assert value_of("body.MODE", env) == "lowered"


@pytest.mark.parametrize(
    ("source", "env", "explanation"),
    [
        (
            "status == 200",
            {"status": 503},
            "status == 200 failed: status is 503",
        ),
        (
            'status == 200 and body.status == "UP"',
            {"status": 200, "body": {"status": "DOWN"}},
            'body.status == "UP" failed: body.status is "DOWN"',
        ),
        (
            'status == 200 and body.status == "UP"',
            {"status": 500, "body": {"status": "DOWN"}},
            "status == 200 failed: status is 500",
        ),
        (
            "response_time < limit",
            {"response_time": 900, "limit": 300},
            "response_time < limit failed: response_time is 900, limit is 300",
        ),
        (
            "cert_days > 14",
            {},
            "cert_days > 14 failed: cert_days is missing",
        ),
        (
            "status == 200 and (status == 204 or status == 301)",
            {"status": 200},
            "(status == 204 or status == 301) failed: status is 200",
        ),
        (
            "not (a or b)",
            {"a": 1},
            "not (a or b) failed: a is 1, b is missing",
        ),
        (
            "exists(body.version)",
            {"body": {}},
            "exists(body.version) failed: body.version is missing",
        ),
        (
            "len(body.items) > 0",
            {"body": {"items": []}},
            "len(body.items) > 0 failed: len(body.items) is 0",
        ),
        (
            'all(body.checks, it.status == "UP")',
            {"body": {"checks": [{"status": "UP"}, {"status": "DOWN"}]}},
            'all(body.checks, it.status == "UP") failed: '
            'body.checks[1] is {"status": "DOWN"}',
        ),
        (
            'any(body.checks, it.status == "UP")',
            {"body": {"checks": [{"status": "DOWN"}]}},
            'any(body.checks, it.status == "UP") failed: '
            'body.checks is [{"status": "DOWN"}]',
        ),
        (
            "reply =~ '^220'",
            {"reply": "554 no"},
            "reply =~ '^220' failed: reply is \"554 no\"",
        ),
        (
            "ready",
            {"ready": False},
            "ready failed: ready is false",
        ),
        (
            "body.value == 1",
            {"body": {"value": None}},
            "body.value == 1 failed: body.value is null",
        ),
        (
            "false",
            {},
            "false failed",
        ),
        (
            "status == 200 && cert_days > 14",
            {"status": 200, "cert_days": 3.5},
            "cert_days > 14 failed: cert_days is 3.5",
        ),
    ],
)
def test_check_explains_the_first_failing_clause(
    source: str, env: dict[str, Any], explanation: str
) -> None:
    assert parse_condition(source).check(env) == explanation


def test_explanations_cut_long_values_short() -> None:
    condition = parse_condition('body == "ok"')

    explanation = condition.check({"body": "z" * 10_000})

    assert explanation is not None
    assert explanation.startswith('body == "ok" failed: body is "zzz')
    assert explanation.endswith("...")
    assert len(explanation) < 120


def test_explanations_of_huge_lists_stay_short() -> None:
    condition = parse_condition("items == []")

    explanation = condition.check({"items": list(range(10**5))})

    assert explanation is not None
    assert explanation.startswith("items == [] failed: items is [0, 1, 2, ")
    assert len(explanation) < 120


def test_check_reports_a_value_that_cannot_be_compared() -> None:
    class Stubborn:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("refuses comparison")

        __hash__ = object.__hash__

    explanation = parse_condition("thing == 1").check({"thing": Stubborn()})

    assert explanation is not None
    assert explanation.startswith("thing == 1 could not be evaluated: RuntimeError")


@pytest.mark.parametrize(
    ("source", "names"),
    [
        ("status == 200", {"status"}),
        ('body.status == "UP" and headers["x"] == "y"', {"body", "headers"}),
        ("any(body.checks, it.ok and it.name == expected)", {"body", "expected"}),
        ("len(answers) > limit * 2", {"answers", "limit"}),
        ("true and 1 == 1", set()),
        ("body[key]", {"body", "key"}),
    ],
)
def test_names_lists_the_top_level_names_read(source: str, names: set[str]) -> None:
    assert parse_condition(source).names == names


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("status == (200", "expected ')' at column 15: found end of condition", 15),
        ("(status == 200", "expected ')' at column 15: found end of condition", 1 + 14),
        ("status == 200)", "unmatched ')' at column 14", 14),
        ("len(body.items]", "expected ')' at column 15: found ']'", 15),
        ("[1, 2", "expected ']' at column 6: found end of condition", 6),
        ('body.status == "UP', "unterminated string at column 16", 16),
        ("reply == 'abc\\'", "unterminated string at column 10", 10),
        ("status $ 200", "unexpected character '$' at column 8", 8),
        (
            "status = 200",
            "unexpected character '=' at column 8: use '==' to compare",
            8,
        ),
        ("a & b", "unexpected character '&' at column 3: use 'and' or '&&'", 3),
        ("size > 1 ∞", "unexpected character '∞' at column 10", 10),
        (
            "upload(size) > 0",
            "unknown function 'upload' at column 1: "
            "known functions are all, any, exists, len, lower, number, upper",
            1,
        ),
        (
            "status == 200 and len(a, b) > 0",
            "wrong number of arguments for len() at column 19: expected 1, got 2",
            19,
        ),
        (
            "any()",
            "wrong number of arguments for any() at column 1: expected 1 or 2, got 0",
            1,
        ),
        (
            "all(a, it, 3)",
            "wrong number of arguments for all() at column 1: expected 1 or 2, got 3",
            1,
        ),
        (
            'headers["server"] =~ "nginx("',
            "invalid regular expression at column 22: "
            "missing ), unterminated subpattern at position 5",
            22,
        ),
        ("reply =~ 5", "regular expression must be a string at column 10", 10),
        (
            "status == 200 cert_days",
            "unexpected 'cert_days' at column 15: "
            "expected an operator or the end of the condition",
            15,
        ),
        ("status ==", "unexpected end of condition at column 10: expected a value", 10),
        ("status == and", "unexpected 'and' at column 11: expected a value", 11),
        ("== 200", "unexpected '==' at column 1: expected a value", 1),
        ("body.", "expected a name after '.' at column 6", 6),
        ("body.0", "expected a name after '.' at column 6", 6),
        (
            "1 < status < 300",
            "comparisons cannot be chained at column 12: join them with 'and'",
            12,
        ),
        ('"\\u12"', "invalid escape at column 2: \\u needs four hex digits", 2),
        ("", "condition is empty at column 1", 1),
        ("   ", "condition is empty at column 1", 1),
    ],
)
def test_parse_errors_point_at_the_column(
    source: str, message: str, column: int
) -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition(source)

    assert str(caught.value) == message
    assert caught.value.column == column
    assert caught.value.source == source


def test_parse_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="at column 5"):
        parse_condition("a ==")


def test_caret_marks_the_column_under_the_source() -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition("status == 200 and\n\tsize > ")

    assert caught.value.caret() == ("status == 200 and  size > \n" + " " * 26 + "^")


def test_caret_keeps_the_column_in_view_on_long_sources() -> None:
    source = "a == 1 and " * 40 + "b $ 2"

    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition(source)

    line, marker = caught.value.caret(width=40).split("\n")
    assert line.startswith("...")
    assert line[len(marker) - 1] == "$"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "a == 1 or " * 500 + "true",
            f"condition is longer than {MAX_SOURCE_LENGTH} characters",
        ),
        (
            "(" * 100 + "a" + ")" * 100,
            f"condition nests deeper than {MAX_DEPTH} levels",
        ),
        ("not " * 100 + "a", f"condition nests deeper than {MAX_DEPTH} levels"),
        ("-" * 100 + "1", f"condition nests deeper than {MAX_DEPTH} levels"),
        ("[" * 100 + "]" * 100, f"condition nests deeper than {MAX_DEPTH} levels"),
        (
            "len(" * 100 + "a" + ")" * 100,
            f"condition nests deeper than {MAX_DEPTH} levels",
        ),
        (" + ".join(["a"] * 100), f"condition nests deeper than {MAX_DEPTH} levels"),
        ("a" + ".b" * 100, f"condition nests deeper than {MAX_DEPTH} levels"),
        (
            f"reply =~ '{'a' * (MAX_PATTERN_LENGTH + 1)}'",
            f"regular expression longer than {MAX_PATTERN_LENGTH} characters",
        ),
    ],
)
def test_abusive_conditions_are_refused(source: str, message: str) -> None:
    with pytest.raises(ConditionSyntaxError, match=message):
        parse_condition(source)


def test_long_flat_conditions_within_the_limits_are_accepted() -> None:
    source = " and ".join(f"c{n} == {n}" for n in range(200))

    condition = parse_condition(source)

    assert len(source) <= MAX_SOURCE_LENGTH
    assert condition.check({f"c{n}": n for n in range(200)}) is None
    assert condition.check({}) == "c0 == 0 failed: c0 is missing"


def test_dynamic_patterns_longer_than_the_limit_never_match() -> None:
    long_text = "a" * (MAX_PATTERN_LENGTH + 1)

    assert value_of("reply =~ pattern", {"reply": "a", "pattern": "a"}) is True
    assert (
        value_of("reply =~ pattern", {"reply": long_text, "pattern": long_text})
        is False
    )


def test_conditions_survive_a_pickle_round_trip() -> None:
    condition = parse_condition('body.status == "UP" and reply =~ "^220"')

    copy = pickle.loads(pickle.dumps(condition))

    assert copy == condition
    assert copy.check(RESULT) is None
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING


def test_syntax_errors_survive_a_pickle_round_trip() -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition("status == (200")

    copy = pickle.loads(pickle.dumps(caught.value))

    assert str(copy) == str(caught.value)
    assert copy.column == 15


def test_conditions_with_the_same_source_are_equal() -> None:
    assert parse_condition("a == 1") == parse_condition("a == 1")
    assert parse_condition("a == 1") != parse_condition("a == 2")
    assert len({parse_condition("a"), parse_condition("a")}) == 1
    assert repr(parse_condition("a")) == "Condition('a')"
