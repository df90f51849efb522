"""Every key in config/*.yaml is a parameter the named node declares (no typos, no stale keys)."""

from pathlib import Path

import pytest
import yaml

from scorehmr_ros.ros.nodes.registry import declared_parameters

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
PARAMETER_FILES = sorted(path for path in CONFIG_DIR.glob("*.yaml")
                         if "ros__parameters" in path.read_text(encoding="utf-8"))


def flatten(tree: dict, prefix: str = "") -> set[str]:
    names = set()
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else key
        names |= flatten(value, name) if isinstance(value, dict) else {name}
    return names


def test_there_are_parameter_files():
    assert PARAMETER_FILES, f"no parameter files in {CONFIG_DIR}"


@pytest.mark.parametrize("path", PARAMETER_FILES, ids=lambda p: p.name)
def test_every_key_is_declared(path):
    declared = declared_parameters()
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for node_name, section in document.items():
        assert node_name in declared, f"{path.name}: unknown node {node_name!r} (known: {sorted(declared)})"
        unknown = flatten(section["ros__parameters"]) - declared[node_name]
        assert not unknown, f"{path.name}: {node_name} declares no parameters {sorted(unknown)}"


def test_a_typo_would_be_caught():
    assert "detector.max_peeple" not in declared_parameters()["person_detector"]
    assert "detector.max_people" in declared_parameters()["person_detector"]
