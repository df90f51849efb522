"""Test helper: a simulated scene's observations as the MultiViewObservation sets a perception front publishes."""

from __future__ import annotations

import numpy as np

from scorehmr_ros.perception.observations import MultiViewObservation, ViewObservation

NS_PER_S = 1_000_000_000


def scene_sets(scene, *, seed: int = 0, start_ns: int = 1_000 * NS_PER_S) -> list[MultiViewObservation]:
    """One set per frame; each view lists only the people it detected, in a shuffled order, with a box."""
    rng = np.random.default_rng(seed)
    obs = scene.observations
    sets = []
    for t in range(obs.keypoints_px.shape[0]):
        stamp = start_ns + round(t * NS_PER_S / scene.fps)
        views, missing = [], []
        for v, camera in enumerate(scene.cameras):
            if not obs.view_present[t, v]:
                missing.append(camera.name)
                continue
            people = [p for p in rng.permutation(obs.keypoints_px.shape[2]) if obs.detected[t, v, p]]
            keypoints = obs.keypoints_px[t, v, people].reshape(len(people), -1, 3)
            boxes = []
            for person in keypoints:
                seen = person[person[:, 2] > 0, :2]
                boxes.append(np.concatenate([seen.min(0), seen.max(0)]) if len(seen) else np.zeros(4))
            views.append(ViewObservation(
                camera=camera.name, frame_id=camera.frame_id, image_stamp_ns=stamp, width_px=camera.width_px,
                height_px=camera.height_px, boxes_xyxy_px=np.array(boxes).reshape(-1, 4),
                scores=np.full(len(people), 0.9), layout=obs.layout, keypoints=keypoints))
        sets.append(MultiViewObservation(stamp_ns=stamp, frame_id=scene.world_frame, views=tuple(views),
                                         missing_cameras=tuple(missing)))
    return sets
