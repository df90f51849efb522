"""Triangulation: exact recovery, noise, outlier views, distortion, too few views (synthetic rigs)."""

import cv2
import numpy as np
import pytest

from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.geometry.rigs import ring_rig, stereo_head_rig
from scorehmr_ros.geometry.triangulation import (
    ROBUST_METHODS,
    TriangulationConfig,
    TriangulationError,
    projection_matrices,
    triangulate,
    triangulate_dlt,
    undistort_normalized,
    undistort_pixels,
)

from multiview_synth import detections_as_group_array, observe, random_people

DISTORTION = np.array([-0.28, 0.09, 0.0012, -0.0008, -0.015])


def _distorted(camera: Camera) -> Camera:
    return Camera(name=camera.name, K=camera.K, width_px=camera.width_px, height_px=camera.height_px,
                  R_cam_world=camera.R_cam_world, t_cam_world_m=camera.t_cam_world_m,
                  distortion_model="plumb_bob", distortion=DISTORTION)


def _scene(*, num_people=6, seed=0, cameras=None, noise_px=0.0):
    rng = np.random.default_rng(seed)
    cameras = ring_rig(num_cameras=4).cameras if cameras is None else cameras
    people = random_people(num_people=num_people, rng=rng)
    synthetic = observe(joints_world_m=people, cameras=cameras, rng=rng, noise_px=noise_px)
    return people, detections_as_group_array(synthetic, num_people), cameras


@pytest.mark.parametrize("method", ROBUST_METHODS)
def test_noiseless_points_are_recovered_exactly(method):
    people, keypoints, cameras = _scene()
    result = triangulate(keypoints_px=keypoints, cameras=cameras, config=TriangulationConfig(robust_method=method))
    assert result.points_world_m.shape == (6, 25, 3)
    assert np.all(result.valid)
    np.testing.assert_allclose(result.points_world_m, people, atol=1e-9)
    assert np.nanmax(result.reprojection_error_px) < 1e-6
    np.testing.assert_array_equal(result.num_views, np.sum(keypoints[..., 2] > 0.05, axis=0))


def test_batched_equals_one_person_at_a_time():
    _, keypoints, cameras = _scene(noise_px=2.0, seed=3)
    batched = triangulate(keypoints_px=keypoints, cameras=cameras)
    for p in range(keypoints.shape[1]):
        single = triangulate(keypoints_px=keypoints[:, p:p + 1], cameras=cameras)
        np.testing.assert_allclose(single.points_world_m[0], batched.points_world_m[p], atol=1e-12)
        np.testing.assert_array_equal(single.inlier_mask[:, 0], batched.inlier_mask[:, p])


def test_noise_gives_small_error_that_shrinks_with_more_views():
    rng_errors = {}
    for num_cameras in (2, 4, 8):
        cameras = ring_rig(num_cameras=num_cameras).cameras
        people, keypoints, _ = _scene(cameras=cameras, noise_px=2.0, seed=1)
        result = triangulate(keypoints_px=keypoints, cameras=cameras)
        error_m = np.linalg.norm(result.points_world_m - people, axis=-1)[result.valid]
        assert result.valid.mean() > 0.95
        rng_errors[num_cameras] = float(np.median(error_m))
        assert 0.3 < np.median(result.reprojection_error_px[result.valid]) < 4.0
    assert rng_errors[8] < rng_errors[4] < rng_errors[2] < 0.03


