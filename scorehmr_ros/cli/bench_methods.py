"""The five fitting methods of ``scorehmr-ros bench calibrated`` on one synthetic case (ground truth known).

A case is a simulated scene (sim/) plus per-view initial estimates made the way a regressor errs: ground
truth with per-joint rotation noise, camera-relative global orientation noise and betas noise, drawn
independently per frame and view. Every method returns world-frame SMPL joints (P, T, 24, 3) and its seconds:
    (a) triangulation + IK from keypoints alone
    (b) the calibrated multi-view loss minimised by Adam without the diffusion prior (same start as (d))
    (c) the paper's multi-view consistency mode (official ``guided_fit``, multiview settings) per person-frame
        on the per-view estimates; placed in the world by the triangulated joints
    (d) calibrated guided fitting, every frame on its own
    (e) the streaming fitter
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.body.ik import IKConfig, place_body
from scorehmr_ros.body.keypoint_body import KeypointBody
from scorehmr_ros.diffusion.diffusion import Diffusion
from scorehmr_ros.fitting.calibrated_fitting import (
    BodyParams,
    CalibratedFitConfig,
    CalibratedObservations,
    calibrated_guided_fit,
    fit_without_prior,
)
from scorehmr_ros.fitting.fit_config import FitConfig
from scorehmr_ros.fitting.fit_init import (
    chordal_mean,
    combine_view_estimates,
    initial_bodies,
    triangulate_bodies,
    view_weights,
)
from scorehmr_ros.fitting.fitting import FitInputs, guided_fit
from scorehmr_ros.fitting.multiview_guidance import RigTensors
from scorehmr_ros.geometry.rotations import axis_angle_to_matrix
from scorehmr_ros.pipeline.streaming import StreamingConfig, StreamingFitter
from scorehmr_ros.sim.scene import Scene


@dataclass(frozen=True)
class RegressorNoise:
    """How the simulated per-view regressor errs (independent per frame and view)."""

    joint_deg: float = 12.0  # std of each body joint's rotation error, degrees
    orient_deg: float = 10.0  # std of the camera-relative global orientation error, degrees
    betas_sigma: float = 0.3  # std of the betas error


@dataclass(frozen=True)
class BenchCase:
    """keypoints_px (T, P, V, 25, 3); init_pose (T, P, V, 24, 3, 3) camera-relative; init_betas (T, P, V, 10);
    gt_joints_m (P, T, 24, 3); rig; fps."""

    keypoints_px: np.ndarray
    init_pose: np.ndarray
    init_betas: np.ndarray
    gt_joints_m: np.ndarray
    rig: RigTensors
    fps: float


def _random_rotations(shape: tuple[int, ...], sigma_deg: float, rng: np.random.Generator) -> torch.Tensor:
    axis_angle = rng.standard_normal(shape + (3,)) * np.radians(sigma_deg) / np.sqrt(3.0)
    return axis_angle_to_matrix(torch.tensor(axis_angle, dtype=torch.float32))


def make_case(scene: Scene, *, noise: RegressorNoise, rng: np.random.Generator) -> BenchCase:
    """Per-view estimates from the scene's ground truth (module docstring); OpenPose-25 keypoints as (T, P, V)."""
    truth = scene.ground_truth
    rig = RigTensors.from_cameras(scene.cameras)
    num_people, num_frames = truth.global_orient.shape[:2]
    num_views = rig.num_views
    shape = (num_frames, num_people, num_views)
    body_pose = torch.tensor(truth.body_pose, dtype=torch.float32).transpose(0, 1)  # (T, P, 23, 3, 3)
    orient = torch.tensor(truth.global_orient, dtype=torch.float32).transpose(0, 1)  # (T, P, 3, 3)
    orient_cam = rig.R_cam_world[None, None] @ orient[:, :, None]  # (T, P, V, 3, 3)
    pose = torch.empty(shape + (24, 3, 3))
    pose[..., 0, :, :] = _random_rotations(shape, noise.orient_deg, rng) @ orient_cam
    pose[..., 1:, :, :] = body_pose[:, :, None] @ _random_rotations(shape + (23,), noise.joint_deg, rng)
    betas = truth.betas[None, :, None] + noise.betas_sigma * rng.standard_normal(shape + (10,))
    keypoints = scene.observations.keypoints_px.transpose(0, 2, 1, 3, 4)  # (T, P, V, J, 3)
    return BenchCase(keypoints_px=keypoints, init_pose=pose.numpy(), init_betas=betas.astype(np.float32),
                     gt_joints_m=truth.smpl_joints_world_m, rig=rig, fps=scene.fps)


