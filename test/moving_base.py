"""Test helper: a camera rig mounted on a moving base (map -> base_link on /tf, base_link -> <cam>_optical_frame on
/tf_static) watching people who stand still and walk in ``map``; the same scene seen by the same rig held fixed.

The base drives 2 m along x with a 0.5 m sideways sweep and turns 50 degrees (-25 -> +25) in 4.8 s. The cameras
(a ring of 4 around the base, looking at a point above it) carry their poses relative to ``base_link``; at each
frame the keypoints are simulated with the cameras where the base put them, and with the same random draws for
the fixed rig (the base at the map origin), so the two runs differ only by the motion.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from scorehmr_ros.base.units import NS_PER_S
from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.geometry.rigs import ring_rig
from scorehmr_ros.geometry.transforms import invert_transform, make_transform
from scorehmr_ros.sim.layouts import get_layout
from scorehmr_ros.sim.observation import Observations, keypoint_radii_m, observe
from scorehmr_ros.sim.scene import SceneConfig, generate_scene, pose_bodies, rest_pose

from scene_observations import scene_sets

BASE_FRAME = "base_link"
FPS = 5.0
FRAMES = 24
START_NS = 1_000 * NS_PER_S


def yaw_matrix(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def base_pose(t_s: float) -> np.ndarray:
    """(4, 4) T_map_base at ``t_s`` seconds after the first frame: x -1 -> +1 m, y a 0.5 m sweep, yaw -25 -> +25
    degrees over the scene's 4.8 s (smooth, so tf samples at 30 Hz interpolate it closely)."""
    u = np.clip(t_s / ((FRAMES - 1) / FPS), 0.0, 1.0)
    return make_transform(yaw_matrix(np.radians(-25.0 + 50.0 * u)),
                          np.array([-1.0 + 2.0 * u, 0.5 * np.sin(np.pi * u), 0.0]))


def base_rig() -> tuple[Camera, ...]:
    """The cameras' poses relative to ``base_link`` (their R_cam_world / t_cam_world_m are T_cam_base)."""
    return ring_rig(num_cameras=4, radius_m=4.5, height_m=2.2, width_px=640, height_px=480,
                    horizontal_fov_deg=80).cameras


def posed_cameras(cameras_base: tuple[Camera, ...], T_map_base: np.ndarray) -> tuple[Camera, ...]:
    """The cameras with world (map) poses T_cam_map = T_cam_base T_base_map."""
    T_base_map = invert_transform(T_map_base)
    out = []
    for camera in cameras_base:
        T_cam_map = make_transform(camera.R_cam_world, camera.t_cam_world_m) @ T_base_map
        out.append(replace(camera, R_cam_world=T_cam_map[:3, :3], t_cam_world_m=T_cam_map[:3, 3]))
    return tuple(out)


@dataclass(frozen=True)
class MovingBaseScene:
    """What the tests need of one scene seen from the moving and from the fixed base.

    smpl_joints_world_m: (P, T, 24, 3) ground truth in map. standing: (P,) True for people who stand still.
    base_poses: (T, 4, 4) T_map_base at each frame. cameras_base: the rig relative to base_link.
    moving_sets / fixed_sets: the keypoint sets (same stamps). camera_poses: per set, camera -> (4, 4) T_cam_map.
    """

    smpl_joints_world_m: np.ndarray
    standing: np.ndarray
    base_poses: np.ndarray
    cameras_base: tuple[Camera, ...]
    moving_sets: list
    fixed_sets: list
    camera_poses: list[dict[str, np.ndarray]]


def _observations(keypoints_world_m, vertices_world_m, cameras_per_frame, layout, config, radii, faces, seed):
    """Observations over T frames, frame t simulated with cameras_per_frame[t] and its own seeded generator."""
    per_frame = [observe(keypoints_world_m=keypoints_world_m[t:t + 1], layout=layout, cameras=cameras,
                         config=config, rng=np.random.default_rng(seed + t), vertices_world_m=vertices_world_m[t:t + 1],
                         faces=faces, keypoint_radii_m=radii) for t, cameras in enumerate(cameras_per_frame)]
    arrays = {f.name: np.concatenate([getattr(o, f.name) for o in per_frame])
              for f in fields(Observations) if f.name not in ("layout", "camera_names")}
    return Observations(layout=per_frame[0].layout, camera_names=per_frame[0].camera_names, **arrays)


class _SceneView:
    """The fields ``scene_sets`` reads."""

    def __init__(self, cameras, observations) -> None:
        self.cameras, self.observations, self.fps, self.world_frame = cameras, observations, FPS, "map"


def moving_base_scene(body_model, *, seed: int = 5) -> MovingBaseScene:
    """Two people (one walking, one standing still) seen by the base rig, moving and fixed (module docstring)."""
    cameras_base = base_rig()
    scene = generate_scene(config=SceneConfig(num_people=2, num_frames=FRAMES, fps=FPS, clips=("walk",),
                                              room_radius_m=1.0, min_separation_m=0.8, seed=seed),
                           cameras=cameras_base, body_model=body_model)
    truth = scene.ground_truth
    standing = np.array([False, True])
    orient, pose, transl = truth.global_orient.copy(), truth.body_pose.copy(), truth.transl_m.copy()
    for person in np.flatnonzero(standing):  # hold the first frame: a person standing still
        orient[person], pose[person], transl[person] = orient[person, :1], pose[person, :1], transl[person, :1]
    vertices, joints, smpl_joints = pose_bodies(body_model, global_orient=orient, body_pose=pose, betas=truth.betas,
                                                transl_m=transl)
    layout = get_layout("openpose25")
    radii = np.stack([keypoint_radii_m(rest_vertices_m=v, rest_keypoints_m=layout.from_official(j))
                      for v, j, _ in (rest_pose(body_model, b) for b in truth.betas)])
    keypoints = layout.from_official(joints).transpose(1, 0, 2, 3)  # (T, P, 25, 3)
    faces = body_model.faces.cpu().numpy()
    base_poses = np.stack([base_pose(t / FPS) for t in range(FRAMES)])
    moving_cameras = [posed_cameras(cameras_base, T) for T in base_poses]
    fixed_cameras = [cameras_base] * FRAMES
    config = SceneConfig().observation
    sets = []
    for cameras_per_frame in (moving_cameras, fixed_cameras):
        observations = _observations(keypoints, vertices.transpose(1, 0, 2, 3), cameras_per_frame, layout, config,
                                     radii, faces, seed)
        sets.append(scene_sets(_SceneView(cameras_base, observations), seed=1, start_ns=START_NS))
    poses = [{c.name: make_transform(c.R_cam_world, c.t_cam_world_m) for c in cameras} for cameras in moving_cameras]
    return MovingBaseScene(smpl_joints_world_m=smpl_joints, standing=standing, base_poses=base_poses,
                           cameras_base=cameras_base, moving_sets=sets[0], fixed_sets=sets[1], camera_poses=poses)


def body_errors_m(bodies, sets, smpl_joints_world_m: np.ndarray) -> np.ndarray:
    """(N,) per body, mean per-joint distance to the nearest ground-truth person at its set's frame, metres."""
    frame_of_stamp = {s.stamp_ns: t for t, s in enumerate(sets)}
    errors = []
    for body in bodies:
        t = frame_of_stamp[body.stamp_ns]
        errors.append(np.linalg.norm(smpl_joints_world_m[:, t] - body.joints_world_m[None], axis=-1).mean(1).min())
    return np.array(errors)
