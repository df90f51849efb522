"""Rig YAML errors: one line naming the file, the camera and the key; integers must be integers."""

import pytest
import yaml

from scorehmr_ros.geometry.rig_io import load_rig, rig_to_yaml
from scorehmr_ros.geometry.rigs import RigError, ring_rig


def _rig_file(tmp_path, edit):
    document = yaml.safe_load(rig_to_yaml(ring_rig(num_cameras=2)))
    edit(document["cameras"][1])
    path = tmp_path / "my_rig.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(("key", "value"), [
    ("position_m", "here"), ("position_m", [1.0, "x", 2.0]), ("position_m", [1.0, 2.0]),
    ("orientation_xyzw", None), ("K", [[1, 0, 2], [0, 1]]), ("K", "fx"), ("width", 640.7), ("height", 480.0),
    ("width", "640"), ("distortion", ["k1"]), ("position_m", [1.0, float("nan"), 2.0]),
])
def test_a_bad_value_is_one_line_naming_file_camera_and_key(tmp_path, key, value):
    path = _rig_file(tmp_path, lambda camera: camera.__setitem__(key, value))
    with pytest.raises(RigError) as caught:
        load_rig(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message and "'cam1'" in message and f"{key}:" in message, message


def test_a_fractional_size_is_refused_not_truncated(tmp_path):
    path = _rig_file(tmp_path, lambda camera: camera.__setitem__("width", 640.7))
    with pytest.raises(RigError, match="width: expected an integer"):
        load_rig(path)


def test_a_missing_file_is_a_rig_error_naming_it(tmp_path):
    with pytest.raises(RigError, match="nowhere.yaml"):
        load_rig(tmp_path / "nowhere.yaml")


def test_good_files_still_load(tmp_path):
    path = _rig_file(tmp_path, lambda camera: camera.update(frame_id=None, distortion=None))
    rig = load_rig(path)
    assert [camera.width_px for camera in rig.cameras] == [1280, 1280]
    assert rig.cameras[1].frame_id == "cam1_optical_frame"
