"""The shared shape-and-finite check of the core's value types."""

import numpy as np
import pytest

from scorehmr_ros.base.arrays import checked_array


class ProblemError(ValueError):
    pass


def test_shapes_with_wildcards_and_finite_values():
    assert checked_array("x", [[1, 2, 3]], (None, 3), error=ProblemError).dtype == np.float64
    with pytest.raises(ProblemError, match=r"x: expected shape \('\*', 3\), got \(2, 2\)"):
        checked_array("x", np.zeros((2, 2)), (None, 3), error=ProblemError)
    with pytest.raises(ProblemError, match=r"x: expected shape \(3,\), got \(\)"):
        checked_array("x", 1.0, (3,), error=ProblemError)
    with pytest.raises(ProblemError, match=r"t: contains NaN or infinite values$"):
        checked_array("t", [0.0, np.nan, 1.0], (3,), error=ProblemError)
    with pytest.raises(ProblemError, match=r"t: contains NaN or infinite values: \[0.0, inf\]"):
        checked_array("t", [0.0, np.inf], (2,), error=ProblemError, show_values=True)
