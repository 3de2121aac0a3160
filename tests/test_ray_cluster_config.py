"""ray_cluster.yaml is a cluster launcher config the installed Ray accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray.autoscaler
import yaml

CONFIG = Path(__file__).resolve().parent.parent / "ray_cluster.yaml"


def ray_schema() -> dict[str, Any]:
    """The JSON schema the installed Ray checks launcher configs against."""
    path = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return loaded


def test_the_config_is_valid_under_the_installed_rays_schema(
    config: dict[str, Any],
) -> None:
    schema = ray_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)

    problems = [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(config)
    ]

    assert problems == []


def test_the_config_names_an_on_premise_head_and_workers(
    config: dict[str, Any],
) -> None:
    provider = config["provider"]

    assert provider["type"] == "local"
    assert provider["head_ip"]
    assert provider["worker_ips"]
    assert provider["head_ip"] not in provider["worker_ips"]
    assert config["auth"]["ssh_user"]


@pytest.mark.parametrize(
    ("commands", "flags"),
    [
        ("head_start_ray_commands", ["--head", "--include-dashboard=false"]),
        ("worker_start_ray_commands", ["--address=$RAY_HEAD_IP:"]),
    ],
)
def test_each_node_stops_ray_then_starts_it_with_token_authentication(
    config: dict[str, Any], commands: str, flags: list[str]
) -> None:
    stop, start = config[commands]

    assert stop.endswith("ray stop")
    assert "RAY_AUTH_MODE=token" in start
    assert "ray start" in start
    for flag in flags:
        assert flag in start


def test_every_node_gets_the_cluster_token_and_the_project(
    config: dict[str, Any],
) -> None:
    mounts = config["file_mounts"]

    assert mounts["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert any("pip install" in command for command in config["setup_commands"])
    assert "." in mounts.values()


def test_the_config_says_how_to_serve_on_the_cluster() -> None:
    assert "upcast serve --ray-address auto" in CONFIG.read_text(encoding="utf-8")
