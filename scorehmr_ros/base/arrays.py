"""Input checks shared by the core's value types: an array of a given shape with finite values only.

:func:`check_shape` is the shape half alone, for values that must not be converted (torch tensors on a device or
with gradients).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_shape(name: str, shape: Sequence[int], expected: tuple[int | None, ...], *, error: type[Exception]) -> None:
    """Raise ``error`` naming ``name``, the ``expected`` shape (None: any length on that axis) and the ``shape`` got.

    ``shape``: e.g. ``array.shape`` or ``tensor.shape``.
    """
    got = tuple(int(s) for s in shape)
    if len(got) != len(expected) or any(e is not None and e != s for e, s in zip(expected, got, strict=True)):
        shown = tuple("*" if e is None else e for e in expected)
        raise error(f"{name}: expected shape {shown}, got {got}")


def checked_array(name: str, value, shape: tuple[int | None, ...], *, error: type[Exception],
                  show_values: bool = False) -> np.ndarray:
    """``value`` as a float64 array of ``shape`` (None: any length on that axis) holding no NaN or infinity.

    Raises ``error`` naming ``name`` and what is wrong (with the values when ``show_values``: small arrays).
    """
    array = np.asarray(value, dtype=np.float64)
    check_shape(name, array.shape, shape, error=error)
    if not np.all(np.isfinite(array)):
        raise error(f"{name}: contains NaN or infinite values" + (f": {array.tolist()}" if show_values else ""))
    return array
