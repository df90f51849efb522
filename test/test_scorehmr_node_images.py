"""The scorehmr node's image intake for an image-conditioned prior: the stamp buffer and a set's image lookup.

The lookup runs the node's own method on a stand-in ``self`` (no graph needed): images found by each view's
image stamp, and every problem (no image at that stamp, undecodable, wrong size) costs only that view, with a
throttled warning.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.perception.observations import MultiViewObservation, ViewObservation
from scorehmr_ros.ros.common import ThrottledWarnings
from scorehmr_ros.ros.image_buffer import StampedBuffer


def test_buffer_finds_the_nearest_stamp_within_the_tolerance_and_forgets_the_oldest():
    buffer = StampedBuffer(["a", "b"], capacity=3)
    for stamp in (100, 200, 300, 400):
        buffer.add("a", stamp, f"a{stamp}")
    assert buffer.lookup("a", 300, tolerance_ns=0) == "a300"
    assert buffer.lookup("a", 305, tolerance_ns=10) == "a300"
    assert buffer.lookup("a", 350, tolerance_ns=10) is None
    assert buffer.lookup("a", 100, tolerance_ns=0) is None  # dropped: capacity 3
    assert buffer.lookup("b", 300, tolerance_ns=1000) is None
    match = buffer.match([("a", 400), ("b", 400), ("c", 400)], tolerance_ns=0)
    assert match.found == {"a": "a400"}
    assert match.missing == (("b", 400, None), ("c", 400, None))
    with pytest.raises(KeyError, match="camera 'c' is not buffered"):
        buffer.add("c", 1, "x")
    with pytest.raises(ValueError, match="capacity=0"):
        StampedBuffer(["a"], capacity=0)


def test_buffer_is_safe_across_threads():
    buffer = StampedBuffer(["a"], capacity=50)

    def add(offset: int) -> None:
        for i in range(2000):
            buffer.add("a", offset + 2 * i, i)

    threads = [threading.Thread(target=add, args=(k,)) for k in (0, 1)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        buffer.match([("a", 10)], tolerance_ns=5)
    for thread in threads:
        thread.join()
    assert buffer.newest_stamp_ns("a") in (3998, 3999)


def _view(camera: str, stamp_ns: int, people: int = 1) -> ViewObservation:
    return ViewObservation(camera=camera, frame_id=f"{camera}_optical_frame", image_stamp_ns=stamp_ns, width_px=64,
                           height_px=48, boxes_xyxy_px=np.tile([1.0, 1.0, 20.0, 40.0], (people, 1)),
                           scores=np.full(people, 0.9))


def test_a_sets_images_are_found_by_stamp_and_bad_views_are_left_out():
    from sensor_msgs.msg import Image

    from scorehmr_ros.ros.geometry_conversions import ns_to_stamp
    from scorehmr_ros.ros.image_conversions import numpy_to_image
    from scorehmr_ros.ros.nodes.scorehmr_node import ScoreHMRNode, ScoreHMRNodeConfig

    names = ("c0", "c1", "c2", "c3", "c4")
    K = np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]])
    cameras = tuple(Camera(name=name, K=K, width_px=64, height_px=48) for name in names)
    logged: list[str] = []
    node = SimpleNamespace(
        image_buffer=StampedBuffer(names, capacity=4), config=ScoreHMRNodeConfig(image_stamp_tolerance_s=0.001),
        warnings=ThrottledWarnings(log=logged.append),
        pipeline=SimpleNamespace(cameras=cameras, camera_index={name: i for i, name in enumerate(names)}))
    rng = np.random.default_rng(0)
    pixels = {name: rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for name in names}

    def publish(camera: str, stamp_ns: int, image: Image) -> None:
        image.header.stamp = ns_to_stamp(stamp_ns)
        node.image_buffer.add(camera, stamp_ns, image)

    stamp = 5_000_000_000
    publish("c0", stamp - 33_000_000, numpy_to_image(pixels["c1"], encoding="bgr8"))  # an older frame
    publish("c0", stamp, numpy_to_image(pixels["c0"], encoding="bgr8"))
    publish("c1", stamp + 400_000, numpy_to_image(pixels["c1"][:, :, ::-1].copy(), encoding="rgb8"))  # in tolerance
    publish("c2", stamp - 40_000_000, numpy_to_image(pixels["c2"], encoding="bgr8"))  # only an older image
    publish("c3", stamp, numpy_to_image(pixels["c3"][:24], encoding="bgr8"))  # wrong size
    bad = numpy_to_image(pixels["c4"], encoding="bgr8")
    bad.encoding = "yuv422"
    publish("c4", stamp, bad)
    observation = MultiViewObservation(stamp_ns=stamp, frame_id="map", views=tuple(
        _view(name, stamp) for name in names))

    images = ScoreHMRNode._set_images(node, observation)
    assert sorted(images) == ["c0", "c1"]
    np.testing.assert_array_equal(images["c0"], pixels["c0"])
    np.testing.assert_array_equal(images["c1"], pixels["c1"])
    text = "\n".join(logged)
    assert "no c2 image at the keypoints' stamp 5000000000 (newest -0.040 s from it)" in text
    assert "c3 image is 64x24, calibration 64x48" in text and "c4 image unusable" in text
    assert all("weight 0" in line for line in logged) and len(logged) == 3

    # a view without people needs no image; a keypoint-only node (no buffer) passes no images at all
    assert ScoreHMRNode._set_images(node, MultiViewObservation(stamp_ns=stamp, frame_id="map", views=(
        _view("c2", stamp, people=0),))) == {}
    assert ScoreHMRNode._set_images(SimpleNamespace(image_buffer=None), observation) is None


def test_image_topic_must_name_the_camera():
    from scorehmr_ros.ros.nodes.scorehmr_node import ScoreHMRNodeConfig

    with pytest.raises(ValueError, match="must contain \\{camera\\}"):
        ScoreHMRNodeConfig(image_topic="image_raw").validate()
    assert ScoreHMRNodeConfig().validate().image_topic.format(camera="cam0") == "cam0/image_raw"
