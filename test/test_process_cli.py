"""``scorehmr-ros process`` on bags the test records itself: rendered people on the demo4 rig (raw images with
CameraInfo and /tf_static in MCAP; JPEG images with a rig YAML in sqlite3), bodies for both people in the output."""

import logging
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import Image
from tf2_msgs.msg import TFMessage

from scorehmr_ros.assets.paths import ensure_standin_body_model
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.cli.main import main
from scorehmr_ros.geometry.rig_io import save_rig
from scorehmr_ros.geometry.rigs import Rig
from scorehmr_ros.ros.geometry_conversions import camera_to_camera_info, msg_to_body, ns_to_stamp, stamp_to_ns
from scorehmr_ros.ros.image_conversions import numpy_to_compressed, numpy_to_image
from scorehmr_ros.ros.nodes.rig_tf_node import rig_static_transforms
from scorehmr_ros.ros.offline_processing import CameraTopics, ProcessError, find_cameras
from scorehmr_ros.ros.recording import BagWriter, TopicSpec, bag_topics, read_bag
from scorehmr_ros.sim.live_rig import SimRigConfig, build_scene, published_cameras, render_rig_frames

FRAMES = 7
FPS = 7.5
START_NS = 1_700_000_000_000_000_000
PERIOD_NS = int(1e9 / FPS)


@pytest.fixture(scope="module")
def recording():
    """The demo4 scene (2 people walking), rendered: (scene, cameras, images[t][v] bgr8)."""
    config = SimRigConfig(rig="demo4", num_people=2, clips=("walk",), num_frames=FRAMES, fps=FPS, seed=0)
    body_model = BodyModel.from_file(ensure_standin_body_model())
    scene = build_scene(config, body_model)
    cameras = published_cameras(scene, render_scale=1.0)
    images = render_rig_frames(scene, body_model, cameras=cameras, painting="clothed", encoding="bgr8")
    return scene, cameras, images


def write_camera_bag(path: Path, recording, *, storage: str, compressed: bool, tf_static: bool,
                     corrupt: bool = False) -> None:
    """The rendered frames as a camera driver records them (images arrive 5-25 ms after their stamp)."""
    scene, cameras, images = recording
    suffix, image_type = ("/compressed", "sensor_msgs/msg/CompressedImage") if compressed else \
        ("", "sensor_msgs/msg/Image")
    specs = [TopicSpec(f"/{c.name}/image_raw{suffix}", image_type, "sensor_data") for c in cameras]
    specs += [TopicSpec(f"/{c.name}/camera_info", "sensor_msgs/msg/CameraInfo", "sensor_data") for c in cameras]
    if tf_static:
        specs.append(TopicSpec("/tf_static", "tf2_msgs/msg/TFMessage", "static"))
    with BagWriter(path, topics=specs, storage=storage) as writer:
        if tf_static:
            rig = Rig(name="demo4", cameras=cameras, world_frame=scene.world_frame)
            writer.write_message("/tf_static", rig_static_transforms(rig, stamp_ns=START_NS), timestamp_ns=START_NS)
        for t, views in enumerate(images):
            stamp_ns = START_NS + t * PERIOD_NS
            for v, (camera, image) in enumerate(zip(cameras, views, strict=True)):
                arrival_ns = stamp_ns + (5 + 5 * v) * 1_000_000
                msg = numpy_to_compressed(image, encoding="bgr8") if compressed else numpy_to_image(image,
                                                                                                      encoding="bgr8")
                msg.header.stamp, msg.header.frame_id = ns_to_stamp(stamp_ns), camera.frame_id
                if corrupt and t == 2 and v == 1:  # a truncated image: counted, skipped, never fatal
                    msg = Image(height=480, width=640, encoding="bgr8", step=1920, data=b"\x00" * 100)
                    msg.header.stamp = ns_to_stamp(stamp_ns)
                writer.write_message(f"/{camera.name}/image_raw{suffix}", msg, timestamp_ns=arrival_ns)
                writer.write_message(f"/{camera.name}/camera_info", camera_to_camera_info(camera, stamp_ns=stamp_ns),
                                     timestamp_ns=arrival_ns)


def check_bodies_follow_the_people(output: Path, scene) -> dict[int, int]:
    """Every body is within 0.25 m (pelvis) of a ground-truth person at its frame; returns track -> person."""
    truth = scene.ground_truth.smpl_joints_world_m  # (P, T, 24, 3)
    person_of_track: dict[int, set[int]] = {}
    for message in read_bag(output, topics=["/humans/bodies"]):
        for body in map(msg_to_body, message.message.bodies):
            frame = round((body.stamp_ns - START_NS) / PERIOD_NS)
            distances = np.linalg.norm(truth[:, frame, 0] - body.joints_world_m[0], axis=-1)
            person = int(np.argmin(distances))
            assert distances[person] < 0.25, f"track {body.track_id} frame {frame}: pelvis {distances[person]:.2f} m"
            person_of_track.setdefault(body.track_id, set()).add(person)
    assert all(len(people) == 1 for people in person_of_track.values()), person_of_track  # no id switches
    return {track: people.pop() for track, people in person_of_track.items()}


