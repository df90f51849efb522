"""Debug drawing: boxes and skeletons of one view on its image (OpenCV, BGR)."""

from __future__ import annotations

import numpy as np

from scorehmr_ros.body.layouts import get_layout
from scorehmr_ros.perception.observations import MultiViewObservation

#: Joints below this confidence are not drawn.
DRAW_MIN_CONFIDENCE = 0.2
_COLORS_BGR = ((0, 200, 255), (255, 120, 0), (80, 220, 80), (200, 80, 255), (0, 80, 255), (255, 255, 0))


def draw_observation(image_bgr: np.ndarray, observation: MultiViewObservation, *, camera: str) -> np.ndarray:
    """A copy of ``image_bgr`` with the boxes and skeletons of ``camera``'s view drawn on it."""
    import cv2

    canvas = image_bgr.copy()
    view = next((v for v in observation.views if v.camera == camera), None)
    if view is None:
        return canvas
    edges = get_layout(view.layout).edges if view.layout else ()
    for person in range(view.num_people):
        color = _COLORS_BGR[person % len(_COLORS_BGR)]
        x0, y0, x1, y1 = (int(round(v)) for v in view.boxes_xyxy_px[person])
        cv2.rectangle(canvas, (x0, y0), (x1, y1), color, 2)
        cv2.putText(canvas, f"{view.scores[person]:.2f}", (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    color, 1, cv2.LINE_AA)
        keypoints = view.keypoints[person]
        seen = keypoints[:, 2] >= DRAW_MIN_CONFIDENCE
        for a, b in edges:
            if seen[a] and seen[b]:
                cv2.line(canvas, tuple(int(v) for v in keypoints[a, :2]), tuple(int(v) for v in keypoints[b, :2]),
                         color, 2, cv2.LINE_AA)
        for x, y, _ in keypoints[seen]:
            cv2.circle(canvas, (int(x), int(y)), 3, (255, 255, 255), -1, cv2.LINE_AA)
    return canvas
