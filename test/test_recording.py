"""rosbag2 writing and reading without ROS: every message type we use through MCAP and sqlite3, and the
recorder node on a real graph."""

import json
import sys
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.ros.geometry_conversions import camera_to_camera_info
from scorehmr_ros.ros.recording import (
    STORAGES,
    BagError,
    BagWriter,
    TopicSpec,
    bag_topics,
    default_qos_kind,
    message_class,
    parse_topic_spec,
    read_bag,
    type_name,
)

from ros_harness import wait_until

sys.path.insert(0, str(Path(__file__).parent / "ros_peers"))
from example_messages import field_differences, large_image, multiview_keypoints, smpl_body_array, tf_message  # noqa: E402


def marker_array() -> MarkerArray:
    marker = Marker(ns="body", id=3, type=Marker.TRIANGLE_LIST, action=Marker.ADD)
    marker.header.frame_id = "map"
    marker.points = [Point(x=float(i), y=0.5 * i, z=-1.0) for i in range(6)]
    marker.colors = [ColorRGBA(r=0.1 * i, g=0.2, b=0.3, a=1.0) for i in range(6)]
    marker.scale.x = marker.scale.y = marker.scale.z = 1.0
    return MarkerArray(markers=[marker, Marker(ns="body", id=4, action=Marker.DELETE)])


def diagnostic_array() -> DiagnosticArray:
    status = DiagnosticStatus(level=DiagnosticStatus.WARN, name="scorehmr: fitter", message="slow",
                              values=[KeyValue(key="latency_p50_ms", value="41.5")])
    return DiagnosticArray(status=[status])


def camera_info():
    camera = Camera(name="cam0", K=[[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]], width_px=640, height_px=480)
    return camera_to_camera_info(camera, stamp_ns=1_700_000_000_123)


#: Topic -> message of every type the project records.
EXAMPLES = {
    "/cam0/image_raw": large_image(3, height=48, width=64),
    "/cam0/camera_info": camera_info(),
    "/tf_static": tf_message(),
    "/humans/meshes": marker_array(),
    "/humans/keypoints2d": multiview_keypoints(),
    "/humans/smpl": smpl_body_array(),
    "/diagnostics": diagnostic_array(),
}


def rosidl_type_hash(msg_type: str) -> str:
    """The RIHS01 hash rosidl generated for the installed interface (share/<pkg>/msg/<Type>.json)."""
    package, _, name = msg_type.split("/")
    path = Path(sys.prefix) / "share" / package / "msg" / f"{name}.json"
    hashes = json.loads(path.read_text())["type_hashes"]
    return next(entry["hash_string"] for entry in hashes if entry["type_name"] == msg_type)


def write_examples(path: Path, storage: str) -> None:
    specs = [TopicSpec(topic, type_name(type(msg)), default_qos_kind(topic)) for topic, msg in EXAMPLES.items()]
    with BagWriter(path, topics=specs, storage=storage) as writer:
        for repeat in range(2):
            for index, (topic, msg) in enumerate(EXAMPLES.items()):
                writer.write_message(topic, msg, timestamp_ns=1_000 + 100 * repeat + index)
    assert writer.closed and writer.counts == dict.fromkeys(EXAMPLES, 2)


@pytest.mark.parametrize("storage", STORAGES)
def test_every_message_type_round_trips_with_ros_bytes(tmp_path, storage):
    path = tmp_path / "bag"
    write_examples(path, storage)
    messages = list(read_bag(path))
    assert [m.timestamp_ns for m in messages] == sorted(m.timestamp_ns for m in messages)
    assert [m.topic for m in messages] == list(EXAMPLES) * 2
    for message in messages:
        expected = EXAMPLES[message.topic]
        assert message.msg_type == type_name(type(expected))
        assert field_differences(expected, message.message) == [], message.topic
    assert bag_topics(path) == {topic: type_name(type(msg)) for topic, msg in EXAMPLES.items()}


@pytest.mark.parametrize("storage", STORAGES)
def test_bags_carry_definitions_hashes_and_qos(tmp_path, storage):
    from rosbags.rosbag2 import Reader

    path = tmp_path / "bag"
    write_examples(path, storage)
    with Reader(path) as reader:
        connections = {c.topic: c for c in reader.connections}
    assert (path / "metadata.yaml").is_file()
    for topic, msg in EXAMPLES.items():
        connection = connections[topic]
        assert connection.digest == rosidl_type_hash(type_name(type(msg))), topic
        assert connection.msgdef.data.strip(), topic
    assert "SMPLBody[] bodies" in connections["/humans/smpl"].msgdef.data
    assert "MSG: scorehmr_ros/SMPLBody" in connections["/humans/smpl"].msgdef.data  # nested definitions included
    qos = {topic: c.ext.offered_qos_profiles[0] for topic, c in connections.items()}
    assert qos["/tf_static"].durability.name == "TRANSIENT_LOCAL" and qos["/tf_static"].depth == 1
    assert qos["/cam0/image_raw"].reliability.name == "BEST_EFFORT"
    assert qos["/humans/smpl"].reliability.name == "RELIABLE"
    if storage == "mcap":
        raw = (path / "bag.mcap").read_bytes()
        assert raw.startswith(b"\x89MCAP0\r\n") and b"ros2msg" in raw and b"scorehmr_ros/msg/SMPLBodyArray" in raw


