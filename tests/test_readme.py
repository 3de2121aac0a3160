"""The README's Python examples run as written against a real gateway."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def sdk_examples() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python SDK", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_has_sdk_examples() -> None:
    assert len(sdk_examples()) >= 2


@pytest.mark.parametrize("index", range(len(sdk_examples())))
def test_a_readme_example_runs_as_written(index: int, gateway_url: str) -> None:
    environment = {**os.environ, "UPCAST_URL": gateway_url}

    completed = subprocess.run(
        [sys.executable, "-c", sdk_examples()[index]],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
