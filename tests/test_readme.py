"""The README's Python examples run as written against a real gateway."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from alerting.settings import check_setting

README = Path(__file__).resolve().parent.parent / "README.md"


def sdk_examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python SDK", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_has_sdk_examples() -> None:
    assert len(sdk_examples()) >= 2


@pytest.mark.parametrize("index", range(len(sdk_examples())))
def test_a_readme_example_runs_as_written(
    index: int, gateway_url: str, api_key: str
) -> None:
    environment = {**os.environ, "UPCAST_URL": gateway_url, "UPCAST_API_KEY": api_key}

    completed = subprocess.run(
        [sys.executable, "-c", sdk_examples()[index]],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr


def alerting_examples() -> list[dict[str, Any]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Alerting", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```json\n(.*?)```", section, flags=re.DOTALL)
    return [json.loads(block) for block in blocks]


def _kind_of(example: dict[str, Any]) -> str:
    if "levels" in example:
        return "escalation"
    if "start" in example or "cron" in example:
        return "maintenance"
    return "route"


def test_the_readme_has_alerting_examples() -> None:
    kinds = sorted(_kind_of(example) for example in alerting_examples())

    assert kinds == ["escalation", "maintenance", "maintenance", "route"]


@pytest.mark.parametrize("index", range(len(alerting_examples())))
def test_a_readme_alerting_setting_is_valid(index: int) -> None:
    example = alerting_examples()[index]

    check_setting(_kind_of(example), example)


def test_the_readme_slo_example_is_valid() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Analytics", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```json\n(.*?)```", section, flags=re.DOTALL)

    check_setting("slo", json.loads(block))
