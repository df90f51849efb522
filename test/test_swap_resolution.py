"""Left/right swap resolution: mirrored views and parts are corrected, clean ones left alone, few views sane."""

import numpy as np
import pytest

from scorehmr_ros.body.layouts import OPENPOSE25_NAMES
from scorehmr_ros.geometry.rigs import ring_rig
from scorehmr_ros.geometry.triangulation import TriangulationConfig
from scorehmr_ros.pipeline.association import AssociationConfig, TrackPredictions, associate
from scorehmr_ros.pipeline.swap_resolution import SwapParts, SwapResolutionError, resolve_group_swaps

from multiview_synth import observe, random_people, stick_figure

RING4 = ring_rig(num_cameras=4).cameras
PARTS = SwapParts.from_joint_names(OPENPOSE25_NAMES)
TRI = TriangulationConfig()
ALL_PARTS = np.ones(PARTS.num_parts, dtype=bool)


def _part(name):
    flips = np.zeros(PARTS.num_parts, dtype=bool)
    flips[PARTS.names.index(name)] = True
    return flips


def _person(seed=0):
    # mid-stride, arms swinging: the left and right sides project apart in every view
    return stick_figure(position_m=np.array([0.3, -0.2]), heading_rad=0.7 + seed, scale=1.0, phase_rad=1.2)


def _views(joints, cameras, seed=0):
    """(V, 25, 3) detections of one person, 1 px noise, confidence 0.9."""
    rng = np.random.default_rng(seed)
    return np.stack([np.concatenate([cam.project(joints) + rng.normal(0, 1.0, (25, 2)), np.full((25, 1), 0.9)], 1)
                     for cam in cameras])


def test_parts_of_openpose25():
    assert PARTS.names == ("head", "arms", "legs")
    assert np.array_equal(PARTS.mirror_index[PARTS.mirror_index], np.arange(25))
    centre = [OPENPOSE25_NAMES.index(n) for n in ("nose", "neck", "mid_hip")]
    assert not PARTS.members[:, centre].any()
    # every side joint is in exactly one part
    side = PARTS.mirror_index != np.arange(25)
    assert np.array_equal(PARTS.members.sum(axis=0), side.astype(int))
    keypoints = np.random.default_rng(0).normal(size=(25, 3))
    legs = PARTS.apply(keypoints, _part("legs"))
    knee_l, knee_r = OPENPOSE25_NAMES.index("left_knee"), OPENPOSE25_NAMES.index("right_knee")
    assert np.array_equal(legs[knee_l], keypoints[knee_r])
    assert np.array_equal(legs[OPENPOSE25_NAMES.index("left_wrist")], keypoints[OPENPOSE25_NAMES.index("left_wrist")])
    assert np.array_equal(PARTS.apply(legs, _part("legs")), keypoints)


@pytest.mark.parametrize(("view", "part"), [(2, None), (0, "legs"), (3, "arms")])
def test_four_views_one_mirrored_view_or_part_is_corrected(view, part):
    truth = _person()
    clean = _views(truth, RING4)
    flips = ALL_PARTS if part is None else _part(part)
    detected = clean.copy()
    detected[view] = PARTS.apply(clean[view], flips)
    found = resolve_group_swaps(keypoints_px=detected, cameras=RING4, parts=PARTS, margin=0.6, triangulation=TRI)
    expected = np.zeros_like(found)
    expected[view] = flips
    assert np.array_equal(found, expected)

    association = associate(keypoints_px=[d[None] for d in detected], cameras=RING4, joint_names=OPENPOSE25_NAMES)
    assert len(association.groups) == 1
    group = association.groups[0]
    assert set(group.detections) == {0, 1, 2, 3}
    assert set(group.swapped_parts) == {view}
    assert set(group.swapped_parts[view]) == ({"head", "arms", "legs"} if part is None else {part})
    assert np.allclose(group.keypoints_of(view, detected[view][None]), clean[view])
    assert np.allclose(group.keypoints_of((view + 1) % 4, detected[(view + 1) % 4][None]), detected[(view + 1) % 4])
    assert np.nanmax(np.linalg.norm(group.joints_world_m - truth, axis=-1)) < 0.05


