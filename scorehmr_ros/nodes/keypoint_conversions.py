"""MultiViewKeypoints2D <-> core MultiViewObservation."""

from __future__ import annotations

import numpy as np

from scorehmr_ros.nodes.geometry_conversions import MessageConversionError, ns_to_stamp, stamp_to_ns
from scorehmr_ros.perception.layouts import LayoutError
from scorehmr_ros.perception.observations import MultiViewObservation, ObservationError, ViewObservation


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


def msg_to_observation(msg) -> MultiViewObservation:
    """scorehmr_ros/MultiViewKeypoints2D -> core MultiViewObservation (validates every array)."""
    views = []
    try:
        for view_msg in msg.views:
            layouts = {person.keypoint_layout for person in view_msg.people}
            if len(layouts) > 1:
                raise MessageConversionError(
                    f"view {view_msg.camera_name!r}: people in different keypoint layouts {sorted(layouts)}")
            layout = layouts.pop() if layouts else ""
            keypoints = []
            for index, person in enumerate(view_msg.people):
                lengths = {len(person.keypoints_x_px), len(person.keypoints_y_px), len(person.keypoints_confidence)}
                if len(lengths) != 1:
                    raise MessageConversionError(
                        f"view {view_msg.camera_name!r} person {index}: keypoint arrays of different lengths "
                        f"(x {len(person.keypoints_x_px)}, y {len(person.keypoints_y_px)}, "
                        f"confidence {len(person.keypoints_confidence)})")
                keypoints.append(np.stack([np.asarray(person.keypoints_x_px), np.asarray(person.keypoints_y_px),
                                           np.asarray(person.keypoints_confidence)], axis=-1))
            views.append(ViewObservation(
                camera=view_msg.camera_name, frame_id=view_msg.frame_id,
                image_stamp_ns=stamp_to_ns(view_msg.image_stamp), width_px=view_msg.image_width,
                height_px=view_msg.image_height,
                boxes_xyxy_px=np.array([list(p.box_xyxy_px) for p in view_msg.people], np.float32).reshape(-1, 4),
                scores=np.array([p.score for p in view_msg.people], np.float32), layout=layout,
                keypoints=np.array(keypoints, np.float32) if keypoints else np.zeros((0, 0, 3), np.float32)))
        return MultiViewObservation(stamp_ns=stamp_to_ns(msg.header.stamp), frame_id=msg.header.frame_id,
                                    views=tuple(views), missing_cameras=tuple(msg.missing_cameras))
    except (ObservationError, LayoutError) as error:
        raise MessageConversionError(str(error)) from error
