"""``scorehmr-ros bench process`` end to end on a tiny recording: the bag it writes is one a camera driver would
write (JPEG, CameraInfo, /tf_static), process fits the person in it, and the table reports what happened."""

import argparse

import pytest

from scorehmr_ros.cli.bench_process import bodies_mpjpe_mm, format_table, write_recording
from scorehmr_ros.cli.main import main
from scorehmr_ros.ros.offline_processing import ProcessConfig, find_cameras, process_bag
from scorehmr_ros.ros.recording import bag_topics


def _args(**overrides) -> argparse.Namespace:
    values = {"people": [1], "frames": 6, "fps": 15.0, "cameras": 3, "width": 540, "height": 960,
              "render_scale": 0.5, "jpeg_quality": 85, "seed": 0, "no_progress": True}
    values.update(overrides)
    return argparse.Namespace(**values)


@pytest.mark.slow
def test_the_recording_is_a_drivers_bag_and_process_tracks_the_person(tmp_path):
    args = _args()
    recording = tmp_path / "rig.mcap.d"
    scene, period_ns = write_recording(recording, people=1, args=args)
    topics = bag_topics(recording)
    assert topics["/tf_static"] == "tf2_msgs/msg/TFMessage"
    cameras = find_cameras(topics)
    assert [c.name for c in cameras] == ["cam0", "cam1", "cam2"] and all(c.compressed and c.info_topic for c in cameras)
    summary = process_bag(recording, tmp_path / "out", config=ProcessConfig(progress=False))
    assert summary.sets == args.frames and summary.bad == {}
    bodies, tracks, mpjpe_mm = bodies_mpjpe_mm(tmp_path / "out", scene, period_ns)
    assert tracks == 1 and bodies >= args.frames - 2  # a new person's first set has no body (confirmations 2)
    assert mpjpe_mm < 150.0  # the STAND-IN body through BlazePose on renders: right person, right place


def test_the_table_names_every_stage_per_set_and_per_person():
    from scorehmr_ros.cli.bench_process import ProcessRun

    run = ProcessRun(people=3, sets=10, wall_s=4.0, stage_s={"decode": 0.5, "perception": 1.0, "fitting": 1.5},
                     bodies=27, tracks=3, mpjpe_mm=31.25)
    table = format_table([run], reference_s=2.0, args=_args())
    assert "reference: 50 x 1024² matmul 2.00 s" in table
    assert table.splitlines()[-1] == "| 3 | 2.50 | 50 | 100 | 150 | 50 | 27 | 3 | 31.2 |"


def test_bench_process_is_a_bench_target(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "process", "--help"])
    assert "--render-scale" in capsys.readouterr().out
