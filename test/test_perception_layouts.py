"""Keypoint layouts and the tables between them."""

import numpy as np
import pytest

from scorehmr_ros.body import layouts as L  # noqa: N812
from scorehmr_ros.sim import layouts as sim_layouts


def _random_keypoints(layout: str, people: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    joints = L.get_layout(layout).num_joints
    return np.concatenate([rng.uniform(0, 640, (people, joints, 2)), rng.uniform(0.1, 1, (people, joints, 1))], -1)


def test_coco17_to_openpose25_is_the_official_vitpose_map():
    official = [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11]  # docs/scorehmr-reference.md §6
    keypoints = _random_keypoints("coco17")
    converted = L.convert_keypoints(keypoints, source="coco17", target="openpose25")
    expected = np.zeros((3, 25, 3))
    expected[:, official] = keypoints
    np.testing.assert_array_equal(converted, expected)
    assert tuple(official) == L.OFFICIAL_COCO17_TO_OPENPOSE25


def test_missing_joints_are_zero_not_invented():
    converted = L.convert_keypoints(_random_keypoints("coco17"), source="coco17", target="openpose25")
    for name in ("neck", "mid_hip", "left_big_toe", "right_heel"):
        assert not converted[:, L.OPENPOSE25_NAMES.index(name)].any()


def test_synthesized_neck_is_an_explicit_opt_in_at_the_shoulder_midpoint():
    keypoints = _random_keypoints("coco17")
    keypoints[1, 5, 2] = 0.0  # person 1: left shoulder not seen -> no neck
    out = L.convert_keypoints(keypoints, source="coco17", target="openpose25", synthesize_neck_mid_hip=True)
    neck = out[:, 1]
    np.testing.assert_allclose(neck[0, :2], 0.5 * (keypoints[0, 5, :2] + keypoints[0, 6, :2]))
    assert neck[0, 2] == pytest.approx(min(keypoints[0, 5, 2], keypoints[0, 6, 2]))
    assert not neck[1].any()
    np.testing.assert_allclose(out[:, 8, :2], 0.5 * (keypoints[:, 11, :2] + keypoints[:, 12, :2]))
    with pytest.raises(L.LayoutError, match="target .openpose25. only"):
        L.convert_keypoints(keypoints, source="coco17", target="halpe26", synthesize_neck_mid_hip=True)


def test_halpe_neck_and_hip_are_read_but_flagged_approximate():
    mapping = L.get_mapping("halpe26", "openpose25")
    assert mapping.source_index[1] == L.HALPE26_NAMES.index("neck")
    assert mapping.source_index[8] == L.HALPE26_NAMES.index("mid_hip")
    assert mapping.weight[1] == mapping.weight[8] == L.APPROXIMATE_AGREEMENT
    assert mapping.available.sum() == 25  # HALPE-26 covers every OpenPose joint
    assert (mapping.weight[[0, 2, 3, 4, 19, 24]] == 1.0).all()


def test_mediapipe_to_openpose_flags_approximate_points():
    mapping = L.get_mapping("mediapipe33", "openpose25")
    approximate = {L.OPENPOSE25_NAMES[j] for j in np.flatnonzero((mapping.weight > 0) & (mapping.weight < 1))}
    assert approximate == {"left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_knee", "right_knee",
                           "left_big_toe", "right_big_toe"}
    missing = {L.OPENPOSE25_NAMES[j] for j in np.flatnonzero(~mapping.available)}
    assert missing == {"neck", "mid_hip", "left_small_toe", "right_small_toe"}
    assert mapping.source_index[L.OPENPOSE25_NAMES.index("left_big_toe")] == \
        L.MEDIAPIPE33_NAMES.index("left_foot_index")
    keypoints = _random_keypoints("mediapipe33")
    weighted = mapping.apply(keypoints, weighted=True)
    np.testing.assert_allclose(weighted[..., 2], mapping.apply(keypoints)[..., 2] * mapping.weight)


def test_round_trip_through_a_superset_is_identity():
    keypoints = _random_keypoints("coco17")
    for via in ("openpose25", "halpe26", "mediapipe33"):
        there = L.convert_keypoints(keypoints, source="coco17", target=via)
        back = L.convert_keypoints(there, source=via, target="coco17")
        np.testing.assert_array_equal(back, keypoints)


@pytest.mark.parametrize("name", list(L.LAYOUTS))
def test_mirror_is_an_involution_that_swaps_sides(name):
    layout = L.get_layout(name)
    np.testing.assert_array_equal(layout.mirror_index[layout.mirror_index], np.arange(layout.num_joints))
    for j, joint in enumerate(layout.joint_names):
        partner = layout.joint_names[layout.mirror_index[j]]
        assert partner == joint.replace("left", "#").replace("right", "left").replace("#", "right")
    keypoints = _random_keypoints(name)
    twice = L.mirror_keypoints(L.mirror_keypoints(keypoints, layout=name, image_width_px=640),
                               layout=name, image_width_px=640)
    np.testing.assert_allclose(twice, keypoints)


def test_mirror_commutes_with_conversion():
    keypoints = _random_keypoints("mediapipe33")
    a = L.convert_keypoints(L.mirror_keypoints(keypoints, layout="mediapipe33", image_width_px=640),
                            source="mediapipe33", target="openpose25")
    b = L.mirror_keypoints(L.convert_keypoints(keypoints, source="mediapipe33", target="openpose25"),
                           layout="openpose25", image_width_px=640)
    np.testing.assert_allclose(a, b)


@pytest.mark.parametrize("name", list(L.LAYOUTS))
def test_edges_connect_every_joint_and_respect_symmetry(name):
    layout = L.get_layout(name)
    assert {j for edge in layout.edges for j in edge} == set(range(layout.num_joints))
    edges = {frozenset(e) for e in layout.edges}
    mirrored = {frozenset(int(layout.mirror_index[j]) for j in e) for e in layout.edges}
    assert edges == mirrored


@pytest.mark.parametrize("name", sim_layouts.SIMULATED_LAYOUTS)
def test_simulated_keypoints_come_back_to_the_same_openpose25_points(name):
    """What the simulator emits in a layout, converted by the fitters' one conversion, lands on the OpenPose-25
    rows it was read from (coordinates exactly; confidence weighted by the mapping's agreement)."""
    rng = np.random.default_rng(0)
    official = np.concatenate([rng.uniform(0, 640, (2, 44, 2)), rng.uniform(0.5, 1.0, (2, 44, 1))], axis=-1)
    simulated = sim_layouts.get_layout(name)
    assert simulated.joint_names == L.get_layout(name).joint_names
    back = L.to_openpose25(simulated.from_official(official), name)
    rows = simulated.source_index[simulated.available]
    np.testing.assert_allclose(back[:, rows, :2], official[:, rows, :2])
    assert np.all(back[:, rows, 2] <= official[:, rows, 2]) and np.all(back[:, rows, 2] > 0)
    missing = np.setdiff1d(np.arange(25), rows)
    assert np.all(back[:, missing] == 0)


def test_official44_padding():
    out = L.openpose25_to_official44(_random_keypoints("openpose25"))
    assert out.shape == (3, 44, 3)
    assert not out[:, 25:].any()


def test_bad_inputs_name_the_problem():
    with pytest.raises(L.LayoutError, match="unknown keypoint layout 'body99'"):
        L.get_layout("body99")
    with pytest.raises(L.LayoutError, match=r"expected keypoints \(\.\.\., 17, 3\)"):
        L.convert_keypoints(np.zeros((2, 25, 3)), source="coco17", target="openpose25")
    with pytest.raises(L.LayoutError, match="has no joint 'tail'"):
        L.get_layout("coco17").index("tail")
