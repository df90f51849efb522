"""The lock file: the venv the tests run in is the one requirements/lock.txt names, and a mismatch is named."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"


def check(lock: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "lock.py"), "check", str(lock)],
                          capture_output=True, text=True, check=False)


def test_the_test_venv_matches_the_lock():
    result = check(LOCK)
    assert result.returncode == 0, result.stderr


def test_every_top_level_requirement_is_in_the_lock():
    locked = {line.split("==")[0].lower().replace("_", "-") for line in LOCK.read_text().splitlines()
              if line and not line.startswith("#")}
    for name in ("core", "ros", "build", "test", "nodeps"):
        for raw in (ROOT / "requirements" / f"{name}.txt").read_text().splitlines():
            requirement = raw.split("#", 1)[0].strip()
            if requirement:
                package = requirement.split("=")[0].split(">")[0].split("<")[0].strip().lower().replace("_", "-")
                assert package in locked, f"{name}.txt: {package} is not pinned in {LOCK.name}"


def test_a_different_version_and_an_unlocked_package_are_named(tmp_path):
    lines = LOCK.read_text().splitlines()
    changed = [("tqdm==0.0.1" if line.lower().startswith("tqdm==") else line) for line in lines]
    dropped = [line for line in changed if not line.lower().startswith("pyyaml==")]
    lock = tmp_path / "lock.txt"
    lock.write_text("\n".join(dropped) + "\n")
    result = check(lock)
    assert result.returncode == 1
    assert "tqdm==0.0.1 is locked, the venv has tqdm==" in result.stderr
    assert "PyYAML==" in result.stderr and "not in the lock" in result.stderr


def test_a_line_without_a_pin_is_refused(tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("numpy>=1.26\n")
    result = check(lock)
    assert result.returncode != 0 and "expected 'name==version'" in result.stderr
