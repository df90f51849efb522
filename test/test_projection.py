"""Perspective projection and crop camera: official golden values and hand-computed cases."""

from pathlib import Path

import numpy as np
import pytest
import torch

from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.geometry.projection import (
    OFFICIAL_FOCAL_LENGTH_PX,
    ProjectionShapeError,
    cam_crop_to_full,
    perspective_projection,
)

GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "geometry_official.npz"


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN, allow_pickle=False) as data:
        return {k: torch.from_numpy(data[k]) for k in data.files}


def test_projection_matches_official(golden):
    common = dict(translation_m=golden["proj_translation"], focal_length_px=golden["proj_focal"],
                  principal_point_px=golden["proj_center"])
    pixels = perspective_projection(golden["proj_points"], rotation=golden["proj_rotation"], **common)
    torch.testing.assert_close(pixels, golden["proj_pixels"], rtol=1e-6, atol=1e-3)
    pixels = perspective_projection(golden["proj_points"], **common)
    torch.testing.assert_close(pixels, golden["proj_pixels_norot"], rtol=1e-6, atol=1e-3)


def test_cam_crop_to_full_matches_official(golden):
    full = cam_crop_to_full(golden["crop_cam"], golden["crop_box_center"], golden["crop_box_size"],
                            golden["crop_image_size"])
    torch.testing.assert_close(full, golden["crop_full_cam"], rtol=1e-6, atol=1e-5)


def test_projection_agrees_with_camera_type():
    K = np.array([[800.0, 0, 320.0], [0, 790.0, 240.0], [0, 0, 1]])
    angle = 0.3
    R = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    t = np.array([0.1, -0.2, 4.0])
    camera = Camera(name="c", K=K, width_px=640, height_px=480, R_cam_world=R, t_cam_world_m=t)
    points = np.random.default_rng(0).normal(size=(2, 7, 3)) * 0.5
    expected = camera.project(points)
    pixels = perspective_projection(
        torch.from_numpy(points), translation_m=torch.from_numpy(t).expand(2, 3),
        focal_length_px=torch.tensor([[800.0, 790.0]] * 2, dtype=torch.float64),
        principal_point_px=torch.tensor([[320.0, 240.0]] * 2, dtype=torch.float64),
        rotation=torch.from_numpy(R).expand(2, 3, 3),
    )
    np.testing.assert_allclose(pixels.numpy(), expected, atol=1e-9)


def test_cam_crop_to_full_centred_box():
    # A box centred in the image leaves tx, ty unchanged and puts the body at depth 2 f / (b s).
    full = cam_crop_to_full(torch.tensor([[0.8, 0.1, -0.2]], dtype=torch.float64),
                            torch.tensor([[320.0, 240.0]], dtype=torch.float64),
                            torch.tensor([200.0], dtype=torch.float64),
                            torch.tensor([[640.0, 480.0]], dtype=torch.float64))
    expected_tz = 2 * OFFICIAL_FOCAL_LENGTH_PX / (200.0 * 0.8 + 1e-9)
    torch.testing.assert_close(full, torch.tensor([[0.1, -0.2, expected_tz]], dtype=torch.float64))


def test_crop_camera_reprojects_to_box():
    # The body origin projected with the full camera lands on the box centre shifted by the crop offset.
    cam = torch.tensor([[0.9, 0.0, 0.0]], dtype=torch.float64)
    centre = torch.tensor([[500.0, 200.0]], dtype=torch.float64)
    image = torch.tensor([[1280.0, 720.0]], dtype=torch.float64)
    full = cam_crop_to_full(cam, centre, torch.tensor([300.0], dtype=torch.float64), image)
    pixel = perspective_projection(torch.zeros(1, 1, 3, dtype=torch.float64), translation_m=full,
                                   focal_length_px=torch.full((1, 2), OFFICIAL_FOCAL_LENGTH_PX, dtype=torch.float64),
                                   principal_point_px=image / 2)
    torch.testing.assert_close(pixel[0, 0], centre[0], rtol=0, atol=1e-6)


def test_bad_shapes_raise():
    with pytest.raises(ProjectionShapeError, match="translation_m"):
        perspective_projection(torch.zeros(2, 5, 3), translation_m=torch.zeros(3, 3),
                               focal_length_px=torch.ones(2, 2), principal_point_px=torch.zeros(2, 2))
    with pytest.raises(ProjectionShapeError, match="box_size_px"):
        cam_crop_to_full(torch.ones(2, 3), torch.zeros(2, 2), torch.ones(2, 1), torch.ones(2, 2))
