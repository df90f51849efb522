"""MultiViewKeypoints2D <-> core MultiViewObservation."""

from __future__ import annotations

import numpy as np

from scorehmr_ros.body.layouts import LayoutError, get_layout
from scorehmr_ros.perception.observations import MultiViewObservation, ObservationError, ViewObservation
from scorehmr_ros.ros.geometry_conversions import MessageConversionError, ns_to_stamp, stamp_to_ns


def observation_to_msg(observation: MultiViewObservation):
    """Core MultiViewObservation -> scorehmr_ros/MultiViewKeypoints2D."""
    from scorehmr_ros.msg import MultiViewKeypoints2D, PersonKeypoints2D, ViewKeypoints2D

    msg = MultiViewKeypoints2D()
    msg.header.stamp = ns_to_stamp(observation.stamp_ns)
    msg.header.frame_id = observation.frame_id
    msg.missing_cameras = list(observation.missing_cameras)
    for view in observation.views:
        view_msg = ViewKeypoints2D(camera_name=view.camera, frame_id=view.frame_id,
                                   image_stamp=ns_to_stamp(view.image_stamp_ns),
                                   image_width=view.width_px, image_height=view.height_px)
        for person in range(view.num_people):
            keypoints = view.keypoints[person]
            view_msg.people.append(PersonKeypoints2D(
                box_xyxy_px=view.boxes_xyxy_px[person].tolist(), score=float(view.scores[person]),
                keypoint_layout=view.layout, keypoints_x_px=keypoints[:, 0].tolist(),
                keypoints_y_px=keypoints[:, 1].tolist(), keypoints_confidence=keypoints[:, 2].tolist()))
        msg.views.append(view_msg)
    return msg


#: People accepted in one view of a message: more is a malformed (or hostile) message, not a crowd.
MAX_PEOPLE_PER_VIEW = 100


def _person_keypoints(view_msg, index: int, person, num_joints: int) -> np.ndarray:
    """(J, 3) x_px, y_px, confidence of one person; MessageConversionError when the arrays disagree."""
    lengths = (len(person.keypoints_x_px), len(person.keypoints_y_px), len(person.keypoints_confidence))
    if len(set(lengths)) != 1 or lengths[0] != num_joints:
        raise MessageConversionError(
            f"view {view_msg.camera_name!r} person {index}: keypoint arrays must each have {num_joints} values "
            f"for layout {person.keypoint_layout!r}; got x {lengths[0]}, y {lengths[1]}, confidence {lengths[2]}")
    return np.stack([np.asarray(person.keypoints_x_px, np.float32), np.asarray(person.keypoints_y_px, np.float32),
                     np.asarray(person.keypoints_confidence, np.float32)], axis=-1)


def _view_to_observation(view_msg) -> ViewObservation:
    if len(view_msg.people) > MAX_PEOPLE_PER_VIEW:
        raise MessageConversionError(f"view {view_msg.camera_name!r}: {len(view_msg.people)} people, at most "
                                     f"{MAX_PEOPLE_PER_VIEW} are accepted")
    layouts = {person.keypoint_layout for person in view_msg.people}
    if len(layouts) > 1:
        raise MessageConversionError(
            f"view {view_msg.camera_name!r}: people in different keypoint layouts {sorted(layouts)}")
    layout = layouts.pop() if layouts else ""
    num_joints = get_layout(layout).num_joints if layout else 0
    keypoints = [_person_keypoints(view_msg, index, person, num_joints) for index, person in enumerate(view_msg.people)]
    return ViewObservation(
        camera=view_msg.camera_name, frame_id=view_msg.frame_id, image_stamp_ns=stamp_to_ns(view_msg.image_stamp),
        width_px=view_msg.image_width, height_px=view_msg.image_height,
        boxes_xyxy_px=np.array([list(p.box_xyxy_px) for p in view_msg.people], np.float32).reshape(-1, 4),
        scores=np.array([p.score for p in view_msg.people], np.float32), layout=layout,
        keypoints=np.array(keypoints, np.float32).reshape(len(keypoints), num_joints, 3))


def msg_to_observation(msg) -> MultiViewObservation:
    """scorehmr_ros/MultiViewKeypoints2D -> core MultiViewObservation (validates every array).

    Raises:
        MessageConversionError: naming the view, person and field (arrays of different lengths or not the
            layout's joint count, unknown layout, NaN, confidence outside [0, 1], too many people, ...).
    """
    stamps = [("header.stamp", msg.header.stamp)] + [(f"view {v.camera_name!r} image_stamp", v.image_stamp)
                                                     for v in msg.views]
    for name, stamp in stamps:
        if stamp_to_ns(stamp) < 0:
            raise MessageConversionError(f"{name} is negative ({stamp.sec} s, {stamp.nanosec} ns)")
    try:
        views = tuple(_view_to_observation(view_msg) for view_msg in msg.views)
        return MultiViewObservation(stamp_ns=stamp_to_ns(msg.header.stamp), frame_id=msg.header.frame_id,
                                    views=views, missing_cameras=tuple(msg.missing_cameras))
    except (ObservationError, LayoutError) as error:
        raise MessageConversionError(str(error)) from error


def msg_to_detections(msg) -> MultiViewObservation:
    """A ``detections`` message (boxes to estimate keypoints in) -> MultiViewObservation.

    Beyond :func:`msg_to_observation`: every box must have x_min < x_max and y_min < y_max and overlap its
    image, so that the keypoint estimator never crops outside it.
    """
    observation = msg_to_observation(msg)
    for view in observation.views:
        boxes = view.boxes_xyxy_px  # (P, 4)
        ordered = (boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])
        overlaps = (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & (boxes[:, 0] < view.width_px) & \
            (boxes[:, 1] < view.height_px)
        bad = np.flatnonzero(~(ordered & overlaps))
        if bad.size:
            raise MessageConversionError(
                f"view {view.camera!r} person {int(bad[0])}: box_xyxy_px {boxes[bad[0]].tolist()} must have "
                f"x_min < x_max, y_min < y_max and overlap the {view.width_px}x{view.height_px} image")
    return observation
