"""Monitors exported as a monitor file, and monitor files applied as YAML.

Every monitor checks the session's gateway; the tests tell theirs apart by
a tag of their own, which the export filters on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from actors.platform import Platform
from sdk import AsyncClient, InvalidMonitor
from sdk.cli import main
from tests.gateway_monitors import WAIT, definition, new_id
from web.redact import REDACTED

YAML = {"Content-Type": "application/yaml"}


async def two_monitors(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> tuple[str, str, str]:
    """Two monitors with a tag of their own, the first with secrets: their ids
    and the tag."""
    tag = new_id("exported")
    first, second = new_id("file"), new_id("file")
    bodies = [
        definition(
            gateway_url,
            first,
            tags=[tag],
            interval="1m",
            options={
                "basic_auth": {"username": "ops", "password": "hunter2-file"},
                "headers": {"X-Api-Key": "t0ken-file", "X-Trace": "on"},
            },
        ),
        definition(gateway_url, second, tags=[tag, "second"], description="ünïcode"),
    ]
    for body in bodies:
        answer = await http.post("/api/v1/monitors", json=body)
        assert answer.status_code == 201, answer.text
        made.append(body["id"])
    return first, second, tag


async def test_an_exported_file_applied_again_changes_nothing_and_keeps_secrets(
    http: httpx.AsyncClient,
    made: list[str],
    gateway_url: str,
    platform_handle: Platform,
) -> None:
    first, second, tag = await two_monitors(http, made, gateway_url)

    exported = await http.get("/api/v1/monitors/export", params={"tags": tag})
    applied = await http.post("/api/v1/apply", content=exported.content, headers=YAML)

    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("application/yaml")
    assert exported.headers["content-disposition"] == (
        'attachment; filename="monitors.yaml"'
    )
    assert "hunter2-file" not in exported.text
    assert "t0ken-file" not in exported.text
    document = yaml.safe_load(exported.text)
    assert [monitor["id"] for monitor in document["monitors"]] == sorted(
        [first, second]
    )
    shown = next(m for m in document["monitors"] if m["id"] == first)
    assert shown["options"]["basic_auth"]["password"] == REDACTED
    assert "status" not in shown
    assert applied.status_code == 200, applied.text
    assert applied.json()["unchanged"] == 2
    assert applied.json()["created"] == applied.json()["updated"] == 0
    stored = (await platform_handle.get_monitor(first))["options"]
    assert stored["basic_auth"]["password"] == "hunter2-file"
    assert stored["headers"]["X-Api-Key"] == "t0ken-file"


async def test_a_json_export_is_the_apply_body_it_came_from(
    http: httpx.AsyncClient, made: list[str], gateway_url: str
) -> None:
    _, second, tag = await two_monitors(http, made, gateway_url)

    exported = await http.get(
        "/api/v1/monitors/export", params={"format": "json", "tags": "second"}
    )
    document = exported.json()
    mine = [m for m in document["monitors"] if tag in m["tags"]]
    applied = await http.post("/api/v1/apply", json={"monitors": mine})

    assert exported.headers["content-type"].startswith("application/json")
    assert 'filename="monitors.json"' in exported.headers["content-disposition"]
    assert [monitor["id"] for monitor in mine] == [second]
    assert mine[0]["description"] == "ünïcode"
    assert applied.json()["monitors"] == [{"id": second, "outcome": "unchanged"}]


@pytest.mark.parametrize("content_type", ["application/x-yaml", "text/yaml"])
async def test_a_yaml_file_is_applied_as_a_list_or_a_mapping(
    http: httpx.AsyncClient, made: list[str], gateway_url: str, content_type: str
) -> None:
    first, second = new_id("yaml"), new_id("yaml")
    made.extend([first, second])
    as_list = yaml.safe_dump([definition(gateway_url, first, interval="1m")])
    as_mapping = yaml.safe_dump(
        {"monitors": [definition(gateway_url, second, interval="5m")]}
    )

    answers = [
        await http.post(
            "/api/v1/apply",
            content=text.encode(),
            headers={"Content-Type": f"{content_type}; charset=utf-8"},
        )
        for text in (as_list, as_mapping)
    ]
    stored = (await http.get(f"/api/v1/monitors/{second}")).json()

    assert [answer.json()["created"] for answer in answers] == [1, 1]
    assert stored["interval"] == 300


async def test_yaml_that_is_not_yaml_is_refused_naming_its_line(
    http: httpx.AsyncClient,
) -> None:
    text = "monitors:\n  - name: One\n    kind: http\n   target: x\n"

    answer = await http.post("/api/v1/apply", content=text.encode(), headers=YAML)

    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["error"]["fields"]
    assert problem["field"] == "body"
    assert "line 4, column 4" in problem["problem"]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("monitors:\n  - name: One\n    kind: http\n    interval: 0s\n", "interval"),
        ("- name: One\n  kind: http\n  description: 2024-05-01\n", "description"),
        ("colour: teal\nmonitors: []\n", "colour"),
    ],
)
async def test_a_bad_yaml_file_is_refused_naming_the_field(
    http: httpx.AsyncClient, text: str, field: str
) -> None:
    answer = await http.post("/api/v1/apply", content=text.encode(), headers=YAML)

    assert answer.status_code == 422, answer.text
    named = [problem["field"] for problem in answer.json()["error"]["fields"]]
    assert any(name.endswith(field) for name in named), named


async def test_yaml_aliases_that_expand_beyond_reason_are_refused(
    http: httpx.AsyncClient,
) -> None:
    lines = ["monitors:", "  - name: Bomb", "    kind: http", "    options:"]
    lines.append("      a0: &a0 [x, x, x, x, x, x, x, x, x, x]")
    for level in range(1, 9):
        below = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"      a{level}: &a{level} [{below}]")

    answer = await http.post(
        "/api/v1/apply", content="\n".join(lines).encode(), headers=YAML
    )

    assert answer.status_code == 422, answer.text
    assert "values" in answer.json()["error"]["message"]


async def test_the_sdk_exports_and_applies_a_yaml_file(
    http: httpx.AsyncClient,
    made: list[str],
    gateway_url: str,
    api_key: str,
) -> None:
    _, _, tag = await two_monitors(http, made, gateway_url)

    async with AsyncClient(gateway_url, api_key=api_key, timeout=WAIT) as client:
        text = await client.export_monitors(tags=[tag])
        report = await client.apply(text)
        with pytest.raises(InvalidMonitor) as refused:
            await client.apply("monitors:\n  - name: [\n")

    assert sorted(report.unchanged) == sorted(made)
    assert not report.changed
    assert refused.value.fields[0][0] == "body"


def test_upcast_export_writes_a_file_upcast_apply_leaves_unchanged(
    gateway_url: str,
    api_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("UPCAST_API_KEY", api_key)
    tag = new_id("cli")
    monitor_id = new_id("cli")
    body: dict[str, Any] = definition(
        gateway_url,
        monitor_id,
        tags=[tag],
        options={"headers": {"X-Api-Key": "cli-secret"}},
    )
    httpx.post(
        f"{gateway_url}/api/v1/monitors",
        json=body,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=WAIT,
    ).raise_for_status()
    path = tmp_path / "fleet.json"

    try:
        exported = main(
            ["export", "--tags", tag, "-o", str(path), "--url", gateway_url]
        )
        applied = main(["apply", str(path), "--url", gateway_url])
        to_stdout = main(["export", "--tags", tag, "--url", gateway_url])
    finally:
        httpx.delete(
            f"{gateway_url}/api/v1/monitors/{monitor_id}",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=WAIT,
        )

    out = capsys.readouterr().out
    assert (exported, applied, to_stdout) == (0, 0, 0)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["monitors"][0]["options"]["headers"]["X-Api-Key"] == REDACTED
    assert f"unchanged      1  {monitor_id}" in out
    assert f"- id: {monitor_id}" in out
