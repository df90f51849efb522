"""The DDS environment our nodes, demo and tests run with (ROS-free: only environment variables).

Fast DDS is configured through two variables, both set for every node we start:

- ``FASTDDS_DEFAULT_PROFILES_FILE``: our bundled profile (``data/fastdds/large_images.xml``),
  shared-memory segments large enough for full-HD images plus UDPv4; it takes precedence over the
  builtin transports. A profile file the user has already set is left in place.

- ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` (unless set): in effect wherever a profile does not choose
  transports.

Shared-memory segments of processes that died without closing them (killed, crashed) stay in ``/dev/shm``,
up to 32 MB each with our profile, and /dev/shm is RAM: on the machine of 2026-12-03, 1,454 of them from a day
of test runs held 22 GB and got the test suite OOM-killed. Every node removes such segments when it starts
(:func:`remove_stale_shm_segments`), as ``fastdds shm clean`` does: each segment ``fastdds_<16 characters>`` has
a lock file ``<segment>_el`` that its owner holds (flock) while alive; a lock file that can be locked has no owner.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

BUNDLED_FASTDDS_PROFILE = Path(__file__).resolve().parents[1] / "data" / "fastdds" / "large_images.xml"
PROFILE_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"
TRANSPORTS_VARIABLE = "FASTDDS_BUILTIN_TRANSPORTS"


def dds_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment variables for a node process; ``environ`` (default ``os.environ``) decides the profile file."""
    environ = os.environ if environ is None else environ
    return {
        TRANSPORTS_VARIABLE: environ.get(TRANSPORTS_VARIABLE) or "LARGE_DATA",
        PROFILE_VARIABLE: environ.get(PROFILE_VARIABLE) or str(BUNDLED_FASTDDS_PROFILE),
    }


def apply_dds_environment() -> None:
    """Set :func:`dds_environment` in this process (before rclpy initialises), keeping values already set."""
    for key, value in dds_environment().items():
        os.environ.setdefault(key, value)


#: Where Fast DDS keeps its shared-memory files on Linux.
SHM_DIRECTORY = Path("/dev/shm")
_SEGMENT_LOCK = re.compile(r"^fastdds_[0-9a-z]{16}_el$")


def remove_stale_shm_segments(directory: Path = SHM_DIRECTORY, *, min_age_s: float = 10.0) -> tuple[int, int]:
    """Remove the Fast DDS shared-memory segments in ``directory`` whose owner is gone (module docstring).

    Lock files younger than ``min_age_s`` are left: a segment being created is not locked yet. Returns (segments
    removed, bytes freed); (0, 0) where the directory does not exist. Never raises for a file that vanishes or
    cannot be opened (another process cleaning at the same time, other users' files).
    """
    removed = freed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0, 0
    now = time.time()
    for name in names:
        if not _SEGMENT_LOCK.match(name):
            continue
        lock_path, segment_path = directory / name, directory / name[:-3]
        try:
            if now - lock_path.stat().st_mtime < min_age_s:
                continue
            with open(lock_path, "ab") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while the owner is alive
                size = segment_path.stat().st_size if segment_path.exists() else 0
                segment_path.unlink(missing_ok=True)
                lock_path.unlink(missing_ok=True)
        except OSError:
            continue
        removed += 1
        freed += size
    return removed, freed
