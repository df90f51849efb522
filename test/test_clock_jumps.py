"""Clock jumps in the ROS-free pipeline: a bag loop, a +1 h jump and a driver restart each end the tracks once and
start afresh, with bodies again within one window; and the image buffer and synchronizer follow a new time line."""

from pathlib import Path

import pytest

from scorehmr_ros.assets.paths import ensure_standin_body_model
from scorehmr_ros.base.units import NS_PER_S
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.body.body_state import TrackingState
from scorehmr_ros.diffusion.checkpoint import load_diffusion_checkpoint
from scorehmr_ros.geometry.rigs import ring_rig
from scorehmr_ros.perception.synchronizer import NWaySynchronizer, SyncConfig
from scorehmr_ros.pipeline.body_pipeline import BodyPipeline
from scorehmr_ros.pipeline.streaming import StreamingConfig
from scorehmr_ros.pipeline.tracking import TrackerConfig
from scorehmr_ros.sim.scene import SceneConfig, generate_scene

from scene_observations import restamped, scene_sets

PRIOR = Path(__file__).resolve().parents[1] / "scorehmr_ros" / "data" / "priors" / "deepmimic_prior.pt"
HOUR_NS = 3600 * NS_PER_S


@pytest.fixture(scope="module")
def scene_and_sets():
    body_model = BodyModel.from_file(ensure_standin_body_model())
    rig = ring_rig(num_cameras=4, radius_m=3.5, height_m=2.0, width_px=640, height_px=480, horizontal_fov_deg=60)
    scene = generate_scene(config=SceneConfig(num_people=2, num_frames=10, clips=("walk", "run"), seed=3),
                           cameras=rig.cameras, body_model=body_model)
    return rig, body_model, scene_sets(scene, seed=1)


def run_until_bodies(pipeline, sets):
    """Process ``sets`` in order; return (number of sets until the first live body came out, the results)."""
    results, first = [], None
    for number, observation in enumerate(sets, start=1):
        results.append(pipeline.process(observation))
        if first is None and any(b.tracking_state != TrackingState.TERMINATED for b in results[-1].bodies):
            first = number
    return first, results


@pytest.mark.parametrize("jump", ["bag loop", "+1 h", "driver restart"])
def test_a_clock_jump_ends_the_tracks_once_and_bodies_come_again_within_one_window(scene_and_sets, jump):
    rig, body_model, sets = scene_and_sets
    streaming = StreamingConfig()
    pipeline = BodyPipeline(cameras=rig.cameras, diffusion=load_diffusion_checkpoint(PRIOR), body_model=body_model,
                            tracker=TrackerConfig(first_track_id=0), streaming=streaming)
    before, results = run_until_bodies(pipeline, sets)
    assert before is not None and not any(r.clock_jump for r in results)
    ids_before = {b.track_id for r in results for b in r.bodies}
    offset_ns = {"bag loop": 0,  # the same stamps again
                 "+1 h": sets[-1].stamp_ns - sets[0].stamp_ns + HOUR_NS,
                 "driver restart": 5 * NS_PER_S - sets[0].stamp_ns}[jump]  # a clock that restarted near zero
    after, results = run_until_bodies(pipeline, [restamped(s, offset_ns) for s in sets])
    jumps = [r.clock_jump for r in results if r.clock_jump]
    assert len(jumps) == 1 and results[0].clock_jump, jumps  # the first set after the jump, once
    assert ("jumped forward" if jump == "+1 h" else "went back") in jumps[0]
    # every track of the old time line ended with one TERMINATED body, stamped on the old time line
    ended = [b for b in results[0].bodies if b.tracking_state == TrackingState.TERMINATED]
    assert {b.track_id for b in ended} == ids_before and len(ended) == len(ids_before)
    assert all(b.stamp_ns <= sets[-1].stamp_ns for b in results[0].bodies)
    assert after is not None and after <= streaming.window, f"bodies again after {after} sets"
    live_after = {b.track_id for r in results[1:] for b in r.bodies}  # the new time line's
    assert live_after and not live_after & ids_before  # new tracks, new ids


def test_small_gaps_continue_the_tracks(scene_and_sets):
    rig, body_model, sets = scene_and_sets
    pipeline = BodyPipeline(cameras=rig.cameras, diffusion=load_diffusion_checkpoint(PRIOR), body_model=body_model,
                            tracker=TrackerConfig(first_track_id=0, clock_jump_s=3.0))
    pipeline.process(sets[0])
    assert pipeline.clock_jump(sets[0].stamp_ns + 3 * NS_PER_S) == ""  # a 3 s gap: not beyond the threshold
    assert "jumped forward by 3.001 s" in pipeline.clock_jump(sets[0].stamp_ns + 3 * NS_PER_S + 1_000_000)
    assert pipeline.clock_jump(sets[0].stamp_ns - 1) == "set stamps went back by 0.000 s"
    results = [pipeline.process(s) for s in sets[1:]]
    assert not any(r.clock_jump for r in results)


def test_the_image_buffer_forgets_a_camera_whose_stamps_go_back():
    from scorehmr_ros.ros.image_buffer import StampedBuffer

    buffer = StampedBuffer(["cam0", "cam1"], capacity=5)
    for stamp_ns in (100, 200, 300):
        buffer.add("cam0", stamp_ns, f"old {stamp_ns}")
        buffer.add("cam1", stamp_ns, f"old {stamp_ns}")
    buffer.add("cam0", 100, "new 100")  # a bag loop replays the same stamps with new images
    assert buffer.lookup("cam0", 100, tolerance_ns=0) == "new 100"
    assert buffer.lookup("cam0", 300, tolerance_ns=0) is None and buffer.newest_stamp_ns("cam0") == 100
    assert buffer.lookup("cam1", 300, tolerance_ns=0) == "old 300"  # another camera keeps its images


def test_the_synchronizer_survives_one_future_stamp_and_a_loop():
    sync = NWaySynchronizer(SyncConfig(camera_names=("a", "b")))
    now_ns = 0

    def add(camera, stamp_ns):
        nonlocal now_ns
        now_ns += 10_000_000
        return sync.add(camera, stamp_ns, camera, now_ns=now_ns)

    assert [s.stamp_ns for s in add("a", NS_PER_S) + add("b", NS_PER_S)] == [NS_PER_S]
    add("a", NS_PER_S + HOUR_NS)  # one message stamped an hour ahead
    emitted = []
    for step in range(2, 6):
        emitted += add("a", step * NS_PER_S) + add("b", step * NS_PER_S)
    assert [s.stamp_ns for s in emitted][-3:] == [3 * NS_PER_S, 4 * NS_PER_S, 5 * NS_PER_S]
    emitted = []
    for step in range(1, 4):  # a loop back to the start
        emitted += add("a", step * NS_PER_S) + add("b", step * NS_PER_S)
    assert [s.stamp_ns for s in emitted][-2:] == [2 * NS_PER_S, 3 * NS_PER_S]
