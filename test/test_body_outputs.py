"""Meshes, skeletons and TF frames built from fitted bodies."""

import numpy as np
import pytest
import torch
from visualization_msgs.msg import Marker

from scorehmr_ros.body.body_state import BodyEstimate, TrackingState
from scorehmr_ros.body.mesh_decimation import decimate
from scorehmr_ros.geometry.rotations import axis_angle_to_matrix
from scorehmr_ros.ros.body_outputs import (
    MESH_NAMESPACE,
    body_transforms,
    mesh_markers,
    skeleton_markers,
    track_color,
)
from scorehmr_ros.ros.geometry_conversions import transform_to_matrix

RNG = np.random.default_rng(4)


def body(track_id: int, state=TrackingState.TRACKED) -> BodyEstimate:
    rotations = axis_angle_to_matrix(torch.from_numpy(RNG.normal(0, 0.3, (24, 3)))).numpy()
    return BodyEstimate(track_id=track_id, tracking_state=state, betas=np.zeros(10), rotations=rotations,
                        translation_world_m=np.array([1.0, 2.0, 0.0]), joints_world_m=RNG.normal(0, 1, (24, 3)),
                        joint_layout="smpl24", joint_confidence=np.ones(24), fit_residual_px=1.0, num_views=2,
                        stamp_ns=5_000_000_123)


def test_mesh_markers_fixed_ids_colours_and_delete_on_termination():
    vertices = RNG.normal(0, 1, (30, 3))
    faces = np.array([[0, 1, 2], [2, 3, 4], [5, 6, 7]])
    mesh = decimate(vertices, faces, cell_m=0.0)
    bodies = [body(3), body(7, TrackingState.SEARCHING), body(9, TrackingState.TERMINATED)]
    markers = mesh_markers(bodies, [vertices, vertices, None], mesh=mesh, frame_id="map").markers
    assert [(m.ns, m.id, m.action) for m in markers] == [
        (MESH_NAMESPACE, 3, Marker.ADD), (MESH_NAMESPACE, 7, Marker.ADD), (MESH_NAMESPACE, 9, Marker.DELETE)]
    assert markers[0].type == Marker.TRIANGLE_LIST and len(markers[0].points) == 9
    assert markers[0].points[3].x == vertices[2, 0]
    assert markers[0].color == track_color(3) and markers[1].color.a < markers[0].color.a
    assert markers[0].header.frame_id == "map" and markers[0].header.stamp.nanosec == 123
    assert track_color(3) != track_color(4)


def test_skeleton_has_23_bones():
    (marker,) = skeleton_markers([body(1)], frame_id="map").markers
    assert marker.type == Marker.LINE_LIST and len(marker.points) == 46


def test_tf_tree_is_rep155_and_consistent():
    bodies = [body(4), body(5, TrackingState.TERMINATED)]
    transforms = body_transforms(bodies, frame_id="map")
    assert len(transforms) == 25  # the terminated body has no frames
    assert (transforms[0].header.frame_id, transforms[0].child_frame_id) == ("map", "body_4")
    children = {t.child_frame_id for t in transforms[1:]}
    assert {"pelvis_4", "l_wrist_4", "r_knee_4", "head_4"} <= children
    assert {t.header.frame_id for t in transforms[1:]} == {"body_4"}
    T_world_body = transform_to_matrix(transforms[0])
    by_child = {t.child_frame_id: transform_to_matrix(t) for t in transforms[1:]}
    np.testing.assert_allclose((T_world_body @ by_child["l_wrist_4"])[:3, 3], bodies[0].joints_world_m[20], atol=1e-9)
    np.testing.assert_allclose(T_world_body[:3, 3], bodies[0].joints_world_m[1:3].mean(0), atol=1e-12)
    assert len(body_transforms(bodies, frame_id="map", joint_frames=False)) == 1


