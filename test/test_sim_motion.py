"""Motion clips: DeepMimic parsing and retargeting to SMPL, resampling, mirroring, AMASS loading."""

import numpy as np
import pytest

pytest.importorskip("pybullet_data")

from scorehmr_ros.geometry.rotations_np import axis_angle_to_matrix, is_rotation  # noqa: E402
from scorehmr_ros.sim import deepmimic  # noqa: E402
from scorehmr_ros.sim.kinematics import SMPL_FOOT_JOINTS, SMPL_MIRROR, smpl_forward_kinematics  # noqa: E402
from scorehmr_ros.sim.motion import MotionClip, MotionError, load_amass_npz, mirror, resample_clip  # noqa: E402
from scorehmr_ros.sim.retarget import (  # noqa: E402
    M_WORLD_DM,
    RetargetConfig,
    deepmimic_rest_joints,
    load_deepmimic_clip,
    retarget,
)

#: DeepMimic joint -> SMPL joint for the joints both skeletons have.
SHARED = {"root": 0, "chest": 9, "neck": 12, "right_hip": 2, "right_knee": 5, "right_ankle": 8,
          "right_shoulder": 17, "right_elbow": 19, "right_wrist": 21, "left_hip": 1, "left_knee": 4,
          "left_ankle": 7, "left_shoulder": 16, "left_elbow": 18, "left_wrist": 20}


@pytest.fixture(scope="module")
def skeleton():
    return deepmimic.load_skeleton()


def _joints(clip, rest):
    return smpl_forward_kinematics(global_orient=clip.global_orient, body_pose=clip.body_pose,
                                   transl_m=clip.transl_m, rest_joints_m=rest)


def test_urdf_offsets_are_scaled_and_symmetric(skeleton):
    # Thigh 1.686184 and shin 1.63948 URDF units at scale 0.25.
    assert skeleton.offsets_m["right_knee"][1] == pytest.approx(-1.686184 * 0.25)
    assert skeleton.offsets_m["left_ankle"][1] == pytest.approx(-1.63948 * 0.25)
    np.testing.assert_allclose(skeleton.offsets_m["left_hip"], skeleton.offsets_m["right_hip"] * [1, 1, -1])
    np.testing.assert_allclose(skeleton.revolute_axes["right_knee"], [0, 0, 1])


def test_all_clips_parse_with_unit_quaternions_and_give_rotations(skeleton):
    total_frames = 0
    for name in deepmimic.CLIP_NAMES:
        motion = deepmimic.load_motion(name, skeleton=skeleton)
        total_frames += motion.times_s.size
        np.testing.assert_allclose(np.linalg.norm(motion.joint_quaternions_xyzw, axis=-1), 1.0, atol=1e-12)
        clip = retarget(motion, skeleton=skeleton, rest_joints_m=deepmimic_rest_joints(skeleton))
        assert clip.fps == 30.0
        assert clip.num_frames == int(np.floor(motion.duration_s * 30 + 1e-9)) + 1
        assert is_rotation(clip.global_orient, atol=1e-9) and is_rotation(clip.body_pose, atol=1e-9)
    assert total_frames == 1620


def test_retargeted_smpl_kinematics_reproduce_deepmimic_kinematics(skeleton):
    """With DeepMimic's own bone lengths and the whole chest rotation at spine3, SMPL forward kinematics
    of the converted pose must put every shared joint where DeepMimic's kinematics put it (plus one
    constant floor shift): this checks frames, rest-pose alignment, knees, elbows and the root."""
    rest = deepmimic_rest_joints(skeleton)
    motion = deepmimic.load_motion("cartwheel", skeleton=skeleton)  # large rotations of every joint
    clip = retarget(motion, skeleton=skeleton, rest_joints_m=rest, config=RetargetConfig(spine_split=(0, 0, 1)))
    smpl = _joints(clip, rest)[:, list(SHARED.values())]
    sampled = deepmimic.resample(motion, np.arange(clip.num_frames) / 30.0)
    dm = deepmimic.forward_kinematics(sampled, skeleton)[:, [deepmimic.FK_JOINTS.index(n) for n in SHARED]]
    offset = smpl - dm @ M_WORLD_DM.T
    np.testing.assert_allclose(offset[..., :2], 0.0, atol=1e-9)
    np.testing.assert_allclose(offset[..., 2], offset[0, 0, 2], atol=1e-9)


def test_walk_keeps_feet_on_floor_and_moves_forward():
    clip = load_deepmimic_clip("walk", num_frames=90)  # 3 s: cycles the 1.27 s clip
    rest = deepmimic_rest_joints(deepmimic.load_skeleton())
    joints = _joints(clip, rest)
    lowest_foot = joints[:, SMPL_FOOT_JOINTS, 2].min(axis=1)
    assert lowest_foot.min() == pytest.approx(0.03, abs=1e-9)  # foot_clearance_m
    assert lowest_foot.max() < 0.10  # a foot is always on the floor while walking
    assert np.all(joints[:, 15, 2] > 1.3)  # head up
    velocity = np.diff(joints[:, 0, :2], axis=0) * clip.fps
    speed = np.linalg.norm(velocity, axis=1)
    assert 0.7 < speed.mean() < 1.5  # m/s, a walk
    facing = (clip.global_orient @ np.array([0.0, 0.0, 1.0]))[:-1, :2]  # SMPL forward is canonical +z
    cosine = np.sum(facing * velocity, axis=1) / (np.linalg.norm(facing, axis=1) * speed)
    assert np.mean(cosine) > 0.95
    up = clip.global_orient @ np.array([0.0, 1.0, 0.0])
    assert np.all(up[:, 2] > 0.9)


