"""The PARE crop: geometry, border, normalisation, errors (agreement with the official crop: test_pare_golden)."""

import numpy as np
import pytest

from scorehmr_ros.image_prior import PareCropError, make_pare_crops
from scorehmr_ros.image_prior.preprocess import (
    IMAGENET_MEAN_RGB,
    IMAGENET_STD_RGB,
    crop_affine,
    crop_bgr,
    normalize_crop_bgr,
    square_box_from_xyxy,
)


def _image(height=300, width=400, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def test_square_box_is_tight_centre_and_longer_side():
    centers, sizes = square_box_from_xyxy(np.array([[10.0, 20.0, 110.0, 320.0], [0.0, 0.0, 50.0, 20.0]]))
    np.testing.assert_array_equal(centers, [[60.0, 170.0], [25.0, 10.0]])
    np.testing.assert_array_equal(sizes, [300.0, 50.0])


def test_affine_maps_box_centre_to_crop_centre_and_scales_by_224_over_side():
    M = crop_affine(center_px=np.array([100.5, 80.25]), size_px=112.0)
    np.testing.assert_allclose(M @ [100.5, 80.25, 1.0], [112.0, 112.0], atol=1e-4)
    np.testing.assert_allclose(M[:, :2], 2.0 * np.eye(2), atol=1e-6)


def test_unit_scale_crop_is_a_pixel_window():
    """A 224 px box centred between pixels copies the image window exactly (no interpolation)."""
    image = _image()
    crop = crop_bgr(image, center_px=np.array([212.0, 150.0]), size_px=224.0)
    np.testing.assert_array_equal(crop, image[38:262, 100:324])


def test_outside_the_image_is_zero():
    image = np.full((100, 100, 3), 200, np.uint8)
    crop = crop_bgr(image, center_px=np.array([0.0, 50.0]), size_px=100.0)
    assert np.all(crop[:, :100] == 0) and np.all(crop[5:215, 120:] == 200)


def test_normalisation_is_rgb_imagenet_on_255_scale():
    crop = np.zeros((224, 224, 3), np.uint8)
    crop[..., 0] = 255  # blue in BGR
    out = normalize_crop_bgr(crop)
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    np.testing.assert_allclose(out[2, 0, 0], (255 - IMAGENET_MEAN_RGB[2]) / IMAGENET_STD_RGB[2], rtol=1e-6)
    np.testing.assert_allclose(out[0, 0, 0], -IMAGENET_MEAN_RGB[0] / IMAGENET_STD_RGB[0], rtol=1e-6)


def test_batched_crops_equal_single_crops():
    image = _image()
    boxes = np.array([[10.5, 20.0, 150.0, 290.0], [200.0, 30.0, 390.0, 130.0]])
    both = make_pare_crops(image, boxes)
    assert both.images.shape == (2, 3, 224, 224)
    np.testing.assert_array_equal(both.image_size_px, [400, 300])
    for index in range(2):
        single = make_pare_crops(image, boxes[index : index + 1])
        np.testing.assert_array_equal(single.images[0].numpy(), both.images[index].numpy())


@pytest.mark.parametrize(
    ("image", "boxes", "message"),
    [
        (np.zeros((10, 10), np.uint8), np.array([[0, 0, 5, 5]]), "uint8 BGR image"),
        (np.zeros((10, 10, 3), np.float32), np.array([[0, 0, 5, 5]]), "uint8 BGR image"),
        (np.zeros((10, 10, 3), np.uint8), np.array([0, 0, 5, 5]), "shape \\(P, 4\\)"),
        (np.zeros((10, 10, 3), np.uint8), np.array([[5, 5, 5, 2]]), "no positive side"),
        (np.zeros((10, 10, 3), np.uint8), np.array([[0, 0, np.nan, 5]]), "NaN"),
    ],
)
def test_bad_inputs_are_named(image, boxes, message):
    with pytest.raises(PareCropError, match=message):
        make_pare_crops(image, boxes)
