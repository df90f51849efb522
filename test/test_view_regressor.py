"""PARE over all (person, view) crops of a set: official crops and condition, masks, the ray correction, errors."""

from __future__ import annotations

import numpy as np
import pytest

from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.image_prior import PareConfig, PareFeatureStats, PareModel, make_pare_crops
from scorehmr_ros.image_prior.synthetic_weights import randomize_weights
from scorehmr_ros.image_prior.view_regressor import PareViewRegressor, ViewRegressorError, ray_rotation

TINY = PareConfig(hrnet_width=4, num_deconv_filters=8, num_features_smpl=4)
COND = 8 * 24


def _model(*, stats: bool = True) -> PareModel:
    model = PareModel(config=TINY)
    randomize_weights(model, seed=3)
    if stats:
        rng = np.random.default_rng(1)
        model.set_feature_stats(PareFeatureStats(
            pose_feats_mean=rng.normal(size=COND).astype(np.float32),
            pose_feats_std=rng.uniform(0.5, 2.0, COND).astype(np.float32), cam_shape_feats_mean=None,
            cam_shape_feats_std=None, source="test"))
    return model.eval()


def _cameras() -> tuple[Camera, ...]:
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    return (Camera(name="a", K=K, width_px=640, height_px=480), Camera(name="b", K=K, width_px=640, height_px=480),
            Camera(name="c", K=K, width_px=640, height_px=480))


def _images(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(3)]


BOXES = np.array([[[100, 50, 220, 400], [300, 100, 380, 300], [0, 0, 10, 10]],
                  [[400, 60, 500, 420], [10, 10, 110, 250], [500, 200, 630, 470]]], dtype=np.float32)
PRESENT = np.array([[True, True, False], [True, False, True]])


def test_ray_rotation_takes_the_optical_axis_onto_the_box_ray():
    K = _cameras()[0].K
    centers = np.array([[320.0, 240.0], [600.0, 20.0], [10.0, 470.0]])
    R = ray_rotation(centers, K)
    np.testing.assert_allclose(R[0], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    rays = np.concatenate([centers, np.ones((3, 1))], axis=1) @ np.linalg.inv(K).T
    np.testing.assert_allclose(R[:, :, 2], rays / np.linalg.norm(rays, axis=1, keepdims=True), atol=1e-12)


def test_estimates_match_pare_on_each_official_crop_and_masks_absent_pairs():
    model = _model()
    images = _images()
    images[1] = None  # camera b delivered no image: person 0's view b becomes invalid
    estimates = PareViewRegressor(model=model, cameras=_cameras(), ray_correction=False)(
        images=images, boxes_xyxy_px=BOXES, present=PRESENT)
    assert estimates.cond.shape == (2, 3, COND) and estimates.rotations.shape == (2, 3, 24, 3, 3)
    assert estimates.betas.shape == (2, 3, 10)
    np.testing.assert_array_equal(estimates.valid, [[True, False, False], [True, False, True]])
    for person, view in zip(*np.nonzero(estimates.valid), strict=True):
        crops = make_pare_crops(images[view], BOXES[person, view][None])
        single = model.predict(crops.images)
        np.testing.assert_allclose(estimates.cond[person, view], single.cond_feats[0].numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(estimates.rotations[person, view], single.pred_pose[0].numpy(), atol=1e-5)
        np.testing.assert_allclose(estimates.betas[person, view], single.pred_betas[0].numpy(), atol=1e-5)
        # the condition is the official one: pose_feats flattened c * 24 + j, standardised
        flat = single.pose_feats[0].reshape(-1)
        np.testing.assert_allclose(single.cond_feats[0].numpy(), ((flat - model.feat_mean) / model.feat_std).numpy(),
                                   rtol=1e-5, atol=1e-5)
    for person, view in zip(*np.nonzero(~estimates.valid), strict=True):
        assert not estimates.cond[person, view].any() and not estimates.betas[person, view].any()
        np.testing.assert_array_equal(estimates.rotations[person, view], np.broadcast_to(np.eye(3), (24, 3, 3)))


def test_ray_correction_turns_only_the_global_orientation():
    model, images = _model(), _images()
    plain = PareViewRegressor(model=model, cameras=_cameras(), ray_correction=False)(
        images=images, boxes_xyxy_px=BOXES, present=PRESENT)
    corrected = PareViewRegressor(model=model, cameras=_cameras())(images=images, boxes_xyxy_px=BOXES,
                                                                   present=PRESENT)
    np.testing.assert_array_equal(plain.cond, corrected.cond)
    np.testing.assert_allclose(plain.rotations[:, :, 1:], corrected.rotations[:, :, 1:], atol=1e-6)
    center = (BOXES[1, 2, :2] + BOXES[1, 2, 2:]) / 2
    expected = ray_rotation(center[None], _cameras()[2].K)[0] @ plain.rotations[1, 2, 0]
    np.testing.assert_allclose(corrected.rotations[1, 2, 0], expected, atol=1e-5)


def test_bad_inputs_are_named():
    model = _model()
    regressor = PareViewRegressor(model=model, cameras=_cameras())
    with pytest.raises(ViewRegressorError, match="expected 3 \\(one per rig camera"):
        regressor(images=_images()[:2], boxes_xyxy_px=BOXES, present=PRESENT)
    small = _images()
    small[2] = small[2][:240]
    with pytest.raises(ViewRegressorError, match="camera 'c': 640x240, calibration is 640x480"):
        regressor(images=small, boxes_xyxy_px=BOXES, present=PRESENT)
    with pytest.raises(ViewRegressorError, match="boxes_xyxy_px \\(P, 3, 4\\)"):
        regressor(images=_images(), boxes_xyxy_px=BOXES[:, :2], present=PRESENT)
    empty = BOXES.copy()
    empty[0, 0] = [5, 5, 5, 5]
    with pytest.raises(ViewRegressorError, match="box of person 0 in camera 'a'"):
        regressor(images=_images(), boxes_xyxy_px=empty, present=PRESENT)
    with pytest.raises(ViewRegressorError, match="no feature statistics"):
        PareViewRegressor(model=_model(stats=False), cameras=_cameras())
    with pytest.raises(ViewRegressorError, match="eval mode"):
        PareViewRegressor(model=_model().train(), cameras=_cameras())


def test_no_person_present_needs_no_network_call():
    estimates = PareViewRegressor(model=_model(), cameras=_cameras())(
        images=_images(), boxes_xyxy_px=np.zeros((0, 3, 4)), present=np.zeros((0, 3), bool))
    assert estimates.cond.shape == (0, 3, COND) and estimates.valid.shape == (0, 3)
