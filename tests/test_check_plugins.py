"""Third-party check kinds arrive through the ``upcast.checks`` entry point group."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PLUGIN = """
from typing import Self

from engine.checks import Check, CheckSpec
from engine.result import Observation


class EchoCheck(Check):
    kind = "echo"

    @classmethod
    def prepare(cls, spec: CheckSpec) -> Self:
        return cls()

    async def run(self) -> Observation:
        return Observation(latency_ms=1.0, message="echo")
"""

PROGRAM = """
from engine.checks import get_kind, kind_names
from engine.model import monitor_from_dict

monitor = monitor_from_dict({"name": "e", "kind": "echo", "target": "x"})
print(type(monitor.check).__name__, "echo" in kind_names(), get_kind("nope"))
"""


def install_plugin(site: Path) -> None:
    """A distribution on ``site`` as pip would leave it: a module and dist-info."""
    (site / "upcast_echo.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "upcast_echo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: upcast-echo\nVersion: 1.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[upcast.checks]\necho = upcast_echo:EchoCheck\n", encoding="utf-8"
    )


def test_a_kind_from_an_installed_package_is_found_by_name(tmp_path: Path) -> None:
    install_plugin(tmp_path)
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(tmp_path), environment.get("PYTHONPATH", "")]
    )

    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROGRAM)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["EchoCheck", "True", "None"]
