"""The DDS environment our nodes, demo and tests run with (ROS-free: only environment variables).

Fast DDS is configured through two variables, both set for every node we start:

- ``FASTDDS_DEFAULT_PROFILES_FILE``: our bundled profile (``data/fastdds/large_images.xml``),
  shared-memory segments large enough for full-HD images plus UDPv4; it takes precedence over the
  builtin transports. A profile file the user has already set is left in place.

- ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` (unless set): in effect wherever a profile does not choose
  transports.
"""

from __future__ import annotations

import os
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