def _flat(case: BenchCase) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, V, 25, 3) keypoints, (B, V, 24, 3, 3) pose, (B, V, 10) betas with B = T x P (frame-major)."""
    num_frames, num_people = case.keypoints_px.shape[:2]
    batch = num_frames * num_people
    return (torch.tensor(case.keypoints_px, dtype=torch.float32).reshape(batch, *case.keypoints_px.shape[2:]),
            torch.tensor(case.init_pose).reshape(batch, *case.init_pose.shape[2:]),
            torch.tensor(case.init_betas).reshape(batch, *case.init_betas.shape[2:]))


def _joints(body: KeypointBody, params: BodyParams, case: BenchCase) -> np.ndarray:
    num_frames, num_people = case.keypoints_px.shape[:2]
    with torch.no_grad():
        joints = body(rotations=params.rotations, betas=params.betas, transl_m=params.transl_m).smpl_joints_m
    return joints.reshape(num_frames, num_people, 24, 3).transpose(0, 1).numpy().astype(np.float64)


def _start(body: KeypointBody, case: BenchCase, *, use_estimates: bool, ik: IKConfig) -> tuple[BodyParams, object]:
    keypoints, pose, betas = _flat(case)
    triangulated = triangulate_bodies(keypoints.numpy(), case.rig)
    rotations = init_betas = None
    if use_estimates:
        rotations, init_betas = combine_view_estimates(pose, betas, view_weights(keypoints), case.rig.R_cam_world)
    solved = initial_bodies(body, triangulated=triangulated, rotations=rotations, betas=init_betas, config=ik)
    return BodyParams(rotations=solved.rotations, betas=solved.betas, transl_m=solved.transl_m), triangulated


def run_triangulation_ik(body: KeypointBody, case: BenchCase, *,
                         ik: IKConfig | None = None) -> tuple[np.ndarray, float]:
    """(a)."""
    start = time.perf_counter()
    params, _ = _start(body, case, use_estimates=False, ik=ik or IKConfig())
    return _joints(body, params, case), time.perf_counter() - start


def run_without_prior(body: KeypointBody, case: BenchCase, *, config: CalibratedFitConfig, iterations: int,
                      ik: IKConfig | None = None) -> tuple[np.ndarray, float]:
    """(b)."""
    start = time.perf_counter()
    init, _ = _start(body, case, use_estimates=True, ik=ik or IKConfig())
    observations = CalibratedObservations(keypoints_px=_flat(case)[0], rig=case.rig)
    params = fit_without_prior(body=body, observations=observations, init=init, config=config, iterations=iterations)
    return _joints(body, params, case), time.perf_counter() - start


def run_calibrated(diffusion: Diffusion, body: KeypointBody, case: BenchCase, *, config: CalibratedFitConfig,
                   ik: IKConfig | None = None) -> tuple[np.ndarray, float]:
    """(d)."""
    start = time.perf_counter()
    init, _ = _start(body, case, use_estimates=True, ik=ik or IKConfig())
    observations = CalibratedObservations(keypoints_px=_flat(case)[0], rig=case.rig)
    params = calibrated_guided_fit(diffusion=diffusion, body=body, observations=observations, init=init, config=config)
    return _joints(body, params, case), time.perf_counter() - start


def run_paper_multiview(diffusion: Diffusion, body_model: BodyModel, body: KeypointBody, case: BenchCase, *,
                        config: FitConfig | None = None) -> tuple[np.ndarray, float]:
    """(c): official multiview guided_fit per person-frame over its detected views; the keypoint-only prior sees
    the world-frame global orientation (the frame it was trained in)."""
    config = config or FitConfig.for_mode("multiview")
    start = time.perf_counter()
    keypoints, pose, betas = _flat(case)
    weights = view_weights(keypoints)
    world = pose.clone()
    world[:, :, 0] = case.rig.R_cam_world.transpose(-1, -2)[None] @ pose[:, :, 0]
    rotations = torch.empty(pose.shape[0], 24, 3, 3)
    mean_betas = torch.empty(pose.shape[0], 10)
    for row in range(pose.shape[0]):
        views = torch.nonzero(weights[row] > 0)[:, 0]
        views = views if views.numel() >= 2 else torch.arange(case.rig.num_views)
        inputs = FitInputs(pred_pose=world[row, views], pred_betas=betas[row, views]).with_mean_betas()
        result = guided_fit(diffusion=diffusion, body_model=body_model, inputs=inputs, config=config)
        fitted = torch.cat([result.global_orient, result.body_pose], dim=1)  # (V', 24, 3, 3)
        rotations[row] = chordal_mean(fitted.transpose(0, 1), torch.ones(24, views.numel()))
        mean_betas[row] = inputs.pred_betas[0]
    triangulated = triangulate_bodies(keypoints.numpy(), case.rig)
    with torch.no_grad():
        joints = body(rotations=rotations, betas=mean_betas).openpose_m
    transl = place_body(joints, torch.tensor(triangulated.points_m, dtype=torch.float32),
                        torch.tensor(triangulated.weights, dtype=torch.float32))
    params = BodyParams(rotations=rotations, betas=mean_betas, transl_m=transl)
    return _joints(body, params, case), time.perf_counter() - start


def run_streaming(diffusion: Diffusion, body: KeypointBody, case: BenchCase, *,
                  config: StreamingConfig) -> tuple[np.ndarray, float]:
    """(e): frames fed one set at a time, people's indices as track ids; per-view estimates start the tracks."""
    num_frames, num_people = case.keypoints_px.shape[:2]
    joints = np.full((num_people, num_frames, 24, 3), np.nan)
    start = time.perf_counter()
    fitter = StreamingFitter(diffusion=diffusion, body=body, rig=case.rig, config=config)
    outputs = []
    for t in range(num_frames):
        outputs += fitter.step(track_ids=list(range(num_people)), keypoints_px=case.keypoints_px[t],
                               init_pose=case.init_pose[t], init_betas=case.init_betas[t])
    outputs += fitter.flush()
    seconds = time.perf_counter() - start
    for out in outputs:
        joints[out.track_id, out.frame_index] = out.smpl_joints_m
    return joints, seconds
