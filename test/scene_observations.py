"""Test helper: a simulated scene's observations as the MultiViewObservation sets a perception front publishes."""

from __future__ import annotations

import numpy as np

from scorehmr_ros.base.units import NS_PER_S
from scorehmr_ros.perception.observations import MultiViewObservation, ViewObservation


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
            keypoints = obs.keypoints_px[t, v, people].reshape(len(people), obs.keypoints_px.shape[3], 3)
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


#: The end-to-end crossing scenario: 4 cameras on a 4.5 m ring, 2 people walking paths that cross at the
#: room centre (one after the other), 5 Hz, and cam1 missing for one second around the crossings.
CROSSING_FPS = 5.0
CROSSING_FRAMES = 24
CROSSING_DROPOUT = ("cam1", 7, 12)  # camera, first frame, frame after the last (5 frames = 1 s at 5 Hz)


def crossing_scenario(body_model, *, start_ns: int = 1_000 * NS_PER_S):
    """(rig, scene, sets) of the crossing scenario; deterministic, so a peer and a test build the same one."""
    from scorehmr_ros.geometry.rigs import ring_rig
    from scorehmr_ros.sim.scene import SceneConfig, generate_scene

    rig = ring_rig(num_cameras=4, radius_m=4.5, height_m=2.0, width_px=640, height_px=480, horizontal_fov_deg=70)
    scene = generate_scene(config=SceneConfig(num_people=2, num_frames=CROSSING_FRAMES, fps=CROSSING_FPS,
                                              clips=("walk",), placement="crossing", seed=3),
                           cameras=rig.cameras, body_model=body_model)
    sets = scene_sets(scene, seed=1, start_ns=start_ns)
    camera, first, stop = CROSSING_DROPOUT
    for t in range(first, stop):
        observation = sets[t]
        sets[t] = MultiViewObservation(stamp_ns=observation.stamp_ns, frame_id=observation.frame_id,
                                       views=tuple(v for v in observation.views if v.camera != camera),
                                       missing_cameras=(*observation.missing_cameras, camera))
    return rig, scene, sets


def restamped(observation: MultiViewObservation, offset_ns: int) -> MultiViewObservation:
    """The set with its stamp and every view's image stamp moved by ``offset_ns`` (a clock jump, a bag loop)."""
    views = tuple(ViewObservation(**{**view.__dict__, "image_stamp_ns": view.image_stamp_ns + offset_ns})
                  for view in observation.views)
    return MultiViewObservation(stamp_ns=observation.stamp_ns + offset_ns, frame_id=observation.frame_id,
                                views=views, missing_cameras=observation.missing_cameras)
