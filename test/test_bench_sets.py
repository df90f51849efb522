"""bench_sets: timing bookkeeping over a stub front (the rendered run is by hand, see docs/perception.md)."""

import time

import numpy as np
import pytest

from scorehmr_ros.cli.bench_sets import main, markdown_table, time_sets
from scorehmr_ros.perception.backends.types import PersonDetections, PersonKeypoints
from scorehmr_ros.perception.front import CameraFrame, FrontConfig, PerceptionFront

STAGE_S = 0.002


class StubDetector:
    """One person per image, after STAGE_S per image."""

    def detect(self, images):
        time.sleep(STAGE_S * len(images))
        return [PersonDetections(boxes_xyxy_px=np.array([[10, 10, 50, 90]], np.float32),
                                 scores=np.array([0.9], np.float32)) for _ in images]


class StubEstimator:
    """COCO-17 keypoints at the box centre for every detected person, after STAGE_S per person."""

    def estimate(self, images, detections):
        time.sleep(STAGE_S * sum(d.boxes_xyxy_px.shape[0] for d in detections))
        return [PersonKeypoints(layout="coco17", keypoints_px=np.full((1, 17, 2), 30, np.float32),
                                confidence=np.ones((1, 17), np.float32), boxes_xyxy_px=d.boxes_xyxy_px,
                                scores=d.scores) for d in detections]


def make_sets(*, num_sets: int, num_cameras: int) -> list[list[CameraFrame]]:
    image = np.zeros((120, 160, 3), np.uint8)
    return [[CameraFrame(camera=f"cam{v}", frame_id=f"cam{v}_optical_frame", stamp_ns=t * 100_000_000,
                         image_bgr=image) for v in range(num_cameras)] for t in range(num_sets)]


def test_timings_count_sets_views_and_people():
    front = PerceptionFront(detector=StubDetector(), estimator=StubEstimator(), config=FrontConfig())
    sets = make_sets(num_sets=6, num_cameras=4)
    one, four = (time_sets(front, sets, num_cameras=count, warmup=2) for count in (1, 4))
    assert one.num_sets == four.num_sets == 4 and one.latency_ms.shape == (4,)
    assert one.people_per_view == four.people_per_view == 1.0
    # Each stage scales with the views (2 ms per view and per person here); latency covers both stages.
    assert np.all(four.detect_ms >= 4 * STAGE_S * 1e3) and np.all(four.keypoints_ms >= 4 * STAGE_S * 1e3)
    assert np.all(four.latency_ms >= four.detect_ms + four.keypoints_ms)
    assert four.sets_per_s == pytest.approx(4 / (four.latency_ms.sum() * 1e-3))
    table = markdown_table([one, four]).splitlines()
    assert len(table) == 4 and table[2].startswith("| 1 |") and table[3].startswith("| 4 |")


def test_bad_requests_are_refused():
    front = PerceptionFront(detector=StubDetector(), estimator=StubEstimator(), config=FrontConfig())
    with pytest.raises(ValueError, match=r"num_cameras: must be in \[1, 2\]"):
        time_sets(front, make_sets(num_sets=4, num_cameras=2), num_cameras=3)
    with pytest.raises(ValueError, match="need more than warmup=2 sets"):
        time_sets(front, make_sets(num_sets=2, num_cameras=2), num_cameras=1)
    with pytest.raises(SystemExit):
        main(["--cameras", "1,x"])
    with pytest.raises(SystemExit):
        main(["--frames", "2"])


def test_landmark_model_sizes_are_names_of_the_known_sizes(capsys):
    import argparse

    from scorehmr_ros.cli.arg_types import str_list

    parse = str_list(choices=("full", "lite", "heavy"))
    assert parse("full, lite,heavy") == ["full", "lite", "heavy"]
    with pytest.raises(argparse.ArgumentTypeError, match="unknown: 'medium'"):
        parse("lite,medium")
    with pytest.raises(SystemExit):
        main(["--landmark-models", "full,medium"])
    assert "--landmark-models: expected comma-separated names of full, lite, heavy; unknown: 'medium'" in \
        capsys.readouterr().err


def test_a_landmark_model_not_installed_is_one_line_before_rendering(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SCOREHMR_DATA_ROOT", str(tmp_path))
    with pytest.raises(SystemExit) as stopped:
        main(["--cameras", "1", "--frames", "3", "--landmark-models", "full,lite"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("bench_sets: BlazePose landmark model 'lite' not installed") and "models fetch" in err
