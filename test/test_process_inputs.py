"""``scorehmr-ros process``: a params file changes what it does, a corrupt chunk is skipped with a warning, and
a bad file is one error line with a non-zero exit status (no traceback)."""

import logging

from rosbags.rosbag2 import Reader
from test_process_cli import FRAMES, recording, write_camera_bag  # noqa: F401 (fixture)

from scorehmr_ros.cli.main import main
from scorehmr_ros.ros.keypoint_conversions import msg_to_observation
from scorehmr_ros.ros.recording import read_bag


def _people_per_view(output) -> list[int]:
    counts = []
    for message in read_bag(output, topics=["/humans/detections"]):
        observation = msg_to_observation(message.message)
        counts += [view.boxes_xyxy_px.shape[0] for view in observation.views]
    return counts


def test_a_params_file_changes_what_process_does(tmp_path, recording, caplog):  # noqa: F811
    source = tmp_path / "cameras"
    write_camera_bag(source, recording, storage="mcap", compressed=False, tf_static=True)
    params = tmp_path / "perception.yaml"
    params.write_text("person_detector:\n  ros__parameters:\n    detector:\n      max_people: 1\n", encoding="utf-8")
    with caplog.at_level(logging.INFO):
        assert main(["process", str(source), str(tmp_path / "default"), "--no-progress", "--max-sets", "3"]) == 0
        assert main(["process", str(source), str(tmp_path / "tuned"), "--no-progress", "--max-sets", "3",
                     "--params-file", str(params)]) == 0
    assert max(_people_per_view(tmp_path / "default")) == 2  # both people are seen in some view
    assert max(_people_per_view(tmp_path / "tuned")) == 1
    assert f"person_detector detector.max_people=1 ({params})" in caplog.text


def test_a_bad_params_file_key_is_one_error_line(tmp_path, recording, caplog):  # noqa: F811
    source = tmp_path / "cameras"
    write_camera_bag(source, recording, storage="mcap", compressed=False, tf_static=True)
    params = tmp_path / "scorehmr.yaml"
    params.write_text("scorehmr:\n  ros__parameters:\n    tracking:\n      timeout: 1.0\n", encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        assert main(["process", str(source), str(tmp_path / "out"), "--params-file", str(params)]) == 2
    (record,) = caplog.records
    assert str(params) in record.getMessage() and "'tracking.timeout'" in record.getMessage()
    assert record.exc_info is None and not (tmp_path / "out").exists()


def test_a_missing_prior_is_one_error_line(tmp_path, recording, caplog):  # noqa: F811
    source = tmp_path / "cameras"
    write_camera_bag(source, recording, storage="mcap", compressed=False, tf_static=True)
    with caplog.at_level(logging.ERROR):
        assert main(["process", str(source), str(tmp_path / "out"), "--no-progress",
                     "--prior-path", str(tmp_path / "absent.pt")]) == 2
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [
        f"diffusion checkpoint not found: {tmp_path / 'absent.pt'}"]


def test_a_corrupt_chunk_is_skipped_and_the_rest_processed(tmp_path, recording, caplog):  # noqa: F811
    source = tmp_path / "cameras"
    write_camera_bag(source, recording, storage="mcap", compressed=False, tf_static=True)
    with Reader(source) as reader:
        (storage,) = reader.storage.storages
        chunks = list(storage.chunks)
        image_connections = {c.id for c in storage.connections if c.topic.endswith("/image_raw")}
    middle = chunks[len(chunks) // 2]
    lost_images = sum(n for cid, n in middle.channel_count.items() if cid in image_connections)
    assert 0 < lost_images < FRAMES * 4
    mcap = next(source.glob("*.mcap"))
    raw = bytearray(mcap.read_bytes())
    raw[middle.chunk_start_offset + 1 + 8 + 40 + len(middle.compression) + middle.compressed_size // 2] ^= 0xFF
    mcap.write_bytes(bytes(raw))
    with caplog.at_level(logging.INFO):
        assert main(["process", str(source), str(tmp_path / "out"), "--no-progress"]) == 0
    summary = caplog.records[-1].getMessage()
    assert f"{FRAMES * 4 - lost_images} images from 4 cameras" in summary and "corrupt_chunk 1" in summary, summary
    assert "skipped a corrupt chunk" in caplog.text
    assert len(list(read_bag(tmp_path / "out", topics=["/humans/bodies"]))) > 0
