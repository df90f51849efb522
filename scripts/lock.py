"""The lock file requirements/lock.txt: every Python package of the venv pinned, transitive ones included.

    python scripts/lock.py freeze            # the venv's packages as lock lines (stdout)
    python scripts/lock.py check LOCK        # exit 1, naming each difference, when the venv does not match LOCK

Run with the venv's Python. ``scripts/lock.sh`` makes the lock from a clean venv (`pip freeze` of a fresh install of
requirements/*.txt); ``scripts/setup.sh`` installs with it as pip constraints and then runs ``check``.
Packages that the set-up builds itself from this checkout (the interface packages) are not in the lock.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

#: Distributions the set-up builds from this checkout with CMake (never from a registry), and pip itself, which
#: comes with the Python that made the venv.
NOT_LOCKED = frozenset({"pip", "scorehmr-ros", "tf2-msgs"})


def canonical(name: str) -> str:
    """PEP 503 name: lower case, runs of '-', '_', '.' as one '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    """canonical name -> 'name==version' of every distribution in this Python's environment."""
    lines = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonical(name) not in NOT_LOCKED:
            lines[canonical(name)] = f"{name}=={dist.version}"
    return lines


def read_lock(path: Path) -> dict[str, str]:
    """canonical name -> 'name==version' of a lock file (comments and blank lines ignored)."""
    pins = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "==" not in line:
            raise SystemExit(f"{path}:{number}: expected 'name==version', got {raw!r}")
        pins[canonical(line.split("==", 1)[0])] = line
    return pins


def main(argv: list[str]) -> int:
    if argv[:1] == ["freeze"] and len(argv) == 1:
        sys.stdout.write("\n".join(sorted(installed().values(), key=str.lower)) + "\n")
        return 0
    if argv[:1] == ["check"] and len(argv) == 2:
        lock_path = Path(argv[1])
        want, have = read_lock(lock_path), installed()
        problems = [f"  {want[n]} is locked, the venv has {have.get(n, 'none')}"
                    for n in sorted(want) if have.get(n) != want[n]]
        problems += [f"  {have[n]} is in the venv but not in the lock" for n in sorted(set(have) - set(want))]
        if problems:
            sys.stderr.write(f"the venv does not match {lock_path}:\n" + "\n".join(problems) + "\n")
            return 1
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
