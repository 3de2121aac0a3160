"""Notification templates: the default wording, users' own, and the sandbox."""

# Turkish wording has the dotless i, which the confusable-letter rule flags.
# ruff: noqa: RUF001

from __future__ import annotations

import dataclasses
import logging
import re
import time
from typing import Any

import pytest

from engine.errors import FieldError, ValidationError
from notify.message import FIRING, RESOLVED, TEST
from notify.templates import (
    MAX_MEMBERS,
    VARIABLES,
    AlertEvent,
    ChannelTemplates,
    MonitorFacts,
    RenderError,
    human_duration,
    message_id,
    read_templates,
    render,
    render_html_body,
    render_notification,
    template_errors,
)

START = 1714564800.0
"""2024-05-01 12:00:00 UTC, when every problem in these tests begins."""

PUBLIC_URL = "https://upcast.example.com/"
LINK = "https://upcast.example.com/api/v1/monitors/api"

API = MonitorFacts("api", "API", "http", "https://api.example.com/health", ("prod",))
GROUP = (
    MonitorFacts(
        "api",
        "API",
        "http",
        "https://api.example.com/health",
        (),
        "down",
        "connect",
        "connection refused",
    ),
    MonitorFacts("db", "DB", "tcp", "db.internal:5432", (), "down", "timeout"),
    MonitorFacts("cache", "Cache", "tcp", "cache.internal:6379", (), "down"),
)


def event(status: str, **changes: Any) -> AlertEvent:
    """The API monitor going down (or back up) after 3m 20s, or a test."""
    fields: dict[str, Any] = {
        "key": f"api:{START:.0f}:{status}",
        "incident": f"api:{START:.0f}",
        "status": status,
        "monitor": API,
        "at": START + 200,
        "started_at": START,
    }
    if status == FIRING:
        fields.update(
            state="down",
            previous_state="up",
            reason="connect",
            message="connection refused",
        )
    elif status == RESOLVED:
        fields.update(state="up", previous_state="down")
    fields.update(changes)
    return AlertEvent(**fields)