def test_gross_outlier_view_is_rejected():
    people, keypoints, cameras = _scene(noise_px=1.0, seed=2)
    corrupted = keypoints.copy()
    corrupted[2, :, :, :2] += np.array([150.0, -90.0])  # view 2 sees everyone 175 px off
    seen = keypoints[..., 2] > 0.05
    result = triangulate(keypoints_px=corrupted, cameras=cameras)
    enough = seen[2] & (np.sum(np.delete(seen, 2, axis=0), axis=0) >= 2)
    assert np.any(enough)
    assert not np.any(result.inlier_mask[2])
    assert np.all(result.valid[enough])
    assert np.max(np.linalg.norm(result.points_world_m - people, axis=-1)[result.valid]) < 0.05

    def median_error_m(method):
        estimate = triangulate(keypoints_px=corrupted, cameras=cameras,
                               config=TriangulationConfig(robust_method=method, outlier_threshold_px=1e3))
        return np.nanmedian(np.linalg.norm(estimate.points_world_m - people, axis=-1))

    # drop_worst can keep the outlier (least squares spreads its error over the good views), but it is
    # still better than using every view; view_pairs is the default for that reason.
    dropping = triangulate(keypoints_px=corrupted, cameras=cameras,
                           config=TriangulationConfig(robust_method="drop_worst"))
    assert np.nanmedian(np.linalg.norm(dropping.points_world_m - people, axis=-1)) < median_error_m("none")
    assert median_error_m("none") > 0.1


def test_outlier_joint_in_one_view_is_rejected_per_joint():
    people, keypoints, cameras = _scene(noise_px=0.5, seed=4)
    corrupted = keypoints.copy()
    corrupted[1, 0, 4, :2] += 80.0  # one wrist in one view
    result = triangulate(keypoints_px=corrupted, cameras=cameras)
    if keypoints[1, 0, 4, 2] > 0:
        assert not result.inlier_mask[1, 0, 4]
        assert result.inlier_mask[1, 0, 3] == (keypoints[1, 0, 3, 2] > 0.05)
    assert np.linalg.norm(result.points_world_m[0, 4] - people[0, 4]) < 0.02


@pytest.mark.parametrize("rig", ["ring4", "stereo"])
def test_distortion_is_handled(rig):
    base = ring_rig(num_cameras=4).cameras if rig == "ring4" else stereo_head_rig().cameras
    cameras = tuple(_distorted(c) for c in base)
    rng = np.random.default_rng(5)
    people = random_people(num_people=3, rng=rng, room_radius_m=1.2) + (np.array([1.0, 0.0, 0.0]) if rig == "stereo"
                                                                         else 0.0)
    keypoints = detections_as_group_array(observe(joints_world_m=people, cameras=cameras, rng=rng, noise_px=0.0), 3)
    result = triangulate(keypoints_px=keypoints, cameras=cameras)
    assert result.valid.mean() > 0.9
    np.testing.assert_allclose(result.points_world_m[result.valid], people[result.valid], atol=1e-7)
    ignoring = triangulate(keypoints_px=keypoints, cameras=base, config=TriangulationConfig(outlier_threshold_px=1e3))
    assert np.nanmax(np.linalg.norm(ignoring.points_world_m - people, axis=-1)) > 1e-3


def test_undistortion_inverts_distortion_and_matches_opencv():
    camera = _distorted(ring_rig(num_cameras=1).cameras[0])
    rng = np.random.default_rng(6)
    normalized = rng.uniform(-0.65, 0.65, (500, 2)) * np.array([1.0, 0.6])
    points_cam = np.concatenate([normalized, np.ones((500, 1))], axis=1)
    pixels = _distorted(Camera(name="c", K=camera.K, width_px=1280, height_px=720)).project(points_cam)
    recovered = undistort_normalized(pixels, camera)
    np.testing.assert_allclose(recovered, normalized, atol=1e-10)
    opencv = cv2.undistortPoints(pixels[:, None], camera.K, camera.distortion, P=camera.K,
                                 criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-14))[:, 0]
    np.testing.assert_allclose(undistort_pixels(pixels, camera), opencv, atol=1e-3)


def test_fewer_than_two_views_is_invalid_never_invented():
    people, keypoints, cameras = _scene(num_people=2, seed=7)
    keypoints = keypoints.copy()
    keypoints[1:, 0, :, 2] = 0.0  # person 0 only in view 0
    keypoints[2:, 1, 5, 2] = 0.0  # joint 5 of person 1 only in views 0 and 1
    keypoints[1:, 1, 6, 2] = 0.0  # joint 6 of person 1 only in view 0
    for method in ROBUST_METHODS:
        result = triangulate(keypoints_px=keypoints, cameras=cameras, config=TriangulationConfig(robust_method=method))
        assert not np.any(result.valid[0])
        assert np.all(np.isnan(result.points_world_m[0]))
        assert np.all(result.num_views[0] == 0) and np.all(result.confidence[0] == 0)
        assert not result.valid[1, 6] and np.all(np.isnan(result.points_world_m[1, 6]))
        if keypoints[0, 1, 5, 2] > 0 and keypoints[1, 1, 5, 2] > 0:
            assert result.valid[1, 5] and result.num_views[1, 5] == 2


