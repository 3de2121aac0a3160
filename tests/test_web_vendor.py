"""The vendored front-end libraries are in the tree as versions.json records them.

Offline: scripts/vendor-web --check is what downloads the releases again.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

VENDOR = Path(__file__).resolve().parent.parent / "web" / "static" / "vendor"


def libraries() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(
        (VENDOR / "versions.json").read_text(encoding="utf-8")
    )["libraries"]
    return records


def vendored_files() -> list[tuple[str, dict[str, Any]]]:
    return [
        (library["name"], entry)
        for library in libraries()
        for entry in library["files"]
    ]


def test_the_dashboard_gets_socket_io_and_uplot() -> None:
    names = {library["name"] for library in libraries() if library["files"]}

    assert names == {"socket.io-client", "uplot"}


@pytest.mark.parametrize(
    ("library", "entry"),
    vendored_files(),
    ids=[entry["path"] for _, entry in vendored_files()],
)
def test_every_recorded_file_is_vendored_unchanged(
    library: str, entry: dict[str, Any]
) -> None:
    path = VENDOR / entry["path"]

    assert path.is_file(), f"{library}: {entry['path']} is missing"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]


def test_the_vendor_folder_holds_only_recorded_files() -> None:
    recorded = {entry["path"] for _, entry in vendored_files()}
    present = {
        path.relative_to(VENDOR).as_posix()
        for path in VENDOR.rglob("*")
        if path.is_file()
    }

    assert present - recorded == {"LICENSES.md", "versions.json"}


@pytest.mark.parametrize(
    "library", libraries(), ids=[library["name"] for library in libraries()]
)
def test_licenses_md_gives_each_library_its_licence(library: dict[str, Any]) -> None:
    text = (VENDOR / "LICENSES.md").read_text(encoding="utf-8")
    heading = f"## {library['name']} {library['version']}\n"

    assert heading in text
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    assert f"- Licence: {library['license']}" in section
    licence = re.search(r"```text\n(.*?)\n```", section, re.S)
    assert licence is not None
    assert len(licence.group(1).splitlines()) >= 5


@pytest.mark.parametrize("name", ["socket.io.esm.min.js", "uPlot.esm.js"])
def test_each_vendored_module_imports_nothing(name: str) -> None:
    source = (VENDOR / name).read_text(encoding="utf-8")

    assert not re.search(r"""\bimport\s*(?:[\w$*{(]|["'])""", source)
