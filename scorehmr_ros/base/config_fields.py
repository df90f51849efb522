"""Config dataclass fields that carry their description and allowed range (ROS-free).

Every default lives once, in a frozen config dataclass of the core. Fields made with
:func:`setting` also carry a description, a unit and a range, so that the ROS nodes can
declare parameters from the dataclass (``ros/parameters.py``) and the CLI can write help
text, without repeating the default anywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

_METADATA_KEY = "scorehmr_setting"


@dataclass(frozen=True)
class SettingInfo:
    """What a config field means: description, unit and the closed range [minimum, maximum]."""

    description: str
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def check(self, name: str, value: Any) -> None:
        """Raise ValueError naming the field, the value and the allowed range when ``value`` is outside it."""
        if self.choices and value not in self.choices:
            raise ValueError(f"{name}: must be one of {', '.join(self.choices)}; got {value!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        unit = f" {self.unit}" if self.unit else ""
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{name}: must be >= {self.minimum}{unit}, got {value}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{name}: must be <= {self.maximum}{unit}, got {value}")


def setting(default: Any, description: str, *, unit: str = "", minimum: float | None = None,
            maximum: float | None = None, choices: tuple[str, ...] = ()) -> Any:
    """A dataclass field with a default and its :class:`SettingInfo`."""
    info = SettingInfo(description=description, unit=unit, minimum=minimum, maximum=maximum, choices=choices)
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for sequence defaults: config dataclasses are frozen")
    return dataclasses.field(default=default, metadata={_METADATA_KEY: info})


def setting_info(field: dataclasses.Field) -> SettingInfo | None:
    """The SettingInfo of a dataclass field, or None for fields made without :func:`setting`."""
    return field.metadata.get(_METADATA_KEY)


def check_settings(config: Any) -> None:
    """Check every :func:`setting` field of a dataclass instance against its range and choices."""
    for field in dataclasses.fields(config):
        info = setting_info(field)
        if info is not None:
            info.check(field.name, getattr(config, field.name))
