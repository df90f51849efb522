"""CameraInfo, TransformStamped, time stamps and SMPL bodies <-> core types."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Quaternion, Transform, TransformStamped, Vector3
from sensor_msgs.msg import CameraInfo

from scorehmr_ros.base.units import NS_PER_S
from scorehmr_ros.body.body_state import BodyEstimate, BodyStateError, TrackingState
from scorehmr_ros.body.joint_counts import NUM_SMPL_JOINTS
from scorehmr_ros.geometry.camera import PLUMB_BOB_SIZE, Camera, CameraError
from scorehmr_ros.geometry.transforms import (
    TransformError,
    check_rigid_transform,
    make_transform,
    matrix_to_quaternion_xyzw,
    quaternion_xyzw_to_matrix,
    rigid_transform_checks,
)


class MessageConversionError(ValueError):
    """A message whose content cannot be converted to a core type; the message says why."""


# -- time ---------------------------------------------------------------------------------
def stamp_to_ns(stamp: Time) -> int:
    """builtin_interfaces/Time -> integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def ns_to_stamp(stamp_ns: int) -> Time:
    """Integer nanoseconds (>= 0) -> builtin_interfaces/Time."""
    if stamp_ns < 0:
        raise MessageConversionError(f"stamp must be >= 0 ns, got {stamp_ns}")
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    return Time(sec=sec, nanosec=nanosec)


# -- CameraInfo ---------------------------------------------------------------------------
def camera_info_to_camera(msg: CameraInfo, *, name: str, T_cam_world: np.ndarray | None = None) -> Camera:
    """sensor_msgs/CameraInfo (+ the camera's world->camera transform) -> core Camera.

    Args:
        msg: intrinsics, distortion ("plumb_bob" with 5 coefficients, or none) and image size.
        name: camera name in the rig.
        T_cam_world: (4, 4) world -> optical frame transform; identity when None.
    Raises:
        MessageConversionError: uncalibrated (K all zero), malformed arrays, NaN, unsupported model.
    """
    K = np.asarray(msg.k, dtype=np.float64)
    if K.shape != (9,):
        raise MessageConversionError(f"CameraInfo of {name!r}: k must have 9 elements, got {K.size}")
    if not np.any(K):
        raise MessageConversionError(f"CameraInfo of {name!r}: k is all zeros (camera not calibrated)")
    if msg.width == 0 or msg.height == 0:
        raise MessageConversionError(f"CameraInfo of {name!r}: image size is {msg.width}x{msg.height}")
    coeffs = np.asarray(msg.d, dtype=np.float64)
    model = msg.distortion_model or "none"
    if model == "plumb_bob":
        if coeffs.size != PLUMB_BOB_SIZE:
            raise MessageConversionError(
                f"CameraInfo of {name!r}: plumb_bob needs {PLUMB_BOB_SIZE} coefficients in d, got {coeffs.size}"
            )
    elif model == "none" or (coeffs.size and not np.any(coeffs)):
        model, coeffs = "none", np.zeros(0)
    else:
        raise MessageConversionError(
            f"CameraInfo of {name!r}: distortion model {msg.distortion_model!r} is not supported "
            "(supported: plumb_bob, none; rectify the images or use a plumb_bob calibration)"
        )
    if T_cam_world is None:
        T_cam_world = np.eye(4)
    try:
        T = check_rigid_transform(T_cam_world, name=f"pose of camera {name!r}")
        return Camera(
            name=name, K=K.reshape(3, 3), width_px=msg.width, height_px=msg.height,
            R_cam_world=T[:3, :3], t_cam_world_m=T[:3, 3], distortion_model=model, distortion=coeffs,
            frame_id=msg.header.frame_id,
        )
    except (CameraError, TransformError) as error:
        raise MessageConversionError(f"CameraInfo of {name!r}: {error}") from error


def camera_to_camera_info(camera: Camera, *, stamp_ns: int = 0) -> CameraInfo:
    """Core Camera -> sensor_msgs/CameraInfo (no rectification: R = I, P = [K | 0])."""
    msg = CameraInfo()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = camera.frame_id
    msg.width, msg.height = camera.width_px, camera.height_px
    msg.distortion_model = "plumb_bob" if camera.distortion_model == "plumb_bob" else ""
    msg.d = camera.distortion.tolist()
    msg.k = camera.K.reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    msg.p = np.hstack([camera.K, np.zeros((3, 1))]).reshape(-1).tolist()
    return msg


# -- transforms ---------------------------------------------------------------------------
def transform_to_matrix(msg: Transform | TransformStamped) -> np.ndarray:
    """geometry_msgs/Transform(Stamped) -> (4, 4) T_parent_child (the child's pose in the parent).

    The quaternion is normalised; a zero or NaN quaternion or NaN translation raises.
    """
    transform = msg.transform if isinstance(msg, TransformStamped) else msg
    t = np.array([transform.translation.x, transform.translation.y, transform.translation.z])
    if not np.all(np.isfinite(t)):
        raise MessageConversionError(f"transform translation contains NaN or infinite values: {t.tolist()}")
    r = transform.rotation
    try:
        R = quaternion_xyzw_to_matrix(np.array([r.x, r.y, r.z, r.w]))
    except TransformError as error:
        raise MessageConversionError(f"transform rotation: {error}") from error
    return make_transform(R, t)


