"""Bone-direction check of the DeepMimic -> SMPL conversion on the stand-in body, every frame of every clip.

Thresholds (figures in docs/sim.md):
    limb bones and the hip / shoulder axes: at most 0.01 degrees from the source (measured ~1e-4, float32)
    pelvis -> neck: at most 7 degrees (measured max 6.0, mean 3.5: the chest rotation spread over spine1-3)
    rigid bones (rest-pose offsets between the skeletons): the angle varies by at most 0.01 degrees
"""

import numpy as np
import pytest

pytest.importorskip("pybullet_data")

from scorehmr_ros.sim import bone_check, deepmimic  # noqa: E402
from scorehmr_ros.sim.bone_check import BONES, angle_deg, bone_statistics, clip_bone_angles  # noqa: E402
from scorehmr_ros.sim.motion import mirror  # noqa: E402
from scorehmr_ros.sim.scene import rest_pose  # noqa: E402

LIMB_MAX_DEG = 0.01
TRUNK_MAX_DEG = 7.0
RIGID_SPREAD_DEG = 0.01


@pytest.fixture(scope="module")
def body_model(tmp_path_factory):
    from scorehmr_ros.assets.standin import write_standin_npz
    from scorehmr_ros.body.body_model import BodyModel

    return BodyModel.from_file(write_standin_npz(tmp_path_factory.mktemp("standin") / "standin.npz"))


@pytest.fixture(scope="module")
def rest_joints(body_model):
    return rest_pose(body_model, np.zeros(10))[2]


def test_angle_is_accurate_for_tiny_and_straight_angles():
    a = np.array([1.0, 0.0, 0.0])
    assert angle_deg(a, np.array([1.0, 1e-7, 0.0])) == pytest.approx(np.degrees(1e-7), rel=1e-6)
    assert angle_deg(a, -a) == pytest.approx(180.0)
    assert angle_deg(a, np.array([0.0, 2.0, 0.0])) == pytest.approx(90.0)


def test_every_frame_of_every_clip_passes_the_bone_direction_check(body_model, rest_joints):
    skeleton = deepmimic.load_skeleton()
    angles = [clip_bone_angles(name, body_model=body_model, skeleton=skeleton, rest_joints_m=rest_joints)
              for name in deepmimic.CLIP_NAMES]
    assert sum(a["pelvis->neck"].size for a in angles) == 1620  # every source frame
    stats = bone_statistics(angles)
    assert set(stats) == set(BONES)
    for bone, s in stats.items():
        if s.kind == "limb":
            assert s.max_deg < LIMB_MAX_DEG, (bone, s)
        elif s.kind == "trunk":
            assert s.max_deg < TRUNK_MAX_DEG, (bone, s)
        else:
            assert s.spread_deg < RIGID_SPREAD_DEG, (bone, s)


def test_a_mirrored_conversion_fails_the_check(body_model, rest_joints, monkeypatch):
    """The check can fail: a conversion that mirrors the body (left and right swapped) is caught."""
    original = bone_check.retarget

    def mirrored(*args, **kwargs):
        return mirror(original(*args, **kwargs), pelvis_rest_m=rest_joints[0])

    monkeypatch.setattr(bone_check, "retarget", mirrored)
    angles = clip_bone_angles("walk", body_model=body_model, skeleton=deepmimic.load_skeleton(),
                              rest_joints_m=rest_joints)
    assert angles["left_hip->right_hip"].min() > 90.0
    assert angles["left_shoulder->left_elbow"].max() > 5.0
