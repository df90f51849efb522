"""Range-checked argparse types shared by the subcommands."""

import argparse

import pytest

from scorehmr_ros.cli.arg_types import non_negative_int, positive_int, ranged


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


def test_int_lists_parse_each_value_in_range():
    from scorehmr_ros.cli.arg_types import int_list

    assert int_list()("3,0,-2") == [3, 0, -2] and int_list(minimum=1)("2,4") == [2, 4]
    for parse, text, message in ((int_list(minimum=1), "2,0", "must be >= 1, got 0"),
                                 (int_list(minimum=1, maximum=16), "1,17", r"must be in \[1, 16\], got 17"),
                                 (int_list(), "1,two", "comma-separated integers expected"),
                                 (int_list(), "2,4,", "comma-separated integers expected"),
                                 (int_list(), "", "comma-separated integers expected")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parse(text)