def matrix_to_transform(
    T_parent_child: np.ndarray, *, parent_frame: str, child_frame: str, stamp_ns: int
) -> TransformStamped:
    """(4, 4) rigid transform -> geometry_msgs/TransformStamped (header.frame_id = parent)."""
    try:
        T = check_rigid_transform(T_parent_child, name=f"transform {parent_frame} -> {child_frame}")
    except TransformError as error:
        raise MessageConversionError(str(error)) from error
    return _transform_msg(T[:3, 3], matrix_to_quaternion_xyzw(T[:3, :3]), parent_frame=parent_frame,
                          child_frame=child_frame, stamp_ns=stamp_ns)


def matrices_to_transforms(T_parent_child: np.ndarray, *, parent_frames: list[str], child_frames: list[str],
                           stamps_ns: list[int], atol: float = 1e-6) -> list[TransformStamped]:
    """(N, 4, 4) rigid transforms -> N TransformStamped, as :func:`matrix_to_transform` each, checked and turned into
    quaternions in one batch (a body's 25 frames per set: one ``allclose`` per frame cost more than the rest)."""
    T = np.asarray(T_parent_child, dtype=np.float64)
    count = len(child_frames)
    if T.shape != (count, 4, 4) or len(parent_frames) != count or len(stamps_ns) != count:
        raise MessageConversionError(f"transforms: expected ({count}, 4, 4) matrices and {count} parent frames and "
                                     f"stamps, got {T.shape}, {len(parent_frames)}, {len(stamps_ns)}")
    finite = np.all(np.isfinite(T), axis=(1, 2))
    rotation_ok, last_row_ok = rigid_transform_checks(np.where(finite[:, None, None], T, 0.0), atol=atol)
    rigid = finite & rotation_ok & last_row_ok
    if not np.all(rigid):
        bad = int(np.argmin(rigid))
        raise MessageConversionError(f"transform {parent_frames[bad]} -> {child_frames[bad]}: not a rigid transform "
                                     "(the rotation block must be orthonormal with det +1, the last row [0, 0, 0, 1])")
    quaternions = matrix_to_quaternion_xyzw(T[:, :3, :3])
    return [_transform_msg(T[n, :3, 3], quaternions[n], parent_frame=parent_frames[n], child_frame=child_frames[n],
                           stamp_ns=stamps_ns[n]) for n in range(count)]


def _transform_msg(translation: np.ndarray, quaternion_xyzw: np.ndarray, *, parent_frame: str, child_frame: str,
                   stamp_ns: int) -> TransformStamped:
    msg = TransformStamped()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id = parent_frame
    msg.child_frame_id = child_frame
    msg.transform.translation = Vector3(x=float(translation[0]), y=float(translation[1]), z=float(translation[2]))
    x, y, z, w = (float(v) for v in quaternion_xyzw)
    msg.transform.rotation = Quaternion(x=x, y=y, z=z, w=w)
    return msg


# -- SMPL bodies --------------------------------------------------------------------------
def body_to_msg(body: BodyEstimate):
    """Core BodyEstimate -> scorehmr_ros/SMPLBody."""
    from scorehmr_ros.msg import SMPLBody

    msg = SMPLBody()
    msg.track_id = int(body.track_id)
    msg.tracking_state = int(body.tracking_state)
    msg.stamp = ns_to_stamp(body.stamp_ns)
    msg.betas = body.betas.astype(np.float32).tolist()
    quaternions = matrix_to_quaternion_xyzw(body.rotations)
    msg.joint_rotations = [Quaternion(x=q[0], y=q[1], z=q[2], w=q[3]) for q in quaternions.tolist()]
    x, y, z = body.translation_world_m.tolist()
    msg.translation = Vector3(x=x, y=y, z=z)
    msg.joint_layout = body.joint_layout
    msg.joints = [Point(x=p[0], y=p[1], z=p[2]) for p in body.joints_world_m.tolist()]
    msg.joint_confidence = body.joint_confidence.astype(np.float32).tolist()
    msg.fit_residual_px = float(body.fit_residual_px)
    msg.num_views = int(body.num_views)
    return msg


def msg_to_body(msg) -> BodyEstimate:
    """scorehmr_ros/SMPLBody -> core BodyEstimate (validates sizes and values)."""
    if len(msg.joint_rotations) != NUM_SMPL_JOINTS:
        raise MessageConversionError(
            f"SMPLBody: expected {NUM_SMPL_JOINTS} joint_rotations, got {len(msg.joint_rotations)}"
        )
    if len(msg.joint_confidence) != len(msg.joints):
        raise MessageConversionError(
            f"SMPLBody: {len(msg.joints)} joints but {len(msg.joint_confidence)} joint_confidence values"
        )
    if msg.tracking_state not in TrackingState._value2member_map_:
        raise MessageConversionError(f"SMPLBody: unknown tracking_state {msg.tracking_state}")
    quaternions = np.array([[q.x, q.y, q.z, q.w] for q in msg.joint_rotations])
    try:
        rotations = quaternion_xyzw_to_matrix(quaternions)
        return BodyEstimate(
            track_id=msg.track_id,
            tracking_state=TrackingState(msg.tracking_state),
            betas=np.asarray(msg.betas, dtype=np.float64),
            rotations=rotations,
            translation_world_m=np.array([msg.translation.x, msg.translation.y, msg.translation.z]),
            joints_world_m=np.array([[p.x, p.y, p.z] for p in msg.joints]).reshape(-1, 3),
            joint_layout=msg.joint_layout,
            joint_confidence=np.asarray(msg.joint_confidence, dtype=np.float64),
            fit_residual_px=msg.fit_residual_px,
            num_views=msg.num_views,
            stamp_ns=stamp_to_ns(msg.stamp),
        )
    except (TransformError, BodyStateError) as error:
        raise MessageConversionError(f"SMPLBody of track {msg.track_id}: {error}") from error
