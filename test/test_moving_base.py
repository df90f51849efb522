"""Cameras on a moving base (ROS-free): per-row camera poses in the fitting core agree with one rig per row, and the
body pipeline given each set's camera poses keeps bodies in ``map`` as accurate as with the rig held fixed, with
stable ids and no ghost from the ego-motion."""

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from scorehmr_ros.assets.paths import ensure_standin_body_model
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.diffusion.checkpoint import load_diffusion_checkpoint
from scorehmr_ros.fitting.fit_init import combine_view_estimates, triangulate_bodies
from scorehmr_ros.fitting.fit_polish import rigid_gauss_newton_step
from scorehmr_ros.fitting.multiview_guidance import (
    RigInputError,
    RigTensors,
    project_to_views,
    reprojection_loss,
    translation_hessian,
    view_combined_noise,
)
from scorehmr_ros.geometry.rigs import ring_rig
from scorehmr_ros.geometry.rotations import axis_angle_to_matrix
from scorehmr_ros.pipeline.body_pipeline import BodyPipeline, PipelineInputError
from scorehmr_ros.pipeline.streaming import StreamingError

from moving_base import body_errors_m, moving_base_scene

PRIOR = Path(__file__).resolve().parents[1] / "scorehmr_ros" / "data" / "priors" / "deepmimic_prior.pt"
#: The accuracy bound: MPJPE with the moving base at most this much above the same scene's fixed-rig MPJPE, metres.
MOVING_MPJPE_MARGIN_M = 0.010


def per_row_rig(batch: int, seed: int = 0) -> tuple[RigTensors, list[RigTensors]]:
    """A 3-camera rig with different extrinsics for each of ``batch`` rows, and the same as one rig per row."""
    generator = torch.Generator().manual_seed(seed)
    rig = RigTensors.from_cameras(ring_rig(num_cameras=3, radius_m=4.0, width_px=640, height_px=480).cameras)
    turn = axis_angle_to_matrix(0.3 * torch.randn(batch, 3, generator=generator))  # (B, 3, 3) base motions
    shift = 0.5 * torch.randn(batch, 3, generator=generator)
    # T_cam_world' = T_cam_world T_world_base⁻¹: R' = R turnᵀ, t' = t - R turnᵀ shift
    R = rig.R_cam_world[None] @ turn.transpose(-1, -2)[:, None]
    t = rig.t_cam_world_m[None] - torch.einsum("bvxy,by->bvx", R, shift)
    moved = rig.with_extrinsics(R_cam_world=R, t_cam_world_m=t)
    return moved, [rig.with_extrinsics(R_cam_world=R[b], t_cam_world_m=t[b]) for b in range(batch)]


def test_per_row_extrinsics_agree_with_one_rig_per_row():
    moved, rows = per_row_rig(4)
    generator = torch.Generator().manual_seed(1)
    points = torch.randn(4, 25, 3, generator=generator) * 0.4 + torch.tensor([0.0, 0.0, 1.0])
    pixels, depth = project_to_views(points, moved)
    keypoints = torch.cat([pixels + 3.0 * torch.randn(pixels.shape, generator=generator),
                           torch.full(depth.shape + (1,), 0.9)], dim=-1)
    for b, rig in enumerate(rows):
        row_pixels, row_depth = project_to_views(points[b:b + 1], rig)
        torch.testing.assert_close(pixels[b:b + 1], row_pixels)
        torch.testing.assert_close(depth[b:b + 1], row_depth)
        kwargs = {"sigma_px": 50.0, "data_weight_px": 1000.0}
        torch.testing.assert_close(reprojection_loss(points, keypoints, moved, **kwargs)[b:b + 1],
                                   reprojection_loss(points[b:b + 1], keypoints[b:b + 1], rig, **kwargs))
        torch.testing.assert_close(translation_hessian(points, keypoints, moved, **kwargs)[b:b + 1],
                                   translation_hessian(points[b:b + 1], keypoints[b:b + 1], rig, **kwargs))
        root = points[:, 8]
        torch.testing.assert_close(
            rigid_gauss_newton_step(points, root, keypoints, moved, damping=1e-3, **kwargs)[b:b + 1],
            rigid_gauss_newton_step(points[b:b + 1], root[b:b + 1], keypoints[b:b + 1], rig, damping=1e-3, **kwargs),
            rtol=1e-4, atol=1e-6)
    # the rows really differ: one row's keypoints against another row's cameras are far off
    assert (project_to_views(points[:1], rows[1])[0] - pixels[:1]).abs().max() > 20.0


