"""Fixed-lag smoothing of one track's window of per-frame fits (torch, closed form).

For a window of n frames with per-frame values y_t (D,) (a frame's fitted rotation matrices or translation),
anchor weights a_t >= 0 (1 for a frame fitted to its own keypoints, ~0 for a prediction) and the frames
already emitted held at their emitted values (fixed, so the emitted sequence stays smooth across steps); equations
numbered within this module only:
    (1) min_X  Σ_{t free} a_t ‖X_t - y_t‖² + λ Σ_{i=0}^{n-3} ‖X_i - 2 X_{i+1} + X_{i+2}‖² + ε Σ_{t free} ‖X_t - y_t‖²
    (2) normal equations on the free rows f, fixed rows x:
        (diag(a_f + ε) + λ (DᵀD)_ff) X_f = (a_f + ε) y_f - λ (DᵀD)_fx X_x
with D the (n-2, n) second-difference operator. λ is in units of 30 fps frames: with frame times t_i the row
of frame i is the finite-difference acceleration at t_i times Δ² (Δ = 1/30 s),
    (3) D_i = 2Δ² / (h₋ + h₊) · [1/h₋, -(1/h₋ + 1/h₊), 1/h₊],   h₋ = t_i - t_{i-1}, h₊ = t_{i+1} - t_i,
which is [1, -2, 1] at 30 fps, so one λ smooths the same in seconds at any rate and across irregular gaps
(a 5 Hz stream with the 30 fps rows would be smoothed (30/5)⁴ ≈ 1300 times too hard). Without times the
frames are taken 1/30 s apart.
Rotation matrices are smoothed as 9-vectors and brought back to SO(3) by
:func:`~scorehmr_ros.geometry.rotations.nearest_rotation`.
"""

from __future__ import annotations

import torch


class SmoothingInputError(ValueError):
    """Window arrays of mismatched shapes."""


#: Frame interval the smoothness λ is expressed in (30 fps), seconds.
REFERENCE_INTERVAL_S = 1.0 / 30.0


def second_difference_matrix(num_frames: int, *, times_s: torch.Tensor | None = None,
                             dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """D of equation (1) above: (max(n - 2, 0), n); rows [1, -2, 1], or equation (3) for (n,) increasing ``times_s``."""
    return second_difference_matrices(num_frames, [times_s], dtype=dtype)[0]


def second_difference_matrices(num_frames: int, window_times: list, *, dtype: torch.dtype = torch.float64
                               ) -> torch.Tensor:
    """(T, max(n - 2, 0), n): :func:`second_difference_matrix` of each of T windows of n frames (``window_times``:
    per window (n,) times or None), filled in one indexing."""
    rows = max(num_frames - 2, 0)
    coefficients = torch.empty(len(window_times), rows, 3, dtype=torch.float64)
    for number, times_s in enumerate(window_times):
        if times_s is None:
            coefficients[number] = torch.tensor([1.0, -2.0, 1.0], dtype=torch.float64)
            continue
        times = torch.as_tensor(times_s, dtype=torch.float64)
        steps = times.diff()
        if tuple(times.shape) != (num_frames,) or not bool((steps > 0).all()):
            raise SmoothingInputError(f"times_s: expected ({num_frames},) strictly increasing seconds, got "
                                      f"{times.tolist()}")
        before, after = steps[:rows], steps[1:rows + 1]
        scale = 2.0 * REFERENCE_INTERVAL_S**2 / (before + after)
        coefficients[number] = torch.stack([scale / before, -scale * (1 / before + 1 / after), scale / after], dim=1)
    D = torch.zeros(len(window_times), rows * num_frames, dtype=dtype)
    # row i holds frames i, i + 1, i + 2: flat positions i n + i + offset
    positions = (torch.arange(rows) * (num_frames + 1))[:, None] + torch.arange(3)
    D[:, positions.flatten()] = coefficients.flatten(1).to(dtype)
    return D.reshape(len(window_times), rows, num_frames)


def fixed_lag_smooth(values: torch.Tensor, *, anchor_weight: torch.Tensor, fixed: torch.Tensor,
                     smoothness: float, times_s=None, ridge: float = 1e-6) -> torch.Tensor:
    """Equation (2) above: (n, D) window values (fixed rows hold their fixed values) -> (n, D) smoothed values;
    or T windows of n frames at once: (T, n, D) values with (T, n) weights, fixed rows and times.

    Args:
        values: (n, D) or (T, n, D) per-frame values y_t; for fixed rows, the value to hold.
        anchor_weight: (n,) or (T, n), a_t >= 0.
        fixed: (n,) or (T, n) bool, True for rows held (already emitted).
        smoothness: λ >= 0, in units of 30 fps frames.
        times_s: (n,) strictly increasing frame times, seconds, or None: frames 1/30 s apart; for T windows, (T, n)
            times, or a sequence of T such (n,) times or None, or None for all.
        ridge: ε > 0, keeps the system solvable when no free frame has an anchor.
    """
    single = values.dim() == 2
    if single:
        values, anchor_weight, fixed, times_s = values[None], anchor_weight[None], fixed[None], [times_s]
    if values.dim() != 3 or tuple(anchor_weight.shape) != values.shape[:2] or tuple(fixed.shape) != values.shape[:2]:
        raise SmoothingInputError(f"values ([T,] n, D), anchor_weight ([T,] n), fixed ([T,] n): got "
                                  f"{tuple(values.shape)}, {tuple(anchor_weight.shape)}, {tuple(fixed.shape)}")
    window_times = [None] * values.shape[0] if times_s is None else list(times_s)  # a (T, n) tensor: its rows
    if len(window_times) != values.shape[0]:
        raise SmoothingInputError(f"times_s: expected {values.shape[0]} windows' times, got {len(window_times)}")
    smoothed = _smooth_windows(values, anchor_weight, fixed, smoothness, window_times, ridge)
    return smoothed[0] if single else smoothed


def _smooth_windows(values: torch.Tensor, anchor_weight: torch.Tensor, fixed: torch.Tensor, smoothness: float,
                    window_times: list, ridge: float) -> torch.Tensor:
    """(T, n, D) windows -> smoothed, one batched solve: equation (2) with each fixed row's equation replaced by
    X_x = y_x, which holds it and moves λ (DᵀD)_fx X_x to the free rows exactly as (2) does."""
    num = values.shape[1]
    free = ~fixed
    if num < 3 or smoothness <= 0 or not bool(free.any()):
        return values.clone()
    y = values.double()
    D = second_difference_matrices(num, window_times)  # (T, n - 2, n)
    gram = smoothness * D.transpose(1, 2) @ D  # (T, n, n)
    weight = anchor_weight.double() + ridge
    free_rows = free[..., None].double()
    system = free_rows * (gram + torch.diag_embed(weight)) + torch.diag_embed(fixed.double())
    rhs = torch.where(free[..., None], weight[..., None] * y, y)
    solution = torch.linalg.solve(system, rhs)
    return torch.where(fixed[..., None], y, solution).to(values.dtype)  # fixed rows exactly as given