def test_read_bag_filters_topics_and_names_missing_ones(tmp_path):
    path = tmp_path / "bag"
    write_examples(path, "mcap")
    assert {m.topic for m in read_bag(path, topics=["/humans/smpl"])} == {"/humans/smpl"}
    with pytest.raises(BagError, match=r"has no topics \['/nope'\]"):
        list(read_bag(path, topics=["/nope"]))
    with pytest.raises(BagError, match="cannot read bag"):
        list(read_bag(tmp_path / "absent"))


def test_writer_refuses_bad_input(tmp_path):
    path = tmp_path / "bag"
    write_examples(path, "sqlite3")
    with pytest.raises(BagError, match="cannot create bag"):
        BagWriter(path, topics=[])
    with pytest.raises(BagError, match="storage must be one of mcap, sqlite3"):
        BagWriter(tmp_path / "other", storage="rosbag1")
    with pytest.raises(BagError, match="no .msg definitions found for package 'nosuch_msgs'"):
        BagWriter(tmp_path / "third", topics=[TopicSpec("/x", "nosuch_msgs/msg/Thing")])
    with BagWriter(tmp_path / "fourth", topics=[TopicSpec("/a", "std_msgs/msg/Header")]) as writer:
        with pytest.raises(BagError, match="topic /b was not added"):
            writer.write("/b", b"", timestamp_ns=0)
        with pytest.raises(BagError, match="already in bag"):
            writer.add_topic(TopicSpec("/a", "std_msgs/msg/Header"))
        writer.add_topic(TopicSpec("/late", "scorehmr_ros/msg/SMPLBodyArray"))  # a package added after opening
        writer.write_message("/late", smpl_body_array(), timestamp_ns=5)
    assert [m.topic for m in read_bag(tmp_path / "fourth")] == ["/late"]


def test_topic_specs_and_types():
    assert parse_topic_spec("/cam0/image_raw=sensor_msgs/msg/Image") == TopicSpec(
        "/cam0/image_raw", "sensor_msgs/msg/Image", "sensor_data")
    assert parse_topic_spec("/tf_static=tf2_msgs/msg/TFMessage").qos == "static"
    assert parse_topic_spec("x=std_msgs/msg/Header@sensor_data").qos == "sensor_data"
    with pytest.raises(BagError, match="expected 'topic=package/msg/Type"):
        parse_topic_spec("/cam0/image_raw")
    with pytest.raises(BagError, match="qos of x: must be one of"):
        parse_topic_spec("x=std_msgs/msg/Header@fast")
    with pytest.raises(BagError, match="sensor_msgs.msg has no Imagee"):
        message_class("sensor_msgs/msg/Imagee")
    assert message_class("scorehmr_ros/msg/SMPLBody").__name__ == "SMPLBody"


@pytest.mark.ros
def test_recorder_node_records_a_live_graph_and_closes_the_bag_on_ctrl_c(ros_peers, tmp_path):
    path = tmp_path / "recorded"
    topics = ["keypoints=scorehmr_ros/msg/MultiViewKeypoints2D", "bodies=scorehmr_ros/msg/SMPLBodyArray",
              "tf_test=tf2_msgs/msg/TFMessage", "image_raw=sensor_msgs/msg/Image"]
    recorder = ros_peers.start_module("scorehmr_ros.ros.nodes.bag_recorder_node", "--ros-args", "-p",
                                      f"output:={path}", "-p", f"topics:=[{','.join(topics)}]")
    wait_until(lambda: "recording 4 topics" in recorder.log() or recorder.process.poll() is not None,
               timeout_s=30, what="the recorder to start")
    recorder.assert_running()
    ros_peers.start("publish_examples.py", "--images")
    wait_until(lambda: _grown(path), timeout_s=30,
               what="the bag to receive messages")
    assert recorder.stop() == 0, recorder.log()
    messages = list(read_bag(path))
    counts = {topic: sum(m.topic == f"/{topic}" for m in messages) for topic in ("keypoints", "bodies", "tf_test",
                                                                                 "image_raw")}
    assert all(count >= 2 for count in counts.values()), counts
    first = {m.topic: m.message for m in reversed(messages)}
    assert field_differences(smpl_body_array(), first["/bodies"]) == []
    assert field_differences(multiview_keypoints(), first["/keypoints"]) == []
    assert (first["/image_raw"].width, first["/image_raw"].height) == (1920, 1080)


def _grown(path: Path, minimum_bytes: int = 30_000_000) -> bool:
    """True once the bag file holds about 15 large images (it is written while recording)."""
    files = list(path.glob("*.mcap"))
    return bool(files) and files[0].stat().st_size > minimum_bytes
