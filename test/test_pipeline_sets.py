"""BodyPipeline's output per input set and the life of a track (ROS-free).

One person leaves mid-run, the other stays, then the room is empty: at 5, 30 and 60 Hz every input set is released
exactly once, ``lag`` sets after it, with only bodies of its own stamp (one per track), and every track that ends
(the tracker's ``prediction_timeout_s``, in seconds) yields exactly one TERMINATED body, its last one. The streaming
fitter used to end unseen tracks by itself after a number of frames, before the tracker at rates above ~15 Hz with
the shipped timeout, and those tracks never got a TERMINATED body.
"""

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from scorehmr_ros.assets.paths import ensure_standin_body_model
from scorehmr_ros.base.units import NS_PER_S
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.body.body_state import TrackingState
from scorehmr_ros.diffusion.checkpoint import load_diffusion_checkpoint
from scorehmr_ros.geometry.rigs import ring_rig
from scorehmr_ros.perception.observations import MultiViewObservation
from scorehmr_ros.pipeline.body_pipeline import BodyPipeline, DuplicateSetError
from scorehmr_ros.pipeline.streaming import StreamingConfig
from scorehmr_ros.pipeline.tracking import TrackerConfig
from scorehmr_ros.sim.scene import SceneConfig, generate_scene

from scene_observations import scene_sets

PRIOR = Path(__file__).resolve().parents[1] / "scorehmr_ros" / "data" / "priors" / "deepmimic_prior.pt"
#: config/scorehmr.yaml's tracking.prediction_timeout_s: an unseen person is kept this long, seconds.
TIMEOUT_S = 1.0
PEOPLE_FRAMES = 16
LEAVES_AT = 6  # person 1 is seen by no camera from this frame on
LAG = StreamingConfig().lag


@pytest.fixture(scope="module")
def models():
    return load_diffusion_checkpoint(PRIOR), BodyModel.from_file(ensure_standin_body_model())


@pytest.fixture(scope="module")
def scene(models):
    rig = ring_rig(num_cameras=4, radius_m=3.5, height_m=2.0, width_px=640, height_px=480, horizontal_fov_deg=60)
    scene = generate_scene(config=SceneConfig(num_people=2, num_frames=PEOPLE_FRAMES, clips=("walk",), seed=3),
                           cameras=rig.cameras, body_model=models[1])
    detected = scene.observations.detected.copy()  # (T, V, P)
    detected[LEAVES_AT:, :, 1] = False
    return rig, replace(scene, observations=replace(scene.observations, detected=detected))


def paced_sets(scene, *, rate_hz: float, empty_sets: int) -> list[MultiViewObservation]:
    """The scene's sets stamped ``1 / rate_hz`` apart (the motion plays faster or slower), then ``empty_sets``
    sets in which every camera sees nobody."""
    sets = scene_sets(scene, seed=1)
    start = sets[0].stamp_ns
    empty = tuple(replace(view, boxes_xyxy_px=np.zeros((0, 4)), scores=np.zeros(0),
                          keypoints=np.zeros((0, *view.keypoints.shape[1:]))) for view in sets[0].views)
    sets += [replace(sets[0], views=empty) for _ in range(empty_sets)]
    out = []
    for k, observation in enumerate(sets):
        stamp = start + round(k * NS_PER_S / rate_hz)
        out.append(replace(observation, stamp_ns=stamp,
                           views=tuple(replace(view, image_stamp_ns=stamp) for view in observation.views)))
    return out


def run(models, rig, sets):
    """(results of process per set, sets of flush)."""
    pipeline = BodyPipeline(cameras=rig.cameras, diffusion=models[0], body_model=models[1],
                            tracker=TrackerConfig(prediction_timeout_s=TIMEOUT_S))
    return [pipeline.process(observation) for observation in sets], pipeline.flush()


