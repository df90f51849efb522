"""Deterministic example messages of every type we publish, and a field-by-field comparison.

Imported by the peer publisher (another process) and by the tests that check what arrived.
"""

from __future__ import annotations

import array
import math

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Quaternion, TransformStamped, Vector3
from sensor_msgs.msg import Image
from tf2_msgs.msg import TFMessage

from scorehmr_ros.msg import MultiViewKeypoints2D, PersonKeypoints2D, SMPLBody, SMPLBodyArray, ViewKeypoints2D

#: Topic -> (message type name, builder). The publisher sends each; the test compares each.
STAMP = Time(sec=1_700_000_000, nanosec=123_456_789)
UPSTREAM_TF_MESSAGE_TYPE_HASH = "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087"


def person(index: int) -> PersonKeypoints2D:
    joints = 17
    return PersonKeypoints2D(
        box_xyxy_px=[10.0 + index, 20.5, 110.25, 300.0],
        score=0.5 + 0.1 * index,
        keypoint_layout="coco17",
        keypoints_x_px=[float(j) + 0.25 for j in range(joints)],
        keypoints_y_px=[2.0 * j + 0.5 for j in range(joints)],
        keypoints_confidence=[j / joints for j in range(joints)],
    )


def view_keypoints(camera: str, people: int) -> ViewKeypoints2D:
    return ViewKeypoints2D(
        camera_name=camera, frame_id=f"{camera}_optical_frame", image_stamp=Time(sec=1_700_000_000, nanosec=5),
        image_width=1920, image_height=1080, people=[person(i) for i in range(people)],
    )


def multiview_keypoints() -> MultiViewKeypoints2D:
    msg = MultiViewKeypoints2D(views=[view_keypoints("cam0", 2), view_keypoints("cam1", 0)],
                               missing_cameras=["cam2"])
    msg.header.stamp, msg.header.frame_id = STAMP, "map"
    return msg


def smpl_body(track_id: int) -> SMPLBody:
    angle = 0.1 * track_id
    return SMPLBody(
        track_id=track_id,
        tracking_state=SMPLBody.TRACKING_STATE_SEARCHING if track_id % 2 else SMPLBody.TRACKING_STATE_TRACKED,
        stamp=STAMP,
        betas=[0.1 * i - 0.5 for i in range(10)],
        joint_rotations=[Quaternion(x=0.0, y=0.0, z=math.sin(angle + j / 48), w=math.cos(angle + j / 48))
                         for j in range(24)],
        translation=Vector3(x=1.5, y=-0.25, z=0.9 + track_id),
        joint_layout="smpl24",
        joints=[Point(x=0.01 * j, y=-0.02 * j, z=1.0 + 0.03 * j) for j in range(24)],
        joint_confidence=[1.0 - j / 48 for j in range(24)],
        fit_residual_px=2.75,
        num_views=3,
    )


def smpl_body_array() -> SMPLBodyArray:
    msg = SMPLBodyArray(bodies=[smpl_body(0), smpl_body(5)])
    msg.header.stamp, msg.header.frame_id = STAMP, "map"
    return msg


def tf_message() -> TFMessage:
    transforms = []
    for index, child in enumerate(("body_0", "pelvis_0")):
        t = TransformStamped()
        t.header.stamp, t.header.frame_id, t.child_frame_id = STAMP, "map", child
        t.transform.translation = Vector3(x=1.0 + index, y=2.0, z=3.0)
        t.transform.rotation = Quaternion(x=0.0, y=0.0, z=math.sin(0.3), w=math.cos(0.3))
        transforms.append(t)
    return TFMessage(transforms=transforms)


def large_image(frame_index: int, height: int = 1080, width: int = 1920) -> Image:
    """An rgb8 image whose pixels encode the frame index (checked on arrival)."""
    rows = (np.arange(height, dtype=np.uint32)[:, None] + frame_index) % 251
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:] = rows.astype(np.uint8)[:, :, None]
    pixels[:, :, 1] = np.uint8(frame_index % 256)
    msg = Image(height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3)
    msg.header.stamp, msg.header.frame_id = Time(sec=frame_index, nanosec=0), "cam0_optical_frame"
    msg.data = array.array("B", pixels.tobytes())
    return msg


CUSTOM_TOPICS = {
    "keypoints": (MultiViewKeypoints2D, multiview_keypoints),
    "bodies": (SMPLBodyArray, smpl_body_array),
    "body": (SMPLBody, lambda: smpl_body(3)),
    "person": (PersonKeypoints2D, lambda: person(4)),
    "view": (ViewKeypoints2D, lambda: view_keypoints("cam7", 1)),
    "tf_test": (TFMessage, tf_message),
}


def field_differences(expected, received, path: str = "msg") -> list[str]:
    """Every field that differs between two messages, recursively (floats compared as float32)."""
    if hasattr(expected, "get_fields_and_field_types"):
        differences = []
        for name in expected.get_fields_and_field_types():
            differences += field_differences(getattr(expected, name), getattr(received, name), f"{path}.{name}")
        return differences
    if isinstance(expected, (list, tuple, array.array, np.ndarray)):
        if len(expected) != len(received):
            return [f"{path}: length {len(received)} != expected {len(expected)}"]
        differences = []
        for index, (a, b) in enumerate(zip(expected, received, strict=True)):
            differences += field_differences(a, b, f"{path}[{index}]")
        return differences
    same = np.float32(expected) == np.float32(received) if isinstance(expected, float) else expected == received
    return [] if same else [f"{path}: {received!r} != expected {expected!r}"]