def check_one_message_per_set(output: Path, set_stamps: list[int]) -> None:
    """One bodies message per input set, in order, with the set's stamp (the sets still in the fixed lag at the end
    of the bag included), carrying only that stamp's bodies, one per track; /tf and mesh messages never mix stamps
    or repeat a frame."""
    messages = [m.message for m in read_bag(output, topics=["/humans/bodies"])]
    assert [stamp_to_ns(m.header.stamp) for m in messages] == set_stamps
    for msg in messages:
        assert {stamp_to_ns(body.stamp) for body in msg.bodies} <= {stamp_to_ns(msg.header.stamp)}
        assert len({body.track_id for body in msg.bodies}) == len(msg.bodies)
    for message in read_bag(output, topics=["/tf", "/humans/meshes"]):
        items = message.message.transforms if message.topic == "/tf" else message.message.markers
        assert len({stamp_to_ns(item.header.stamp) for item in items}) == 1, message.topic
        names = [item.child_frame_id if message.topic == "/tf" else item.id for item in items]
        assert len(names) == len(set(names)), f"{message.topic}: {names}"


def test_process_mcap_with_tf_static_writes_bodies_for_both_people(tmp_path, recording, caplog):
    source, output = tmp_path / "cameras", tmp_path / "out"
    write_camera_bag(source, recording, storage="mcap", compressed=False, tf_static=True, corrupt=True)
    with caplog.at_level(logging.INFO):
        assert main(["process", str(source), str(output), "--no-progress", "--min-cameras", "3"]) == 0
    summary = caplog.records[-1].getMessage()
    assert "28 images from 4 cameras" in summary and "undecodable_image 1" in summary, summary
    topics = bag_topics(output)
    assert {"/humans/detections", "/humans/keypoints2d", "/humans/bodies", "/humans/meshes", "/tf",
            "/tf_static"} <= set(topics)
    person_of_track = check_bodies_follow_the_people(output, recording[0])
    assert sorted(person_of_track.values()) == [0, 1]  # one track per person
    assert sorted(person_of_track) == [0, 1]  # a recording's tracks count from 0: the same bag, the same ids
    counts = {topic: 0 for topic in topics}
    frames = set()
    for message in read_bag(output):
        counts[message.topic] += 1
        if message.topic == "/tf":
            frames |= {t.child_frame_id for t in message.message.transforms}
    assert counts["/humans/keypoints2d"] == FRAMES and counts["/humans/meshes"] >= 2
    check_one_message_per_set(output, [START_NS + t * PERIOD_NS for t in range(FRAMES)])
    assert {f"body_{track}" for track in person_of_track} <= frames
    (static,) = [m.message for m in read_bag(output, topics=["/tf_static"])]
    assert isinstance(static, TFMessage) and len(static.transforms) == 4
    logging.getLogger(__name__).info("process: %s", summary)


def test_process_sqlite3_jpeg_with_a_rig_file(tmp_path, recording, caplog):
    scene, cameras, _ = recording
    source, output, rig_file = tmp_path / "cameras", tmp_path / "out", tmp_path / "rig.yaml"
    write_camera_bag(source, recording, storage="sqlite3", compressed=True, tf_static=False)
    save_rig(Rig(name="demo4", cameras=cameras, world_frame="map"), rig_file)
    with caplog.at_level(logging.INFO):
        assert main(["process", str(source), str(output), "--rig", str(rig_file), "--storage", "sqlite3",
                     "--no-progress", "--cameras", "cam0", "cam1", "cam3"]) == 0
    summary = caplog.records[-1].getMessage()
    assert "21 images from 3 cameras" in summary and "bad messages: none" in summary, summary
    assert sorted(check_bodies_follow_the_people(output, scene).values()) == [0, 1]
    stamps = [stamp_to_ns(m.message.header.stamp) for m in read_bag(output, topics=["/humans/keypoints2d"])]
    assert stamps == [START_NS + t * PERIOD_NS for t in range(FRAMES)]  # bag time, every set
    check_one_message_per_set(output, stamps)


def test_a_bag_without_calibration_fails_naming_what_is_missing(tmp_path, recording, caplog):
    source = tmp_path / "cameras"
    write_camera_bag(source, recording, storage="mcap", compressed=False, tf_static=False)
    assert main(["process", str(source), str(tmp_path / "out"), "--no-progress"]) == 2
    assert "cam0: no pose map -> cam0_optical_frame on /tf_static" in caplog.text and "--rig" in caplog.text


def test_camera_discovery_by_topic():
    topics = {"/cam0/image_raw": "sensor_msgs/msg/Image", "/cam0/camera_info": "sensor_msgs/msg/CameraInfo",
              "/cam0/image_raw/compressed": "sensor_msgs/msg/CompressedImage",
              "/robot/front/image_raw/compressed": "sensor_msgs/msg/CompressedImage",
              "/robot/front/camera_info": "sensor_msgs/msg/CameraInfo",
              "/cam9/image_raw": "std_msgs/msg/String", "/tf_static": "tf2_msgs/msg/TFMessage"}
    assert find_cameras(topics) == [
        CameraTopics("cam0", "/cam0/image_raw", False, "/cam0/camera_info"),
        CameraTopics("robot_front", "/robot/front/image_raw/compressed", True, "/robot/front/camera_info")]
    with pytest.raises(ProcessError, match=r"cameras \['cam2'\] are not in the bag"):
        find_cameras(topics, wanted=("cam0", "cam2"))
