"""Range-checked argparse types shared by the subcommands."""

import argparse

import pytest

from scorehmr_ros.cli_types import non_negative_int, positive_int, ranged


def test_ranges_accept_inside_and_name_the_bound_outside():
    assert positive_int("3") == 3 and non_negative_int("0") == 0
    fraction = ranged(float, minimum=0.0, maximum=0.9)
    assert fraction("0.25") == 0.25
    for parse, text, message in ((positive_int, "0", "must be >= 1, got 0"), (non_negative_int, "-2", "must be >= 0"),
                                 (fraction, "0.95", r"must be in \[0, 0.9\], got 0.95"),
                                 (ranged(int, maximum=5), "6", "must be <= 5, got 6")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parse(text)
    with pytest.raises(ValueError):
        positive_int("three")
