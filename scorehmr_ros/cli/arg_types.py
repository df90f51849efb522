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