def variables(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {name: "" for name in VARIABLES}
    values.update(monitor={"id": "api", "name": "API"}, members=[], count=1)
    values.update(changes)
    return values


@pytest.mark.parametrize(
    ("language", "status", "title", "text"),
    [
        (
            "en",
            FIRING,
            "API is down",
            "API is down (connect).\n"
            "connection refused\n"
            "\n"
            "Target: https://api.example.com/health\n"
            "Down since: 2024-05-01 12:00:00 UTC (3m 20s)\n"
            f"{LINK}",
        ),
        (
            "en",
            RESOLVED,
            "API is up again",
            "API is up again after being down for 3m 20s.\n"
            "\n"
            "Target: https://api.example.com/health\n"
            "Down from 2024-05-01 12:00:00 UTC to 2024-05-01 12:03:20 UTC\n"
            f"{LINK}",
        ),
        (
            "en",
            TEST,
            "Test notification from Upcast",
            "This is a test notification from Upcast, sent at "
            "2024-05-01 12:03:20 UTC.\n"
            "If you can read it, notifications reach this channel.",
        ),
        (
            "tr",
            FIRING,
            "API çalışmıyor",
            "API çalışmıyor (connect).\n"
            "connection refused\n"
            "\n"
            "Hedef: https://api.example.com/health\n"
            "Kesinti başlangıcı: 2024-05-01 12:00:00 UTC (3 dakika 20 saniye)\n"
            f"{LINK}",
        ),
        (
            "tr",
            RESOLVED,
            "API yeniden çalışıyor",
            "API yeniden çalışıyor. Kesinti süresi: 3 dakika 20 saniye.\n"
            "\n"
            "Hedef: https://api.example.com/health\n"
            "Kesinti: 2024-05-01 12:00:00 UTC - 2024-05-01 12:03:20 UTC\n"
            f"{LINK}",
        ),
        (
            "tr",
            TEST,
            "Upcast test bildirimi",
            "Bu, Upcast'in 2024-05-01 12:03:20 UTC tarihinde gönderdiği bir test "
            "bildirimidir.\n"
            "Bunu okuyabiliyorsanız bildirimler bu kanala ulaşıyor.",
        ),
    ],
)
def test_default_wording_for_one_monitor_in_each_language(
    language: str, status: str, title: str, text: str
) -> None:
    notification = render_notification(
        event(status), ChannelTemplates(language), public_url=PUBLIC_URL
    )

    assert notification.title == title
    assert notification.text == text
    assert notification.status == status
    assert notification.key == f"api:{START:.0f}:{status}"
    assert notification.incident == f"api:{START:.0f}"
    assert notification.url == LINK


@pytest.mark.parametrize(
    ("language", "status", "title", "text"),
    [
        (
            "en",
            FIRING,
            "3 monitors are down",
            "3 monitors are down:\n"
            "- API (https://api.example.com/health): connection refused\n"
            "- DB (db.internal:5432): timeout\n"
            "- Cache (cache.internal:6379)\n"
            "\n"
            "Down since: 2024-05-01 12:00:00 UTC (3m 20s)",
        ),
        (
            "en",
            RESOLVED,
            "3 monitors are up again",
            "3 monitors are up again after being down for 3m 20s:\n"
            "- API (https://api.example.com/health)\n"
            "- DB (db.internal:5432)\n"
            "- Cache (cache.internal:6379)\n"
            "\n"
            "Down from 2024-05-01 12:00:00 UTC to 2024-05-01 12:03:20 UTC",
        ),
        (
            "tr",
            FIRING,
            "3 monitör çalışmıyor",
            "3 monitör çalışmıyor:\n"
            "- API (https://api.example.com/health): connection refused\n"
            "- DB (db.internal:5432): timeout\n"
            "- Cache (cache.internal:6379)\n"
            "\n"
            "Kesinti başlangıcı: 2024-05-01 12:00:00 UTC (3 dakika 20 saniye)",
        ),
        (
            "tr",
            RESOLVED,
            "3 monitör yeniden çalışıyor",
            "3 monitör yeniden çalışıyor. Kesinti süresi: 3 dakika 20 saniye.\n"
            "- API (https://api.example.com/health)\n"
            "- DB (db.internal:5432)\n"
            "- Cache (cache.internal:6379)\n"
            "\n"
            "Kesinti: 2024-05-01 12:00:00 UTC - 2024-05-01 12:03:20 UTC",
        ),
    ],
)
def test_default_wording_for_a_group_of_three_monitors(
    language: str, status: str, title: str, text: str
) -> None:
    group = event(
        status, monitor=MonitorFacts("prod", "prod"), members=GROUP, message=""
    )

    notification = render_notification(group, ChannelTemplates(language))

    assert notification.title == title
    assert notification.text == text
    assert notification.url is None
    assert [member["id"] for member in notification.fields["members"]] == [
        "api",
        "db",
        "cache",
    ]


@pytest.mark.parametrize(
    ("language", "more"), [("en", "and 5 more"), ("tr", "5 monitör daha")]
)
def test_a_group_larger_than_the_list_says_how_many_are_left_out(
    language: str, more: str
) -> None:
    members = tuple(
        MonitorFacts(f"web-{n}", f"web-{n}", "http", f"https://web-{n}.example.com")
        for n in range(MAX_MEMBERS + 5)
    )
    group = event(FIRING, monitor=MonitorFacts("web", "web"), members=members)

    notification = render_notification(group, ChannelTemplates(language))

    assert notification.title.startswith(f"{MAX_MEMBERS + 5} ")
    assert notification.text.count("\n- web-") == MAX_MEMBERS
    assert f"\n- {more}\n" in notification.text
    assert len(notification.fields["members"]) == MAX_MEMBERS
    assert notification.fields["count"] == MAX_MEMBERS + 5


@pytest.mark.parametrize(
    ("seconds", "english", "turkish"),
    [
        (0, "0s", "0 saniye"),
        (45.9, "45s", "45 saniye"),
        (200, "3m 20s", "3 dakika 20 saniye"),
        (3600, "1h", "1 saat"),
        (3605, "1h", "1 saat"),
        (3900, "1h 5m", "1 saat 5 dakika"),
        (90061, "1d 1h", "1 gün 1 saat"),
        (-5, "0s", "0 saniye"),
    ],
)
def test_durations_are_written_in_two_units_per_language(
    seconds: float, english: str, turkish: str
) -> None:
    assert human_duration(seconds, "en") == english
    assert human_duration(seconds, "tr") == turkish


def test_user_templates_read_every_variable() -> None:
    title = "[{{ status|upper }}] {{ monitor.name }} ({{ monitor.tags|join(', ') }})"
    text = (
        "{{ monitor.kind }} {{ monitor.target }} went {{ previous_state }} -> "
        "{{ state }} because {{ reason }}: {{ message }}\n"
        "{% for m in members %}{{ m.id }}={{ m.state }}/{{ m.reason }}{% endfor %}"
        " count={{ count }} since {{ started_at }} for {{ duration }} at {{ at }}\n"
        "{{ link }}"
    )
    templates = ChannelTemplates("en", title, text)

    notification = render_notification(event(FIRING), templates, public_url=PUBLIC_URL)

    assert notification.title == "[FIRING] API (prod)"
    assert notification.text == (
        "http https://api.example.com/health went up -> down because connect: "
        "connection refused\n"
        "api=down/connect count=1 since 2024-05-01 12:00:00 UTC for 3m 20s "
        "at 2024-05-01 12:03:20 UTC\n"
        f"{LINK}"
    )


def test_a_title_is_one_line_whatever_the_template_writes() -> None:
    templates = ChannelTemplates("en", "{{ monitor.name }}\n\n  is   {{ state }}\n")

    notification = render_notification(event(FIRING), templates)

    assert notification.title == "API is down"


def test_a_user_template_failing_at_render_time_gives_way_to_the_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    templates = ChannelTemplates("en", text="{{ monitor.name }} {{ 1 / 0 }}")

    with caplog.at_level(logging.WARNING, logger="notify.templates"):
        notification = render_notification(event(FIRING), templates)

    assert notification.text.startswith("API is down (connect).\n")
    assert "ZeroDivisionError" in caplog.text
    assert "monitor=api" in caplog.text


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ monitor._private }}",
        "{{ monitor['__class__'] }}",
    ],
)
def test_the_sandbox_refuses_internals_when_the_template_is_checked(
    source: str,
) -> None:
    errors = template_errors(source, "text")

    assert errors
    assert all(error.field == "text" for error in errors)
    assert "line 1: names starting with '_' are not available" in errors[0].problem
    with pytest.raises(RenderError, match="not available"):
        render(source, variables())


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''['__cla' ~ 'ss__'] }}",
        "{{ monitor|attr('__class__') }}",
        "{{ '{0.__class__}'.format(monitor) }}",
        "{{ (members|map(attribute='__class__')|list)[0] }}",
    ],
)
def test_the_sandbox_refuses_internals_reached_at_render_time(source: str) -> None:
    assert template_errors(source, "text") == []

    with pytest.raises(RenderError, match="unsafe"):
        render(source, variables(members=[{"id": "api"}]))