def check_sets(sets, results, flushed) -> list:
    """Each input set released exactly once, in order, ``LAG`` sets after it; bodies of its stamp, one per track.
    Returns every released body in release order."""
    for k, result in enumerate(results):
        expected = [sets[k - LAG].stamp_ns] if k >= LAG else []
        assert [fitted.stamp_ns for fitted in result.sets] == expected, f"set {k}"
    released = [fitted for result in results for fitted in result.sets] + list(flushed)
    assert [fitted.stamp_ns for fitted in released] == [observation.stamp_ns for observation in sets]
    bodies = []
    for fitted in released:
        assert all(body.stamp_ns == fitted.stamp_ns for body in fitted.bodies)
        ids = [body.track_id for body in fitted.bodies]
        assert len(ids) == len(set(ids)), f"two bodies of one track at {fitted.stamp_ns}: {ids}"
        bodies += fitted.bodies
    return bodies


def check_terminations(bodies) -> dict[int, int]:
    """Every track has exactly one TERMINATED body, its last; returns track id -> stamp of that body."""
    by_track: dict[int, list] = {}
    for body in bodies:
        by_track.setdefault(body.track_id, []).append(body)
    ended = {}
    for track_id, track in by_track.items():
        states = [body.tracking_state for body in track]
        assert states.count(TrackingState.TERMINATED) == 1, f"track {track_id}: states {[s.name for s in states]}"
        assert states[-1] == TrackingState.TERMINATED, f"track {track_id}: a body after its TERMINATED"
        ended[track_id] = track[-1].stamp_ns
    return ended


@pytest.mark.parametrize("rate_hz", [5.0, 30.0, 60.0])
def test_every_ended_track_has_one_terminated_body_in_its_own_set(models, scene, rate_hz):
    rig, scene = scene
    empty_sets = math.ceil(TIMEOUT_S * rate_hz) + LAG + 2  # both tracks time out, and their sets are released
    sets = paced_sets(scene, rate_hz=rate_hz, empty_sets=empty_sets)
    results, flushed = run(models, rig, sets)
    bodies = check_sets(sets, results, flushed)
    ended = check_terminations(bodies)
    assert len(ended) == 2, f"tracks {sorted(ended)}"
    assert not any(body.tracking_state == TrackingState.TERMINATED for fitted in flushed for body in fitted.bodies)
    # the tracker ends a track in the first set more than TIMEOUT_S after it was last seen
    last_seen = {track_id: max(b.stamp_ns for b in bodies if b.track_id == track_id
                               and b.tracking_state == TrackingState.TRACKED) for track_id in ended}
    period_ns = NS_PER_S / rate_hz
    for track_id, stamp in ended.items():
        unseen_s = (stamp - last_seen[track_id]) / NS_PER_S
        assert TIMEOUT_S < unseen_s <= TIMEOUT_S + 1.5 * period_ns / NS_PER_S, (track_id, unseen_s)
    assert len(set(ended.values())) == 2  # person 1 left first


def test_flush_releases_the_rest_and_ends_live_tracks_once(models, scene):
    rig, scene = scene
    sets = paced_sets(scene, rate_hz=5.0, empty_sets=0)  # the recording ends with person 0 in view
    results, flushed = run(models, rig, sets)
    assert len(flushed) == LAG
    bodies = check_sets(sets, results, flushed)
    ended = check_terminations(bodies)
    assert len(ended) == 2
    # person 0's track ends at the flush, in the last set; person 1's ended by the tracker, mid-run
    assert sorted(ended.values())[-1] == sets[-1].stamp_ns
    assert sorted(ended.values())[0] < sets[-1].stamp_ns


def test_a_duplicated_set_is_refused_without_side_effects(models, scene):
    rig, scene = scene
    sets = paced_sets(scene, rate_hz=10.0, empty_sets=0)[:8]
    pipeline = BodyPipeline(cameras=rig.cameras, diffusion=models[0], body_model=models[1])
    released = []
    for observation in sets:
        released += pipeline.process(observation).sets
        with pytest.raises(DuplicateSetError, match="same stamp"):
            pipeline.process(observation)
    released += pipeline.flush()
    assert [fitted.stamp_ns for fitted in released] == [observation.stamp_ns for observation in sets]
    pairs = [(body.track_id, body.stamp_ns) for fitted in released for body in fitted.bodies]
    assert pairs and len(pairs) == len(set(pairs))