def test_triangulation_and_view_estimates_use_each_rows_cameras():
    moved, rows = per_row_rig(3, seed=2)
    generator = torch.Generator().manual_seed(3)
    points = torch.randn(3, 25, 3, generator=generator) * 0.3 + torch.tensor([0.0, 0.0, 1.0])
    pixels, _ = project_to_views(points, moved)
    keypoints = torch.cat([pixels, torch.ones(pixels.shape[:-1] + (1,))], dim=-1).numpy()
    triangulated = triangulate_bodies(keypoints, moved)
    np.testing.assert_allclose(triangulated.points_m, points.numpy(), atol=1e-3)
    for b, rig in enumerate(rows):
        np.testing.assert_allclose(triangulated.points_m[b], triangulate_bodies(keypoints[b:b + 1], rig).points_m[0])
    # per-view estimates: a body's global orientation seen from its own cameras maps back to one world orientation
    world = axis_angle_to_matrix(torch.randn(3, 3, generator=generator))  # (B, 3, 3)
    pose = torch.eye(3).repeat(3, 3, 24, 1, 1)  # (B, V, 24, 3, 3)
    pose[:, :, 0] = moved.R_cam_world @ world[:, None]
    rotations, _ = combine_view_estimates(pose, torch.zeros(3, 3, 10), torch.ones(3, 3), moved.R_cam_world)
    torch.testing.assert_close(rotations[:, 0], world, atol=1e-5, rtol=0)
    # the image-conditioned score rotates each row's views by that row's cameras
    denoiser = lambda x, t, c: x * (1.0 + c[:, :1])  # noqa: E731 - a view-dependent stand-in network
    x = torch.randn(3, 144, generator=generator)
    cond = torch.rand(3, 3, 4, generator=generator)
    noise = view_combined_noise(denoiser, x, torch.zeros(3, dtype=torch.long), cond=cond,
                                view_weight=torch.ones(3, 3), R_cam_world=moved.R_cam_world)
    for b, rig in enumerate(rows):
        torch.testing.assert_close(noise[b:b + 1], view_combined_noise(
            denoiser, x[b:b + 1], torch.zeros(1, dtype=torch.long), cond=cond[b:b + 1],
            view_weight=torch.ones(1, 3), R_cam_world=rig.R_cam_world))


def test_bad_extrinsics_are_named():
    rig = RigTensors.from_cameras(ring_rig(num_cameras=3).cameras)
    with pytest.raises(RigInputError, match=r"expected \(\[B,\] 3, 3, 3\)"):
        rig.with_extrinsics(R_cam_world=torch.eye(3).repeat(2, 1, 1), t_cam_world_m=torch.zeros(2, 3))
    with pytest.raises(RigInputError, match="NaN"):
        rig.with_extrinsics(R_cam_world=torch.full((3, 3, 3), float("nan")), t_cam_world_m=torch.zeros(3, 3))
    moved, _ = per_row_rig(2)
    with pytest.raises(RigInputError, match="body row"):
        moved.cameras()