WRITES = "the template writes more than 20000 characters"
BUILDS = "the template builds a value of more than 1000000 characters"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        # Loops: writing, idle, and writing into a block.
        (
            "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}"
            "{% endfor %}",
            WRITES,
        ),
        (
            "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}"
            "{% endfor %}",
            "the template takes more than 100000 steps",
        ),
        (
            "{% set s %}{% for i in range(9999) %}{{ 'y' * 9999 }}{% endfor %}"
            "{% endset %}",
            WRITES,
        ),
        # A value grown by doubling it.
        ("{% set s = 'abcdefgh' %}" + "{% set s = s ~ s %}" * 40, BUILDS),
        ("{% set s = 'abcdefgh' %}" + "{% set s = s + s %}" * 40, BUILDS),
        ("{% set a = ['abcdefgh'] %}" + "{% set a = [a, a, a, a] %}" * 30, BUILDS),
        # One operation asked to make something huge.
        ("{{ 'x' * 10**9 }}", "'*' would make more than 1000000 characters"),
        ("{{ 7 ** 1000000 }}", "'**' would make a number above 4096 bits"),
        ("{{ 'a'.ljust(10**9) }}", "ljust() would make more than"),
        ("{{ 'a'|center(10**9) }}", "center would make more than"),
        ("{{ '%999999999d' % 1 }}", "formatting would make more than"),
        ("{{ '{:>999999999}'.format(1) }}", "format() would make more than"),
        ("{{ '{0}{0}{0}{0}'.format('x' * 900000) }}", "format() would make more than"),
        ("{{ ('x' * 100000).replace('x', 'y' * 99) }}", "replace() would make more"),
        (
            "{{ range(10000)|map('string')|map('center', 100000)|join }}",
            "reading the sequence would make more than",
        ),
        ("{{ ('x\\n' * 9000)|indent(1000) }}", "indent would make more than"),
        ("{{ range(10**9)|list }}", "range() gives at most 10000 numbers"),
    ],
)
def test_a_template_that_would_run_away_fails_quickly_and_cleanly(
    source: str, problem: str
) -> None:
    started = time.perf_counter()

    with pytest.raises(RenderError) as caught:
        render(source, variables())

    assert time.perf_counter() - started < 1.0
    assert str(caught.value).startswith(f"line 1: {problem}")


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("Hello\n{{ monitor.name }\n", "line 2: unexpected '}'"),
        # An unclosed block is named by the line that opened it.
        ("{% if state %}\ndown\n", "line 1: Unexpected end of template."),
        (
            "one\ntwo\n{% for %}",
            "line 3: Expected an expression, got 'end of statement block'",
        ),
    ],
)
def test_syntax_errors_are_field_errors_naming_the_line(
    source: str, problem: str
) -> None:
    [error] = template_errors(source, "subject")

    assert error.field == "subject"
    assert error.problem.startswith(problem)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (
            "{{ monitor.name }}\n{{ monitr.name }}",
            "line 2: there is no variable 'monitr'",
        ),
        ("{{ monitor.nmae }}", "line 1: monitor has no field 'nmae'"),
        (
            "{% for m in members %}\n{{ m.status }}\n{% endfor %}",
            "line 2: a member has no field 'status'",
        ),
        ("\n\n{{ state|shout }}", "line 3: there is no filter 'shout'"),
        ("{% if count is huge %}x{% endif %}", "line 1: there is no test 'huge'"),
        ("{{ message|safe }}", "line 1: there is no filter 'safe'"),
        ("{% macro m() %}x{% endmacro %}", "line 1: {% macro %} is not available"),
        ("{% include 'other' %}", "line 1: {% include %} is not available"),
        (
            "x\n{% autoescape false %}{{ message }}{% endautoescape %}",
            "line 2: {% autoescape %} is not available",
        ),
    ],
)
def test_unknown_names_and_refused_constructs_are_field_errors_with_their_line(
    source: str, problem: str
) -> None:
    errors = template_errors(source, "text")

    assert [error.field for error in errors] == ["text"] * len(errors)
    assert errors[0].problem.startswith(problem)


