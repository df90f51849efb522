"""Transform buffer: chains up, down and across, stamped history with interpolation, extrapolation refusal,
static edges at all times, the bounded cache, errors."""

import numpy as np
import pytest

from scorehmr_ros.geometry.frame_tree import ExtrapolationError, FrameLookupError, FrameTree, poses_at
from scorehmr_ros.geometry.transforms import make_transform, quaternion_xyzw_to_matrix, slerp_xyzw

RNG = np.random.default_rng(7)
S = 1_000_000_000  # ns per second


def random_T() -> np.ndarray:
    return make_transform(quaternion_xyzw_to_matrix(RNG.normal(size=4)), RNG.normal(size=3))


def yaw(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def base_pose(t_s: float) -> np.ndarray:
    """Closed form of a base turning at 0.5 rad/s about z while driving at (1.0, -0.5, 0) m/s: the samples of
    the history lie on it, and so does every interpolated pose (constant angular and linear velocity)."""
    return make_transform(yaw(0.5 * t_s), np.array([1.0 * t_s, -0.5 * t_s, 0.0]))


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
    tree.set_transform(parent="cam2", child="cam", T_parent_child=np.eye(4), stamp_ns=0)  # re-parented: a loop
    with pytest.raises(FrameLookupError, match="transform loop"):
        tree.lookup("map", "loop_a")


def test_interpolation_along_a_chain_matches_the_closed_form():
    """map -> base_link on /tf every 0.1 s (a base turning and driving), base_link -> camera static: a lookup
    between samples is the closed-form pose (slerp + lerp of a constant-velocity motion is exact)."""
    tree = FrameTree()
    T_base_cam = random_T()
    tree.set_transform(parent="base_link", child="cam_optical_frame", T_parent_child=T_base_cam, stamp_ns=0,
                       static=True)
    for k in range(31):  # 0 .. 3 s
        tree.set_transform(parent="map", child="base_link", T_parent_child=base_pose(0.1 * k),
                           stamp_ns=5 * S + k * S // 10)
    points = RNG.normal(size=(20, 3))
    for t_s in (0.0, 0.03, 0.77, 1.5, 2.2345, 3.0):
        stamp = 5 * S + round(t_s * S)
        expected = base_pose(t_s) @ T_base_cam
        T_map_cam = tree.lookup("map", "cam_optical_frame", stamp)
        np.testing.assert_allclose(T_map_cam, expected, atol=1e-9)
        # the inverse direction as the fitter uses it: world points into the camera
        T_cam_map = tree.lookup("cam_optical_frame", "map", stamp)
        np.testing.assert_allclose(points @ T_cam_map[:3, :3].T + T_cam_map[:3, 3],
                                   points @ np.linalg.inv(expected)[:3, :3].T + np.linalg.inv(expected)[:3, 3],
                                   atol=1e-9)
    # halfway between two samples 90 degrees apart: 45 degrees, translation halfway (not the chord's rotation)
    tree.set_transform(parent="map", child="arm", T_parent_child=make_transform(yaw(0.0), np.zeros(3)), stamp_ns=0)
    tree.set_transform(parent="map", child="arm", T_parent_child=make_transform(yaw(np.pi / 2), np.array([2.0, 0, 0])),
                       stamp_ns=S)
    np.testing.assert_allclose(tree.lookup("map", "arm", S // 2), make_transform(yaw(np.pi / 4), np.array([1.0, 0, 0])),
                               atol=1e-12)
    # latest (stamp None): the newest stamp every dynamic edge has
    np.testing.assert_allclose(tree.lookup("map", "cam_optical_frame"), base_pose(3.0) @ T_base_cam, atol=1e-9)


def test_slerp_takes_the_shorter_arc():
    q0 = np.array([0.0, 0.0, 0.0, 1.0])
    q1 = -np.array([0.0, 0.0, np.sin(0.25), np.cos(0.25)])  # 0.5 rad about z, written with the opposite sign
    np.testing.assert_allclose(quaternion_xyzw_to_matrix(slerp_xyzw(q0, q1, 0.5)), yaw(0.25), atol=1e-12)
    np.testing.assert_allclose(slerp_xyzw(q0, q0, 0.3), q0)


def test_extrapolation_is_refused_naming_the_edge_the_stamp_and_the_range():
    tree = FrameTree(extrapolation_tolerance_s=0.01)
    tree.set_transform(parent="base_link", child="cam", T_parent_child=np.eye(4), stamp_ns=0, static=True)
    for k in range(11):
        tree.set_transform(parent="map", child="base_link", T_parent_child=base_pose(0.1 * k), stamp_ns=k * S // 10)
    with pytest.raises(ExtrapolationError) as error:
        tree.lookup("map", "cam", S + S // 50)  # 20 ms after the newest sample
    message = str(error.value)
    assert error.value.future
    assert "map -> base_link" in message and f"stamp {S + S // 50} ns" in message and "after the newest" in message
    assert f"0 .. {S} ns" in message
    with pytest.raises(ExtrapolationError, match="before the oldest") as error:
        tree.lookup("cam", "map", -S // 50)
    assert not error.value.future
    assert isinstance(error.value, FrameLookupError)  # callers that catch lookup errors catch it too
    # within the tolerance the nearest sample holds
    np.testing.assert_allclose(tree.lookup("map", "cam", S + S // 200), base_pose(1.0), atol=1e-12)
    np.testing.assert_allclose(tree.lookup("map", "cam", -S // 200), base_pose(0.0), atol=1e-12)
    # one dynamic sample only: exactly its stamp, nothing else
    tree.set_transform(parent="map", child="door", T_parent_child=np.eye(4), stamp_ns=3 * S)
    np.testing.assert_array_equal(tree.lookup("map", "door", 3 * S), np.eye(4))
    with pytest.raises(ExtrapolationError, match="map -> door"):
        tree.lookup("map", "door", 2 * S)


def test_static_edges_hold_at_all_times_and_are_cached():
    tree = FrameTree()
    T = random_T()
    tree.set_transform(parent="map", child="cam", T_parent_child=T, stamp_ns=5 * S, static=True)
    for stamp in (0, 5 * S, 10**18):
        np.testing.assert_allclose(tree.lookup("cam", "map", stamp), np.linalg.inv(T), atol=1e-12)
    assert tree.is_static("cam", "map")
    first = tree.lookup("cam", "map", 0)
    first[:] = 0.0  # a caller's copy: the cache is unaffected
    np.testing.assert_allclose(tree.lookup("cam", "map", 1), np.linalg.inv(T), atol=1e-12)
    moved = random_T()  # a new static transform replaces the cached chain
    tree.set_transform(parent="map", child="cam", T_parent_child=moved, stamp_ns=6 * S, static=True)
    np.testing.assert_allclose(tree.lookup("cam", "map", 0), np.linalg.inv(moved), atol=1e-12)
    tree.set_transform(parent="odom", child="map", T_parent_child=np.eye(4), stamp_ns=0)
    assert not tree.is_static("cam", "odom")
    with pytest.raises(FrameLookupError, match="no transform chain"):
        tree.is_static("cam", "elsewhere")


def test_history_is_bounded_by_the_cache_duration_and_out_of_order_samples_are_sorted():
    tree = FrameTree(cache_duration_s=2.0)
    for k in (3, 0, 2, 1):  # out of order
        tree.set_transform(parent="map", child="base", T_parent_child=base_pose(float(k)), stamp_ns=k * S)
    np.testing.assert_allclose(tree.lookup("map", "base", S + S // 2), base_pose(1.5), atol=1e-9)
    for k in range(4, 21):
        tree.set_transform(parent="map", child="base", T_parent_child=base_pose(0.1 * k), stamp_ns=k * S)
    with pytest.raises(ExtrapolationError, match=f"available {18 * S} .. {20 * S} ns"):
        tree.lookup("map", "base", 17 * S)
    # the clock went back by more than the cache (a bag played in a loop): the edge starts afresh
    tree.set_transform(parent="map", child="base", T_parent_child=base_pose(0.0), stamp_ns=S)
    tree.set_transform(parent="map", child="base", T_parent_child=base_pose(1.0), stamp_ns=2 * S)
    np.testing.assert_allclose(tree.lookup("map", "base", S + S // 2), base_pose(0.5), atol=1e-9)
    with pytest.raises(ExtrapolationError, match=f"available {S} .. {2 * S} ns"):
        tree.lookup("map", "base", 20 * S)
    tree.clear()
    assert tree.frames() == set()


def test_camera_poses_at_their_stamps_and_none_for_a_static_rig():
    tree = FrameTree()
    T_base_cam0, T_base_cam1 = random_T(), random_T()
    frames = {"cam0": "cam0_optical_frame", "cam1": "cam1_optical_frame"}
    for name, T in (("cam0", T_base_cam0), ("cam1", T_base_cam1)):
        tree.set_transform(parent="base_link", child=frames[name], T_parent_child=T, stamp_ns=0, static=True)
    tree.set_transform(parent="map", child="base_link", T_parent_child=base_pose(0.0), stamp_ns=0, static=True)
    assert poses_at(tree, frames=frames, target="map", stamps_ns={"cam0": 0, "cam1": 0}) is None
    tree.set_transform(parent="map", child="base_link", T_parent_child=base_pose(0.0), stamp_ns=0)  # now on /tf
    tree.set_transform(parent="map", child="base_link", T_parent_child=base_pose(1.0), stamp_ns=S)
    poses = poses_at(tree, frames=frames, target="map", stamps_ns={"cam0": S // 4, "cam1": S // 2})
    np.testing.assert_allclose(poses["cam0"], np.linalg.inv(base_pose(0.25) @ T_base_cam0), atol=1e-9)
    np.testing.assert_allclose(poses["cam1"], np.linalg.inv(base_pose(0.5) @ T_base_cam1), atol=1e-9)


def test_frames_that_stop_being_published_are_forgotten_after_the_cache_duration():
    """/tf carries frames that come and go (a tracked person's body_<id>): the buffer keeps only the frames with a
    sample in the last cache duration, besides the static ones, so its memory stays bounded."""
    tree = FrameTree(cache_duration_s=10.0)
    tree.set_transform(parent="map", child="base_link", T_parent_child=np.eye(4), stamp_ns=0, static=True)
    second = 1_000_000_000
    for person in range(50):  # each person tracked for 2 s, one after the other
        for k in range(20):
            stamp = (2 * person + k / 10) * second
            tree.set_transform(parent="map", child=f"body_{person}", T_parent_child=np.eye(4), stamp_ns=round(stamp))
            tree.set_transform(parent="base_link", child="cam", T_parent_child=np.eye(4), stamp_ns=round(stamp))
    frames = tree.frames()
    alive = {f"body_{p}" for p in range(50) if 2 * p + 1.9 >= 2 * 49 + 1.9 - 10.0 - 5.0}  # pruned every 5 s
    assert {"map", "base_link", "cam"} <= frames and len(frames - {"map", "base_link", "cam"}) <= len(alive)
    assert "body_0" not in frames and "body_49" in frames
    np.testing.assert_allclose(tree.lookup("map", "cam", round(99.5 * second)), np.eye(4))