def test_without_resolution_a_mirrored_view_is_not_fused_as_detected():
    truth = _person()
    detected = _views(truth, RING4)
    detected[2] = PARTS.apply(detected[2], ALL_PARTS)
    config = AssociationConfig(resolve_swaps=False)
    association = associate(keypoints_px=[d[None] for d in detected], cameras=RING4, config=config,
                            joint_names=OPENPOSE25_NAMES)
    group = association.groups[0]
    assert not group.swapped_parts and not group.corrected_keypoints_px
    assert 2 not in group.detections  # the mirrored view disagrees with the others and is left out


def test_three_views_one_mirrored_part():
    truth = _person(1)
    cameras = RING4[:3]
    detected = _views(truth, cameras, seed=1)
    detected[1] = PARTS.apply(detected[1], _part("arms"))
    found = resolve_group_swaps(keypoints_px=detected, cameras=cameras, parts=PARTS, margin=0.6, triangulation=TRI)
    expected = np.zeros_like(found)
    expected[1] = _part("arms")
    assert np.array_equal(found, expected)


def test_clean_views_are_never_mirrored():
    rng = np.random.default_rng(5)
    for _ in range(6):
        people = random_people(num_people=int(rng.integers(1, 5)), rng=rng)
        observed = observe(joints_world_m=people, cameras=RING4, rng=rng, noise_px=3.0, joint_drop_probability=0.1)
        association = associate(keypoints_px=observed.keypoints_px, cameras=RING4, joint_names=OPENPOSE25_NAMES)
        assert association.groups
        for group in association.groups:
            assert group.swapped_parts == {} and group.corrected_keypoints_px == {}
    clean = _views(_person(2), RING4, seed=2)
    assert not resolve_group_swaps(keypoints_px=clean, cameras=RING4, parts=PARTS, margin=0.6,
                                   triangulation=TRI).any()


def test_two_views_need_a_reference():
    truth = _person(3)
    cameras = RING4[:2]
    detected = _views(truth, cameras, seed=3)
    detected[1] = PARTS.apply(detected[1], ALL_PARTS)
    alone = resolve_group_swaps(keypoints_px=detected, cameras=cameras, parts=PARTS, margin=0.6, triangulation=TRI)
    assert not alone.any()  # which of the two is mirrored cannot be told
    guided = resolve_group_swaps(keypoints_px=detected, cameras=cameras, parts=PARTS, margin=0.6, triangulation=TRI,
                                 reference_world_m=truth + 0.01)
    assert np.array_equal(guided, np.stack([np.zeros(3, bool), ALL_PARTS]))
    one = resolve_group_swaps(keypoints_px=detected[1:], cameras=cameras[1:], parts=PARTS, margin=0.6,
                              triangulation=TRI, reference_world_m=truth)
    assert np.array_equal(one, ALL_PARTS[None])
    assert not resolve_group_swaps(keypoints_px=detected[1:], cameras=cameras[1:], parts=PARTS, margin=0.6,
                                   triangulation=TRI).any()


def test_two_views_with_a_track_prediction_through_association():
    truth = _person(3)
    cameras = RING4[:2]
    detected = _views(truth, cameras, seed=3)
    detected[1] = PARTS.apply(detected[1], _part("legs"))
    predictions = TrackPredictions(track_ids=np.array([7]), joints_world_m=truth[None] + 0.02,
                                   joint_valid=np.ones((1, 25), bool))
    association = associate(keypoints_px=[d[None] for d in detected], cameras=cameras, predictions=predictions,
                            joint_names=OPENPOSE25_NAMES)
    assert len(association.groups) == 1
    group = association.groups[0]
    assert group.seed_track_id == 7 and set(group.detections) == {0, 1}
    assert group.swapped_parts == {1: ("legs",)}
    assert np.allclose(group.keypoints_of(1, detected[1][None]), _views(truth, cameras, seed=3)[1])


def test_bad_inputs_and_config():
    with pytest.raises(SwapResolutionError, match="keypoints_px: expected"):
        resolve_group_swaps(keypoints_px=np.zeros((3, 25, 3)), cameras=RING4, parts=PARTS, margin=0.6,
                            triangulation=TRI)
    with pytest.raises(SwapResolutionError, match="reference_world_m"):
        resolve_group_swaps(keypoints_px=np.zeros((1, 25, 3)), cameras=RING4[:1], parts=PARTS, margin=0.6,
                            triangulation=TRI, reference_world_m=np.zeros((24, 3)))
    with pytest.raises(ValueError, match="swap_margin"):
        AssociationConfig(swap_margin=1.5).validate()