def test_deepmimic_resampling_is_exact_at_knots(skeleton):
    motion = deepmimic.load_motion("roll", skeleton=skeleton)  # irregular knot spacing
    again = deepmimic.resample(motion, motion.times_s)
    np.testing.assert_allclose(again.root_position_m, motion.root_position_m, atol=1e-12)
    np.testing.assert_allclose(again.joint_quaternions_xyzw, motion.joint_quaternions_xyzw, atol=1e-9)
    halfway = deepmimic.resample(motion, 0.5 * (motion.times_s[:-1] + motion.times_s[1:]))
    np.testing.assert_allclose(halfway.root_position_m,
                               0.5 * (motion.root_position_m[:-1] + motion.root_position_m[1:]), atol=1e-12)


def test_clip_resampling_exact_at_knots():
    clip60 = load_deepmimic_clip("jump", config=RetargetConfig(fps=60.0))
    clip30 = resample_clip(clip60, fps=30.0)
    assert clip30.num_frames == (clip60.num_frames - 1) // 2 + 1
    np.testing.assert_array_equal(clip30.body_pose, clip60.body_pose[::2])
    np.testing.assert_array_equal(clip30.transl_m, clip60.transl_m[::2])
    same = resample_clip(clip60, fps=60.0)
    np.testing.assert_array_equal(same.global_orient, clip60.global_orient)
    up = resample_clip(clip30, fps=60.0)
    np.testing.assert_array_equal(up.transl_m[::2], clip30.transl_m)
    assert is_rotation(up.body_pose)


def test_mirror_twice_is_identity_and_mirrors_the_joints():
    rest = deepmimic_rest_joints(deepmimic.load_skeleton())
    rest = rest + np.array([0.01, -0.2, 0.03])  # J_0 off the symmetry plane, as a real body's may be
    clip = load_deepmimic_clip("kick", rest_joints_m=rest)
    twice = mirror(mirror(clip, pelvis_rest_m=rest[0]), pelvis_rest_m=rest[0])
    assert twice.name == clip.name
    np.testing.assert_allclose(twice.global_orient, clip.global_orient, atol=1e-12)
    np.testing.assert_allclose(twice.body_pose, clip.body_pose, atol=1e-12)
    np.testing.assert_allclose(twice.transl_m, clip.transl_m, atol=1e-12)
    once = mirror(clip, pelvis_rest_m=rest[0])
    assert once.name == "kick_mirrored"
    # The symmetric rest skeleton about its own x = rest[0][0] plane: mirrored joints = reflected joints.
    symmetric_rest = rest.copy()
    symmetric_rest[:, 0] -= rest[0, 0]
    mirrored = _joints(mirror(clip, pelvis_rest_m=symmetric_rest[0]), symmetric_rest)
    original = _joints(clip, symmetric_rest)
    np.testing.assert_allclose(mirrored, original[:, list(SMPL_MIRROR)] * [-1, 1, 1], atol=1e-9)


def test_ping_pong_for_clips_that_do_not_loop():
    clip = load_deepmimic_clip("punch", num_frames=200)  # 2.13 s clip, 6.6 s requested
    assert clip.num_frames == 200
    step = np.linalg.norm(np.diff(clip.transl_m, axis=0), axis=1)
    assert step.max() < 0.1  # continuous: no jump back to the start


def test_amass_loader(tmp_path):
    rng = np.random.default_rng(0)
    num_frames = 121
    poses = rng.normal(scale=0.3, size=(num_frames, 156))
    trans = rng.normal(size=(num_frames, 3))
    path = tmp_path / "subject_clip_poses.npz"
    np.savez(path, poses=poses, trans=trans, betas=rng.normal(size=16), mocap_framerate=np.array(120.0),
             gender="neutral")
    clip = load_amass_npz(path, fps=30.0)
    assert clip.name == "subject_clip_poses" and clip.fps == 30.0 and clip.num_frames == 31
    np.testing.assert_allclose(clip.global_orient, axis_angle_to_matrix(poses[::4, :3]), atol=1e-12)
    np.testing.assert_allclose(clip.body_pose[:, :21], axis_angle_to_matrix(poses[::4, 3:66].reshape(-1, 21, 3)),
                               atol=1e-12)
    np.testing.assert_array_equal(clip.body_pose[:, 21:], np.broadcast_to(np.eye(3), (31, 2, 3, 3)))
    np.testing.assert_allclose(clip.transl_m, trans[::4])
    assert clip.betas.shape == (10,)
    smpl = tmp_path / "smpl.npz"
    np.savez(smpl, poses=poses[:, :72], trans=trans, mocap_framerate=30.0)
    native = load_amass_npz(smpl, fps=None)
    assert native.num_frames == num_frames
    np.testing.assert_allclose(native.body_pose[:, 22], axis_angle_to_matrix(poses[:, 69:72]), atol=1e-12)
    broken = tmp_path / "broken.npz"
    np.savez(broken, poses=poses)
    with pytest.raises(MotionError, match="trans"):
        load_amass_npz(broken)


def test_motion_clip_rejects_bad_arrays():
    eye = np.broadcast_to(np.eye(3), (4, 23, 3, 3))
    with pytest.raises(MotionError, match="body_pose"):
        MotionClip(name="x", fps=30, global_orient=np.tile(np.eye(3), (4, 1, 1)), body_pose=eye[:, :22],
                   transl_m=np.zeros((4, 3)), betas=np.zeros(10))
    with pytest.raises(MotionError, match="non-rotation"):
        MotionClip(name="x", fps=30, global_orient=np.tile(2 * np.eye(3), (4, 1, 1)), body_pose=eye,
                   transl_m=np.zeros((4, 3)), betas=np.zeros(10))
    with pytest.raises(ValueError, match="spine_split"):
        RetargetConfig(spine_split=(0.5, 0.5, 0.5)).validate()
