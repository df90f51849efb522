"""Input checks shared by the core's value types: an array of a given shape with finite values only."""

from __future__ import annotations

import numpy as np


def checked_array(name: str, value, shape: tuple[int | None, ...], *, error: type[Exception],
                  show_values: bool = False) -> np.ndarray:
    """``value`` as a float64 array of ``shape`` (None: any length on that axis) holding no NaN or infinity.

    Raises ``error`` naming ``name`` and what is wrong (with the values when ``show_values``: small arrays).
    """
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape, strict=True)):
        shown = tuple("*" if s is None else s for s in shape)
        raise error(f"{name}: expected shape {shown}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise error(f"{name}: contains NaN or infinite values" + (f": {array.tolist()}" if show_values else ""))
    return array