def test_two_disagreeing_views_are_invalid():
    _, keypoints, cameras = _scene(num_people=1, seed=8, cameras=ring_rig(num_cameras=2).cameras)
    corrupted = keypoints.copy()
    corrupted[1, 0, :, 1] += 200.0
    result = triangulate(keypoints_px=corrupted, cameras=cameras)
    assert not np.any(result.valid)


def test_dlt_weights_zero_means_view_unused():
    people, keypoints, cameras = _scene(num_people=1, seed=9, noise_px=3.0)
    xy = np.stack([undistort_normalized(keypoints[v, ..., :2], c) for v, c in enumerate(cameras)])
    weights = keypoints[..., 2].copy()
    without = triangulate_dlt(xy[:3], weights[:3], projection_matrices(cameras[:3]))
    weights[3] = 0.0
    zeroed = triangulate_dlt(xy, weights, projection_matrices(cameras))
    np.testing.assert_allclose(zeroed, without, atol=1e-12)


def test_bad_inputs_raise_naming_the_problem():
    _, keypoints, cameras = _scene(num_people=1)
    with pytest.raises(TriangulationError, match="3 views but 4 cameras"):
        triangulate(keypoints_px=keypoints[:3], cameras=cameras)
    with pytest.raises(TriangulationError, match=r"\(V, P, J, 3\)"):
        triangulate(keypoints_px=keypoints[..., :2], cameras=cameras)
    with pytest.raises(ValueError, match="outlier_threshold_px"):
        TriangulationConfig(outlier_threshold_px=-1.0).validate()
    with pytest.raises(ValueError, match="robust_method"):
        TriangulationConfig(robust_method="ransac").validate()


def test_two_view_dlt_agrees_with_opencv():
    _, keypoints, cameras = _scene(num_people=2, seed=10, cameras=ring_rig(num_cameras=2).cameras, noise_px=1.5)
    seen = np.all(keypoints[..., 2] > 0.05, axis=0)
    xy = np.stack([undistort_normalized(keypoints[v, ..., :2], c) for v, c in enumerate(cameras)])
    ours = triangulate_dlt(xy, np.ones(keypoints.shape[:-1]), projection_matrices(cameras))[seen]
    homogeneous = cv2.triangulatePoints(projection_matrices(cameras[:1])[0], projection_matrices(cameras[1:])[0],
                                        xy[0][seen].T, xy[1][seen].T)
    opencv = (homogeneous[:3] / homogeneous[3]).T
    np.testing.assert_allclose(ours, opencv, atol=2e-3)  # same rows; OpenCV fixes |X| = 1, we fix w = 1


def test_dlt_solves_the_weighted_least_squares_of_each_point():
    """The closed-form 3x3 solve against numpy's least squares on the stacked DLT rows, point by point."""
    projections = projection_matrices(ring_rig(num_cameras=4).cameras)
    rng = np.random.default_rng(8)
    xy = rng.normal(scale=0.3, size=(4, 3, 5, 2))
    weights = rng.uniform(0.2, 1.0, size=(4, 3, 5)) * (rng.uniform(size=(4, 3, 5)) > 0.3)
    points = triangulate_dlt(xy, weights, projections)
    for p in range(3):
        for j in range(5):
            w = weights[:, p, j]
            if (w > 0).sum() < 2:
                assert np.all(np.isnan(points[p, j]))
                continue
            rows = np.concatenate([w[v] * (xy[v, p, j, :, None] * projections[v, 2] - projections[v, :2])
                                   for v in range(4)])  # (2V, 4)
            expected = np.linalg.lstsq(rows[:, :3], -rows[:, 3], rcond=None)[0]
            np.testing.assert_allclose(points[p, j], expected, rtol=1e-9, atol=1e-12)
