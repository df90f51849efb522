"""How well a pose prior knows its poses: noise-prediction error on held-out poses vs random rotations vs a mean pose.

For a set of clean poses X = {x_0} (N, D) and a timestep t, with K noise draws ε_k ~ N(0, I) (equations (1), (2)
numbered within this module only; E-numbers are those of docs/scorehmr-reference.md):

    x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε                                          (forward process E2)
    (1) MSE_f(X, t)    = mean_{k, n, d} (f(x_t, t) - ε)²                      (the training loss E19 at a fixed t)
    (2) MSE_mean(X, t) = mean_{k, n, d} (ε̄ - ε)²,  ε̄ = (√(1/ᾱ_t) x_t - x̄_0) / √(1/ᾱ_t - 1)
                         the noise a predictor would infer if it believed every pose were the constant x̄_0

x̄_0 is the Euclidean mean of the training poses' 6D vectors (the best constant guess of x_0 in squared
error), each training pose turned by random headings as in training. A prior that has learnt the pose
distribution beats (2) on held-out poses; on random rotations (each of the 24 joints uniform on SO(3))
it should do much worse than on held-out poses. MSE = 1 is what predicting ε̂ = 0 would give.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from scorehmr_ros.body.joint_counts import NUM_SMPL_JOINTS
from scorehmr_ros.diffusion.diffusion import Diffusion
from scorehmr_ros.geometry.rotations import quaternion_to_matrix
from scorehmr_ros.training.training_data import MotionSplit, apply_heading, rotations_to_pose_6d

#: Timesteps of the standard report.
EVAL_TIMESTEPS: tuple[int, ...] = (10, 50, 100, 250, 500)


@dataclass(frozen=True)
class PriorEvaluation:
    """Errors of equations (1) and (2) above at each timestep (same order as ``timesteps``)."""

    timesteps: tuple[int, ...]
    heldout_mse: tuple[float, ...]  # (1) on held-out poses
    train_mse: tuple[float, ...]  # (1) on as many training poses
    random_mse: tuple[float, ...]  # (1) on uniformly random rotations
    mean_pose_heldout_mse: tuple[float, ...]  # (2) on held-out poses
    num_heldout: int
    noise_draws: int
    seed: int

    def as_dict(self) -> dict:
        return {"timesteps": list(self.timesteps), "heldout_mse": list(self.heldout_mse),
                "train_mse": list(self.train_mse), "random_mse": list(self.random_mse),
                "mean_pose_heldout_mse": list(self.mean_pose_heldout_mse), "num_heldout": self.num_heldout,
                "noise_draws": self.noise_draws, "seed": self.seed}

    def table(self) -> str:
        """A Markdown table of the numbers."""
        lines = ["| t | held-out | training | random rotations | mean-pose baseline (held-out) |",
                 "|---|---|---|---|---|"]
        for i, t in enumerate(self.timesteps):
            lines.append(f"| {t} | {self.heldout_mse[i]:.4f} | {self.train_mse[i]:.4f} | {self.random_mse[i]:.4f} "
                         f"| {self.mean_pose_heldout_mse[i]:.4f} |")
        return "\n".join(lines)


def random_rotation_poses(num: int, *, generator: torch.Generator) -> torch.Tensor:
    """(num, 144) 6D vectors of 24 independent uniform rotations (normalised Gaussian quaternions)."""
    quaternions = torch.randn((num, NUM_SMPL_JOINTS, 4), generator=generator, dtype=torch.float64)
    return rotations_to_pose_6d(quaternion_to_matrix(quaternions)).float()


def with_random_headings(rotations: np.ndarray | torch.Tensor, *, copies: int,
                         generator: torch.Generator) -> torch.Tensor:
    """(N, 24, 3, 3) -> (copies N, 144): each pose turned by ``copies`` uniform random headings."""
    pool = torch.as_tensor(np.asarray(rotations), dtype=torch.float64).repeat(copies, 1, 1, 1)
    angle = torch.rand(pool.shape[0], generator=generator, dtype=torch.float64) * (2 * np.pi)
    return rotations_to_pose_6d(apply_heading(pool, angle)).float()


@torch.no_grad()
def noise_prediction_mse(diffusion: Diffusion, x0: torch.Tensor, *, t: int, noise: torch.Tensor,
                         mean_x0: torch.Tensor | None = None) -> float:
    """Equation (1) above (or (2) when ``mean_x0`` (D,) is given) for x0 (N, D) and noise (K, N, D)."""
    draws, num, dim = noise.shape
    device = diffusion.betas.device
    x0_rep = x0.to(device).repeat(draws, 1)  # (K N, D)
    eps = noise.reshape(draws * num, dim).to(device)
    t_batch = torch.full((draws * num,), t, dtype=torch.long, device=device)
    x_t = diffusion.q_sample(x0_rep, t_batch, eps)
    if mean_x0 is None:
        predicted = diffusion.model(x_t, t_batch, None)
    else:
        predicted = diffusion.predict_noise_from_start(x_t, t_batch, mean_x0.to(device).expand_as(x_t))
    return float(torch.mean((predicted - eps) ** 2))


def evaluate_pose_sets(diffusion: Diffusion, *, heldout_x0: torch.Tensor, train_x0: torch.Tensor,
                       random_x0: torch.Tensor, mean_x0: torch.Tensor, timesteps: tuple[int, ...] = EVAL_TIMESTEPS,
                       noise_draws: int = 4, seed: int = 0) -> PriorEvaluation:
    """Equations (1), (2) above on the given sets; the same noise for all sets of equal size at a given t."""
    rows = {"heldout": [], "train": [], "random": [], "mean": []}
    for t in timesteps:
        generator = torch.Generator().manual_seed(seed * 100_003 + t)
        noise = torch.randn((noise_draws, *heldout_x0.shape), generator=generator)
        rows["heldout"].append(noise_prediction_mse(diffusion, heldout_x0, t=t, noise=noise))
        rows["mean"].append(noise_prediction_mse(diffusion, heldout_x0, t=t, noise=noise, mean_x0=mean_x0))
        other = torch.randn((noise_draws, *train_x0.shape), generator=generator)
        rows["train"].append(noise_prediction_mse(diffusion, train_x0, t=t, noise=other))
        other = torch.randn((noise_draws, *random_x0.shape), generator=generator)
        rows["random"].append(noise_prediction_mse(diffusion, random_x0, t=t, noise=other))
    return PriorEvaluation(timesteps=tuple(timesteps), heldout_mse=tuple(rows["heldout"]),
                           train_mse=tuple(rows["train"]), random_mse=tuple(rows["random"]),
                           mean_pose_heldout_mse=tuple(rows["mean"]), num_heldout=int(heldout_x0.shape[0]),
                           noise_draws=noise_draws, seed=seed)


def evaluate_motion_prior(diffusion: Diffusion, *, split: MotionSplit, seed: int = 0,
                          timesteps: tuple[int, ...] = EVAL_TIMESTEPS, noise_draws: int = 4,
                          mean_headings: int = 8) -> PriorEvaluation:
    """The standard report for a keypoint-only prior trained on ``split.train``.

    Held-out poses get one random heading each; the training comparison set is as many training poses drawn
    at random (one random heading each); the random set has as many poses as the held-out set; x̄_0 averages
    the training poses under ``mean_headings`` random headings each.
    """
    if len(split.heldout) == 0:
        raise ValueError("evaluate_motion_prior: the split has no held-out poses")
    generator = torch.Generator().manual_seed(seed)
    heldout_x0 = with_random_headings(split.heldout, copies=1, generator=generator)
    pick = torch.randint(0, len(split.train), (len(split.heldout),), generator=generator)
    train_x0 = with_random_headings(np.asarray(split.train)[pick.numpy()], copies=1, generator=generator)
    mean_x0 = with_random_headings(split.train, copies=mean_headings, generator=generator).double().mean(0).float()
    random_x0 = random_rotation_poses(len(split.heldout), generator=generator)
    return evaluate_pose_sets(diffusion, heldout_x0=heldout_x0, train_x0=train_x0, random_x0=random_x0,
                              mean_x0=mean_x0, timesteps=timesteps, noise_draws=noise_draws, seed=seed)
