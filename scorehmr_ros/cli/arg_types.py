"""argparse ``type=`` helpers shared by the subcommands: numbers checked against a closed range."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def ranged(kind: type, *, minimum: float | None = None, maximum: float | None = None) -> Callable[[str], float]:
    """An argparse type that parses ``kind`` (int or float) and rejects values outside [minimum, maximum]."""

    def parse(text: str):
        value = kind(text)
        if minimum is not None and maximum is not None and not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be in [{minimum:g}, {maximum:g}], got {value}")
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum:g}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be <= {maximum:g}, got {value}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in "invalid int value" errors
    return parse


positive_int = ranged(int, minimum=1)
non_negative_int = ranged(int, minimum=0)


def int_list(*, minimum: int | None = None, maximum: int | None = None) -> Callable[[str], list[int]]:
    """An argparse type for comma-separated integers (at least one), each within [minimum, maximum]."""
    parse_one = ranged(int, minimum=minimum, maximum=maximum)

    def parse(text: str) -> list[int]:
        try:
            return [parse_one(part) for part in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"comma-separated integers expected, got {text!r}") from None

    parse.__name__ = "int list"
    return parse


def str_list(*, choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """An argparse type for comma-separated names (at least one), each one of ``choices``."""

    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",")]
        unknown = [name for name in names if name not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"expected comma-separated names of {', '.join(choices)}; "
                                             f"unknown: {', '.join(map(repr, unknown))}")
        return names

    parse.__name__ = "name list"
    return parse


def add_config_arguments(parser: argparse.ArgumentParser, config_class: type,
                         aliases: dict[str, tuple[str, ...]] | None = None) -> None:
    """One ``--flag`` per field of a settings dataclass (``base.config_fields.setting``): its default, description,
    unit and choices, so a command's options and the dataclass never disagree. bool fields get ``--x/--no-x``,
    ``tuple[str, ...]`` fields take several values; ``aliases`` adds extra flags per field name."""
    import dataclasses

    from scorehmr_ros.base.config_fields import setting_info

    for field in dataclasses.fields(config_class):
        info = setting_info(field)
        flags = ("--" + field.name.replace("_", "-"), *(aliases or {}).get(field.name, ()))
        help_text = info.description + (f" [{info.unit}]" if info.unit else "")
        if field.type in ("bool", bool):
            parser.add_argument(*flags, action=argparse.BooleanOptionalAction, default=field.default, help=help_text)
        elif field.type in ("tuple[str, ...]",):
            parser.add_argument(*flags, nargs="+", default=list(field.default), help=help_text)
        else:
            kind = {"int": int, "float": float, "str": str}[str(field.type)]
            parser.add_argument(*flags, type=kind, default=field.default, choices=info.choices or None,
                                help=help_text)


def config_from_arguments(args: argparse.Namespace, config_class: type):
    """The ``config_class`` instance the flags of :func:`add_config_arguments` describe (validate() not called)."""
    import dataclasses

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)}
    return config_class(**{name: tuple(value) if isinstance(value, list) else value for name, value in values.items()})