def test_mesh_markers_serialized_from_numpy_equal_rclpy_serialization():
    from rclpy.serialization import deserialize_message, serialize_message
    from visualization_msgs.msg import MarkerArray

    from scorehmr_ros.ros.body_outputs import mesh_markers_cdr
    from scorehmr_ros.ros.marker_cdr import MarkerFields, marker_array_cdr

    vertices = RNG.normal(0, 1, (30, 3))
    mesh = decimate(vertices, np.array([[0, 1, 2], [2, 3, 4], [5, 6, 7], [1, 8, 9]]), cell_m=0.0)
    bodies = [body(3), body(7, TrackingState.SEARCHING), body(9, TrackingState.TERMINATED), body(11)]
    # frame ids of different lengths move every later field to another alignment
    for frame_id in ("map", "world", "odom_frame_x"):
        lists = ([vertices, vertices.astype(np.float32), None, None], [None, vertices, None, vertices])
        for vertex_list in lists:
            message = mesh_markers(bodies, vertex_list, mesh=mesh, frame_id=frame_id)
            raw = mesh_markers_cdr(bodies, vertex_list, mesh=mesh, frame_id=frame_id)
            # same layout (length) and the same message back; padding bytes are unspecified in CDR
            expected = serialize_message(message)
            assert len(raw) == len(expected)
            assert deserialize_message(raw, MarkerArray) == deserialize_message(expected, MarkerArray)
    raw = mesh_markers_cdr(bodies, [vertices] * 4, mesh=mesh, frame_id="map")
    decoded = deserialize_message(raw, MarkerArray)
    assert len(decoded.markers[0].points) == 12 and decoded.markers[0].points[4].y == vertices[3, 1]
    assert marker_array_cdr([]) == serialize_message(MarkerArray())
    moved = MarkerFields(stamp_ns=1, frame_id="f", ns="n", id=1, type=Marker.CUBE, action=Marker.ADD,
                         position_xyz_m=(1.0, 2.0, 3.0))
    assert deserialize_message(marker_array_cdr([moved]), MarkerArray).markers[0].pose.position.z == 3.0
    with pytest.raises(ValueError, match="points_m"):
        marker_array_cdr([MarkerFields(stamp_ns=1, frame_id="f", ns="n", id=1, type=0, action=0,
                                       points_m=np.zeros((4, 2)))])


def test_transforms_in_one_batch_equal_one_at_a_time_and_refuse_what_is_not_rigid():
    from scorehmr_ros.geometry.transforms import make_transform
    from scorehmr_ros.ros.geometry_conversions import (
        MessageConversionError,
        matrices_to_transforms,
        matrix_to_transform,
    )

    rng = np.random.default_rng(2)
    rotations = [np.linalg.qr(rng.normal(size=(3, 3)))[0] for _ in range(4)]
    matrices = np.stack([make_transform(R * np.sign(np.linalg.det(R)), rng.normal(size=3)) for R in rotations])
    names = [f"frame_{n}" for n in range(4)]
    batch = matrices_to_transforms(matrices, parent_frames=["map"] * 4, child_frames=names, stamps_ns=[5, 6, 7, 8])
    one = [matrix_to_transform(T, parent_frame="map", child_frame=c, stamp_ns=s)
           for T, c, s in zip(matrices, names, [5, 6, 7, 8], strict=True)]
    assert batch == one
    matrices[2, :3, :3] *= 1.01  # scaled: not a rotation
    with pytest.raises(MessageConversionError, match="transform map -> frame_2: not a rigid transform"):
        matrices_to_transforms(matrices, parent_frames=["map"] * 4, child_frames=names, stamps_ns=[5, 6, 7, 8])


def test_every_published_frame_is_recognised_as_a_body_frame_and_camera_frames_are_not():
    from scorehmr_ros.ros.body_outputs import is_body_frame

    transforms = body_transforms([body(4), body(12)], frame_id="map")
    assert len(transforms) == 50 and all(is_body_frame(t.child_frame_id) for t in transforms)
    for frame in ("map", "base_link", "cam0_optical_frame", "body_", "body_x", "pelvis", "head_4_optical", "odom"):
        assert not is_body_frame(frame), frame
