"""Synthetic rigs: geometry of the ring, stereo and wide rigs; rig YAML round trip."""

import numpy as np
import pytest

from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.geometry.rig_io import load_rig, rig_from_yaml, rig_to_yaml, save_rig
from scorehmr_ros.geometry.rigs import ROOM_CENTER_M, Rig, RigError, make_rig, ring_rig


def _in_image(camera: Camera, uv: np.ndarray) -> np.ndarray:
    return (uv[..., 0] >= 0) & (uv[..., 0] < camera.width_px) & (uv[..., 1] >= 0) & (uv[..., 1] < camera.height_px)


@pytest.mark.parametrize("num_cameras", [1, 2, 3, 4, 6, 8])
def test_every_ring_camera_sees_the_room_centre(num_cameras):
    rig = make_rig(f"ring{num_cameras}")
    assert len(rig.cameras) == num_cameras
    centre = np.array(ROOM_CENTER_M)
    # A person-sized box around the centre (feet to head, arms' reach) must be fully visible too.
    box = np.array([[x, y, z] for x in (-0.6, 0.6) for y in (-0.6, 0.6) for z in (0.0, 1.9)])
    for camera in rig.cameras:
        uv = camera.project(centre)
        np.testing.assert_allclose(uv, camera.K[:2, 2], atol=1e-9)  # on the optical axis
        assert camera.world_to_camera(centre)[2] > 0
        assert np.all(_in_image(camera, camera.project(box)))
        above = camera.project(centre + [0, 0, 0.5])
        assert above[1] < uv[1]  # world up is image up
        centre_m = camera.center_world_m
        assert np.hypot(*centre_m[:2]) == pytest.approx(4.0) and centre_m[2] == pytest.approx(2.5)


def test_ring_cameras_are_evenly_spaced():
    rig = ring_rig(num_cameras=6, radius_m=5.0)
    angles = np.array([np.arctan2(c.center_world_m[1], c.center_world_m[0]) for c in rig.cameras])
    np.testing.assert_allclose(np.mod(np.diff(angles), 2 * np.pi), 2 * np.pi / 6, atol=1e-12)


def test_stereo_pair_is_parallel_with_positive_disparity():
    left, right = make_rig("stereo").cameras
    assert np.linalg.norm(left.center_world_m - right.center_world_m) == pytest.approx(0.12)
    np.testing.assert_allclose(left.R_cam_world, right.R_cam_world, atol=1e-12)
    point = np.array([0.0, 0.0, 1.0])
    u_left, u_right = left.project(point)[0], right.project(point)[0]
    disparity_px = u_left - u_right
    depth_m = left.world_to_camera(point)[2]
    assert disparity_px == pytest.approx(left.K[0, 0] * 0.12 / depth_m, rel=1e-9)


def test_wide_rig_looks_at_centre_from_one_side():
    rig = make_rig("wide3")
    assert [c.name for c in rig.cameras] == ["cam0", "cam1", "cam2"]
    for camera in rig.cameras:
        assert camera.center_world_m[1] < 0
        np.testing.assert_allclose(camera.project(np.array(ROOM_CENTER_M)), camera.K[:2, 2], atol=1e-9)


def test_unknown_rig_names_the_choices():
    with pytest.raises(RigError, match="ring<N>"):
        make_rig("circle4")
    with pytest.raises(RigError, match="num_cameras"):
        make_rig("ring0")


@pytest.mark.parametrize("name", ["ring4", "stereo", "wide3"])
def test_rig_yaml_round_trip(tmp_path, name):
    rig = make_rig(name)
    distorted = Camera(name="fisheyeish", K=rig.cameras[0].K, width_px=640, height_px=480,
                       R_cam_world=rig.cameras[0].R_cam_world, t_cam_world_m=rig.cameras[0].t_cam_world_m,
                       distortion_model="plumb_bob", distortion=np.array([-0.2, 0.05, 1e-3, -2e-3, 0.01]),
                       frame_id="custom_frame")
    rig = Rig(name=rig.name, cameras=rig.cameras + (distorted,), world_frame="odom")
    path = tmp_path / "rig.yaml"
    save_rig(rig, path)
    back = load_rig(path)
    assert back.name == rig.name and back.world_frame == "odom"
    assert [c.name for c in back.cameras] == [c.name for c in rig.cameras]
    for original, loaded in zip(rig.cameras, back.cameras, strict=True):
        assert loaded.frame_id == original.frame_id
        assert (loaded.width_px, loaded.height_px) == (original.width_px, original.height_px)
        assert loaded.distortion_model == original.distortion_model
        np.testing.assert_array_equal(loaded.K, original.K)
        np.testing.assert_array_equal(loaded.distortion, original.distortion)
        np.testing.assert_allclose(loaded.R_cam_world, original.R_cam_world, atol=1e-12)
        np.testing.assert_allclose(loaded.t_cam_world_m, original.t_cam_world_m, atol=1e-12)
    # Writing the loaded rig again gives the same document (numbers to 12 digits).
    again = rig_from_yaml(rig_to_yaml(back))
    for first, second in zip(back.cameras, again.cameras, strict=True):
        np.testing.assert_allclose(second.T_cam_world, first.T_cam_world, atol=1e-12)


def test_rig_yaml_position_is_the_camera_centre():
    text = """
rig: one
cameras:
  - name: front
    width: 640
    height: 480
    K: [[500, 0, 320], [0, 500, 240], [0, 0, 1]]
    position_m: [1.0, 2.0, 3.0]
    orientation_xyzw: [0, 0, 0, 1]
"""
    camera = rig_from_yaml(text).cameras[0]
    np.testing.assert_allclose(camera.center_world_m, [1.0, 2.0, 3.0])
    assert camera.frame_id == "front_optical_frame"


def test_rig_yaml_errors_name_the_problem():
    with pytest.raises(RigError, match=r"cameras\[0\].*orientation_xyzw"):
        rig_from_yaml("cameras:\n  - {name: a, width: 1, height: 1, K: [[1,0,0],[0,1,0],[0,0,1]], position_m: [0,0,0]}")
    with pytest.raises(RigError, match="unit quaternion"):
        rig_from_yaml("cameras:\n  - {name: a, width: 1, height: 1, K: [[1,0,0],[0,1,0],[0,0,1]], "
                      "position_m: [0,0,0], orientation_xyzw: [0,0,0,2]}")
    with pytest.raises(RigError, match="focal"):
        rig_from_yaml("cameras:\n  - {name: a, width: 1, height: 1, K: [[0,0,0],[0,1,0],[0,0,1]], "
                      "position_m: [0,0,0], orientation_xyzw: [0,0,0,1]}")