def test_names_a_template_sets_itself_are_not_unknown() -> None:
    source = (
        "{% set who = monitor.name %}{% for m in members %}{{ loop.index }}. "
        "{{ m.name }}{% endfor %}{% with n = count %}{{ who }} {{ n }}{% endwith %}"
    )

    assert template_errors(source, "text") == []


def test_a_template_over_the_size_limit_is_refused() -> None:
    [error] = template_errors("x" * 10_001, "text")

    assert error == FieldError("text", "must be at most 10000 characters, got 10001")


def test_an_unknown_language_is_a_field_error() -> None:
    errors: list[FieldError] = []

    templates = read_templates({"language": "de", "title": "{{ x }}"}, errors)

    assert errors == [
        FieldError("language", "must be one of en, tr, got 'de'"),
        FieldError(
            "title",
            "line 1: there is no variable 'x'; there are " + ", ".join(VARIABLES),
        ),
    ]
    assert templates == ChannelTemplates("en", None, None)
    with pytest.raises(ValidationError, match="language: must be one of en, tr"):
        ChannelTemplates("fr")


def test_channel_fields_are_read_under_the_channel_s_own_names() -> None:
    errors: list[FieldError] = []
    config = {"language": "tr", "subject": "{{ monitor.name }}", "text": "{{ state }}"}

    templates = read_templates(config, errors, title_field="subject")

    assert errors == []
    assert templates == ChannelTemplates("tr", "{{ monitor.name }}", "{{ state }}")


def test_the_html_body_escapes_what_the_text_holds() -> None:
    hostile = MonitorFacts("api", "<b>API</b>", "http", "https://x.test/?a=1&b=2")
    firing = event(FIRING, monitor=hostile, message="<script>alert(1)</script>")
    notification = render_notification(firing, public_url=PUBLIC_URL)

    body = render_html_body(notification, "en")

    assert "<script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<title>&lt;b&gt;API&lt;/b&gt; is down</title>" in body
    assert "https://x.test/?a=1&amp;b=2" in body
    assert f'<a href="{LINK}">Open in Upcast</a>' in body


def test_the_plain_text_leaves_markup_as_it_is() -> None:
    hostile = MonitorFacts("api", "<b>API</b>", "http", "https://x.test/")

    notification = render_notification(event(FIRING, monitor=hostile))

    assert notification.title == "<b>API</b> is down"


def test_a_message_id_depends_on_the_key_alone() -> None:
    first = message_id("api:1714564800:firing", "example.com")

    assert first == message_id("api:1714564800:firing", "example.com")
    assert first != message_id("api:1714564800:resolved", "example.com")
    assert re.fullmatch(r"<[0-9a-f]{40}@example\.com>", first)


@pytest.mark.parametrize(
    ("language", "title", "since"),
    [
        ("en", "API is degraded", "Degraded since:"),
        ("tr", "API yavaşladı", "Kesinti başlangıcı:"),
    ],
)
def test_a_degraded_monitor_is_told_as_degraded_not_down(
    language: str, title: str, since: str
) -> None:
    slow = event(FIRING, state="degraded", reason="", message="slow: latency 900 ms")

    notification = render_notification(slow, ChannelTemplates(language=language))

    assert notification.title == title
    assert "slow: latency 900 ms" in notification.text
    assert since in notification.text


def test_a_group_notification_says_which_member_is_the_likely_root() -> None:
    root = "Likely root: db failed 42 s before the 2 others"
    group = event(FIRING, monitor=MonitorFacts("prod", "prod"), members=GROUP)
    group = dataclasses.replace(group, message=root)

    notification = render_notification(group)

    assert f"\n{root}\n" in notification.text
