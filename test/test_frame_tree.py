"""Transform tree lookups: chains up, down and across, updates, errors."""

import numpy as np
import pytest

from scorehmr_ros.core.frame_tree import FrameLookupError, FrameTree
from scorehmr_ros.core.transforms import make_transform, quaternion_xyzw_to_matrix

RNG = np.random.default_rng(7)


def random_T() -> np.ndarray:
    return make_transform(quaternion_xyzw_to_matrix(RNG.normal(size=4)), RNG.normal(size=3))


def test_lookups_through_a_common_ancestor():
    tree = FrameTree()
    T_map_rig, T_rig_cam0, T_rig_cam1, T_map_body = random_T(), random_T(), random_T(), random_T()
    tree.set_transform(parent="map", child="rig", T_parent_child=T_map_rig, stamp_ns=0)
    tree.set_transform(parent="rig", child="cam0_optical_frame", T_parent_child=T_rig_cam0, stamp_ns=0)
    tree.set_transform(parent="rig", child="cam1_optical_frame", T_parent_child=T_rig_cam1, stamp_ns=0)
    tree.set_transform(parent="map", child="body_1", T_parent_child=T_map_body, stamp_ns=0)
    np.testing.assert_allclose(tree.lookup("map", "cam0_optical_frame"), T_map_rig @ T_rig_cam0, atol=1e-12)
    np.testing.assert_allclose(tree.lookup("cam0_optical_frame", "map"), np.linalg.inv(T_map_rig @ T_rig_cam0),
                               atol=1e-12)
    np.testing.assert_allclose(tree.lookup("cam1_optical_frame", "cam0_optical_frame"),
                               np.linalg.inv(T_rig_cam1) @ T_rig_cam0, atol=1e-12)
    np.testing.assert_allclose(tree.lookup("body_1", "cam0_optical_frame"),
                               np.linalg.inv(T_map_body) @ T_map_rig @ T_rig_cam0, atol=1e-12)
    np.testing.assert_array_equal(tree.lookup("rig", "rig"), np.eye(4))


def test_latest_transform_wins_and_errors_are_named():
    tree = FrameTree()
    tree.set_transform(parent="map", child="cam", T_parent_child=np.eye(4), stamp_ns=0)
    moved = make_transform(np.eye(3), np.array([1.0, 0.0, 0.0]))
    tree.set_transform(parent="map", child="cam", T_parent_child=moved, stamp_ns=1)
    np.testing.assert_array_equal(tree.lookup("map", "cam"), moved)
    with pytest.raises(FrameLookupError, match="no transform chain between 'map' and 'other'"):
        tree.lookup("map", "other")
    with pytest.raises(ValueError, match="two different, non-empty frames"):
        tree.set_transform(parent="a", child="a", T_parent_child=np.eye(4), stamp_ns=0)
    with pytest.raises(ValueError, match="not a rotation matrix"):
        tree.set_transform(parent="a", child="b", T_parent_child=np.diag([2.0, 1, 1, 1]), stamp_ns=0)
    tree.set_transform(parent="cam", child="map2", T_parent_child=np.eye(4), stamp_ns=0)
    tree.set_transform(parent="map2", child="cam2", T_parent_child=np.eye(4), stamp_ns=0)
    tree.set_transform(parent="cam2", child="loop_a", T_parent_child=np.eye(4), stamp_ns=0)
    tree._edges["cam"] = type(tree._edges["cam"])("cam2", np.eye(4), 0)  # make a loop cam -> cam2 -> ... -> cam
    with pytest.raises(FrameLookupError, match="transform loop"):
        tree.lookup("map", "loop_a")