@pytest.fixture(scope="module")
def runs():
    """The same scene seen from the moving base (with each set's camera poses) and from the base held fixed."""
    body_model = BodyModel.from_file(ensure_standin_body_model())
    scene = moving_base_scene(body_model)
    diffusion = load_diffusion_checkpoint(PRIOR)
    out = {}
    for name, sets, poses in (("fixed", scene.fixed_sets, [None] * len(scene.fixed_sets)),
                              ("moving", scene.moving_sets, scene.camera_poses)):
        pipeline = BodyPipeline(cameras=scene.cameras_base, diffusion=diffusion, body_model=body_model)
        bodies = [b for observation, T in zip(sets, poses, strict=True)
                  for b in pipeline.process(observation, camera_poses=T).bodies]
        bodies += [b for fitted in pipeline.flush() for b in fitted.bodies]
        out[name] = (bodies, sets, pipeline)
    return scene, out


def test_bodies_in_map_are_as_accurate_as_with_the_rig_fixed(runs):
    scene, out = runs
    errors = {name: body_errors_m(bodies, sets, scene.smpl_joints_world_m) for name, (bodies, sets, _) in out.items()}
    fixed, moving = errors["fixed"].mean(), errors["moving"].mean()
    logging.getLogger(__name__).info("same scene, MPJPE in map: fixed rig %.1f mm, moving base %.1f mm",
                                     fixed * 1e3, moving * 1e3)  # pytest --log-cli-level=INFO shows it
    assert fixed < 0.05, f"fixed rig MPJPE {fixed * 1e3:.1f} mm"
    assert moving <= fixed + MOVING_MPJPE_MARGIN_M, f"MPJPE moving {moving * 1e3:.1f} mm, fixed {fixed * 1e3:.1f} mm"
    assert len(errors["moving"]) >= 2 * 20  # both people, (nearly) every set
    residuals = [b.fit_residual_px for b in out["moving"][0] if b.num_views >= 2]
    assert residuals and np.median(residuals) < 10.0  # each frame measured against its own set's cameras


def test_ids_stay_with_their_person_and_ego_motion_makes_no_ghost(runs):
    scene, out = runs
    bodies, sets, _ = out["moving"]
    frame_of_stamp = {s.stamp_ns: t for t, s in enumerate(sets)}
    person_of_track: dict[int, set[int]] = {}
    for body in bodies:
        t = frame_of_stamp[body.stamp_ns]
        nearest = int(np.argmin(np.linalg.norm(scene.smpl_joints_world_m[:, t] - body.joints_world_m[None],
                                               axis=-1).mean(axis=1)))
        person_of_track.setdefault(body.track_id, set()).add(nearest)
    assert len(person_of_track) == 2, f"tracks {sorted(person_of_track)}: a ghost or a lost id"
    assert sorted(p for persons in person_of_track.values() for p in persons) == [0, 1]
    # the person standing still stands still in map while the cameras drive 2 m and turn 50 degrees
    standing = int(np.flatnonzero(scene.standing)[0])
    track = next(t for t, persons in person_of_track.items() if persons == {standing})
    pelvis = np.array([b.joints_world_m[0] for b in bodies if b.track_id == track])
    assert np.linalg.norm(pelvis - pelvis.mean(axis=0), axis=1).max() < 0.05


def test_camera_poses_must_cover_the_rig(runs):
    scene, out = runs
    _, sets, pipeline = out["moving"]
    poses = dict(scene.camera_poses[0])
    poses.pop("cam2")
    with pytest.raises(PipelineInputError, match=r"missing \['cam2'\]"):
        pipeline.set_cameras(poses)
    with pytest.raises(PipelineInputError, match="camera_poses: .*not a rotation matrix"):
        pipeline.set_cameras({**scene.camera_poses[0], "cam2": np.diag([2.0, 1.0, 1.0, 1.0])})
    with pytest.raises(StreamingError, match="one pose per camera"):
        pipeline.fitter.step(track_ids=[], keypoints_px=np.zeros((0, 4, 25, 3)), rig=per_row_rig(2)[0])
