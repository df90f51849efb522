"""2D observation model: layouts, noise statistics, occlusion, truncation, failures, determinism."""

import numpy as np
import pytest

from scorehmr_ros.body.layouts import LayoutError
from scorehmr_ros.geometry.camera import Camera
from scorehmr_ros.geometry.rigs import look_at
from scorehmr_ros.sim.layouts import LAYOUTS, KeypointLayout, get_layout
from scorehmr_ros.sim.observation import ObservationConfig, observe
from scorehmr_ros.sim.raster import rasterize_fragments

QUIET = ObservationConfig(pixel_sigma_px=0.0, sigma_per_box_height=0.0, occluded_sigma_px=0.0,
                          joint_dropout_probability=0.0, person_miss_probability=0.0, swap_probability=0.0,
                          occluded_report_probability=1.0)


def _points_layout(num_joints: int) -> KeypointLayout:
    return KeypointLayout("points", tuple(f"p{i}" for i in range(num_joints)), np.arange(num_joints),
                          np.arange(num_joints))


@pytest.fixture
def camera():
    # At the origin looking along world +x: image right = world -y, image down = world -z.
    R, t = look_at(position_world_m=np.zeros(3), target_world_m=np.array([1.0, 0.0, 0.0]))
    return Camera(name="cam", K=np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]), width_px=640,
                  height_px=480, R_cam_world=R, t_cam_world_m=t)


def _random_points_in_view(rng, count, depth_m=4.0):
    # Inside the central part of the image at ~depth_m in front of the camera.
    return np.stack([np.full(count, depth_m), rng.uniform(-1.5, 1.5, count), rng.uniform(-1.0, 1.0, count)], -1)


def test_layouts_from_official_joints():
    official = np.arange(44 * 2, dtype=np.float64).reshape(44, 2)  # row r holds (2r, 2r+1)
    coco = get_layout("coco17").from_official(official)
    np.testing.assert_array_equal(coco[:, 0] / 2, [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11])
    np.testing.assert_array_equal(get_layout("openpose25").from_official(official), official[:25])
    mediapipe = get_layout("mediapipe33")
    converted = mediapipe.from_official(official)
    assert mediapipe.available.sum() == 21
    np.testing.assert_array_equal(converted[~mediapipe.available], 0.0)  # missing joints are never invented
    names = mediapipe.joint_names
    assert converted[names.index("left_foot_index"), 0] / 2 == 19  # OpenPose LBigToe
    assert converted[names.index("right_heel"), 0] / 2 == 24
    for layout in LAYOUTS.values():
        np.testing.assert_array_equal(layout.mirror_index[layout.mirror_index], np.arange(layout.num_joints))
        for i, name in enumerate(layout.joint_names):
            other = layout.joint_names[layout.mirror_index[i]]
            assert other == name.replace("left", "#").replace("right", "left").replace("#", "right")
    with pytest.raises(LayoutError, match="available"):
        get_layout("h36m")
    with pytest.raises(LayoutError, match="44"):
        get_layout("coco17").from_official(np.zeros((25, 3)))


def test_noise_statistics_match_the_configured_sigma(camera):
    rng = np.random.default_rng(0)
    points = _random_points_in_view(rng, 4000).reshape(40, 1, 100, 3)
    config = ObservationConfig(pixel_sigma_px=3.0, sigma_per_box_height=0.0, joint_dropout_probability=0.0,
                               person_miss_probability=0.0, swap_probability=0.0, occlusion=False)
    obs = observe(keypoints_world_m=points, layout=_points_layout(100), cameras=(camera,), config=config,
                  rng=np.random.default_rng(1))
    error = obs.keypoints_px[..., :2] - obs.clean_px
    assert obs.in_image.all() and (obs.keypoints_px[..., 2] > 0).all()
    np.testing.assert_allclose(error.reshape(-1, 2).std(axis=0), 3.0, rtol=0.04)
    np.testing.assert_allclose(error.reshape(-1, 2).mean(axis=0), 0.0, atol=0.15)
    assert obs.keypoints_px[..., 2].mean() == pytest.approx(0.85, abs=0.01)


def test_truncation_at_the_image_border_and_behind_the_camera(camera):
    points = np.array([[4.0, 0.0, 0.0],      # centre
                       [4.0, -5.0, 0.0],     # far right: u = 320 + 500 * 5 / 4 > 640
                       [4.0, 0.0, 2.5],      # above the image
                       [-4.0, 0.0, 0.0],     # behind the camera
                       [4.0, -2.6, 0.0]])    # u = 645: 5 px outside
    layout = _points_layout(5)
    obs = observe(keypoints_world_m=points[None, None], layout=layout, cameras=(camera,), config=QUIET,
                  rng=np.random.default_rng(0))
    np.testing.assert_array_equal(obs.in_image[0, 0, 0], [True, False, False, False, False])
    np.testing.assert_array_equal(obs.keypoints_px[0, 0, 0, 1:], 0.0)
    assert np.isnan(obs.clean_px[0, 0, 0, 3]).all()
    margin = observe(keypoints_world_m=points[None, None], layout=layout, cameras=(camera,),
                     config=ObservationConfig(**{**QUIET.__dict__, "border_margin_px": 10.0}),
                     rng=np.random.default_rng(0))
    assert margin.in_image[0, 0, 0, 4] and margin.keypoints_px[0, 0, 0, 4, 0] < 640  # reported, clipped inside


def _quad(centre_x_m, half_size_m):
    """Two triangles facing the camera (a square in the plane x = centre_x_m)."""
    h = half_size_m
    vertices = np.array([[centre_x_m, -h, -h], [centre_x_m, h, -h], [centre_x_m, h, h], [centre_x_m, -h, h]])
    return vertices, np.array([[0, 1, 2], [0, 2, 3]])


def test_occluded_joints_get_low_confidence(camera):
    # Person 0's "body" is a 1 m square 3 m away; person 1's joints are 5 m away, some behind the square.
    rng = np.random.default_rng(2)
    joints1 = np.stack([np.full(200, 5.0), rng.uniform(-1.2, 1.2, 200), rng.uniform(-1.2, 1.2, 200)], -1)
    joints0 = np.array([[3.05, 0.0, 0.0]] * 200)  # 5 cm behind its own surface, within its body radius
    quad0, faces = _quad(3.0, 0.5)
    quad1, _ = _quad(5.2, 0.01)  # person 1's own tiny surface behind its joints
    vertices = np.stack([quad0, quad1])[None]  # (T=1, P=2, 4, 3)
    config = ObservationConfig(pixel_sigma_px=1.0, joint_dropout_probability=0.0, person_miss_probability=0.0,
                               swap_probability=0.0, occluded_report_probability=1.0, raster_scale=0.5)
    obs = observe(keypoints_world_m=np.stack([joints0, joints1])[None], layout=_points_layout(200),
                  cameras=(camera,), config=config, rng=np.random.default_rng(3), vertices_world_m=vertices,
                  faces=faces, keypoint_radii_m=np.full((2, 200), 0.1))
    # Behind the square in the image: |y|, |z| < 0.5 * 5 / 3 at depth 5 m (a pixel of slack at the edges).
    behind = np.all(np.abs(joints1[:, 1:]) < 0.5 * 5.0 / 3.0, axis=1)
    edge = np.any(np.abs(np.abs(joints1[:, 1:]) - 0.5 * 5.0 / 3.0) < 0.03, axis=1)
    assert 50 < behind.sum() < 150
    np.testing.assert_array_equal(obs.occluded[0, 0, 1][~edge], behind[~edge])
    assert not obs.occluded[0, 0, 0].any()
    confidence = obs.keypoints_px[0, 0, 1, :, 2]
    assert confidence[obs.occluded[0, 0, 1]].mean() < 0.35 < 0.75 < confidence[~obs.occluded[0, 0, 1]].mean()
    assert confidence[obs.occluded[0, 0, 1]].max() < confidence[~obs.occluded[0, 0, 1]].min() + 0.2
    # Own surface in front by more than the body radius + margin (0.1 + 0.03 m): self-occlusion.
    for depth_m, hidden in ((3.3, True), (3.12, False)):
        obs_self = observe(keypoints_world_m=np.array([[[[depth_m, 0.0, 0.0]]]]), layout=_points_layout(1),
                           cameras=(camera,), config=config, rng=np.random.default_rng(0),
                           vertices_world_m=quad0[None, None], faces=faces, keypoint_radii_m=np.array([[0.1]]))
        assert obs_self.occluded.all() == hidden


def test_failures_happen_at_the_configured_rates(camera):
    rng = np.random.default_rng(4)
    points = _random_points_in_view(rng, 25 * 200 * 4).reshape(200, 4, 25, 3)
    layout = get_layout("openpose25")
    config = ObservationConfig(pixel_sigma_px=0.0, sigma_per_box_height=0.0, joint_dropout_probability=0.1,
                               person_miss_probability=0.2, swap_probability=0.3, view_drop_probability=0.25,
                               occlusion=False)
    obs = observe(keypoints_world_m=points, layout=layout, cameras=(camera, camera), config=config,
                  rng=np.random.default_rng(5))
    assert 1 - obs.view_present.mean() == pytest.approx(0.25, abs=0.05)
    assert not obs.keypoints_px[~obs.view_present].any()
    present = obs.view_present[..., None].repeat(4, axis=-1)
    assert 1 - obs.detected[present].mean() == pytest.approx(0.2, abs=0.03)
    reported = obs.keypoints_px[..., 2] > 0
    assert 1 - reported[obs.detected].mean() == pytest.approx(0.1, abs=0.01)
    assert obs.swapped[obs.detected].mean() == pytest.approx(0.3, abs=0.03)
    # A swapped person's keypoints are the clean ones under the layout's left-right permutation.
    t, v, p = np.argwhere(obs.swapped)[0]
    kp = obs.keypoints_px[t, v, p]
    shown = kp[..., 2] > 0
    np.testing.assert_allclose(kp[shown, :2], obs.clean_px[t, v, p][layout.mirror_index][shown], atol=1e-9)


def test_same_seed_same_observations(camera):
    points = _random_points_in_view(np.random.default_rng(6), 3 * 2 * 25).reshape(3, 2, 25, 3)
    kwargs = dict(keypoints_world_m=points, layout=get_layout("openpose25"), cameras=(camera,),
                  config=ObservationConfig(swap_probability=0.2, joint_dropout_probability=0.2))
    first = observe(rng=np.random.default_rng(7), **kwargs)
    second = observe(rng=np.random.default_rng(7), **kwargs)
    other = observe(rng=np.random.default_rng(8), **kwargs)
    for name in ("keypoints_px", "swapped", "detected", "view_present"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert not np.array_equal(first.keypoints_px, other.keypoints_px)


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="swap_probability"):
        ObservationConfig(swap_probability=1.5).validate()
    with pytest.raises(ValueError, match="pixel_sigma_px"):
        ObservationConfig(pixel_sigma_px=-1.0).validate()


def test_rasterizer_covers_the_triangle_area_with_interpolated_depth():
    points = np.array([[10.0, 10.0], [90.0, 10.0], [10.0, 70.0]])
    depth = np.array([1.0, 2.0, 3.0])
    fragments = rasterize_fragments(points_px=points, depth_m=depth, faces=np.array([[0, 1, 2]]),
                                    owner_of_face=np.array([0]), width_px=100, height_px=80)
    buffer, owner = fragments.nearest()
    covered = np.isfinite(buffer)
    assert covered.sum() == pytest.approx(0.5 * 80 * 60, rel=0.03)
    assert np.all(owner[covered] == 0) and np.all(owner[~covered] == -1)
    row, column = 20, 30  # pixel centre (30.5, 20.5): depth is the plane through the vertices
    expected = 1.0 + (30.5 - 10.0) / 80.0 * 1.0 + (20.5 - 10.0) / 60.0 * 2.0
    assert buffer[row, column] == pytest.approx(expected)
    # Two layers: a nearer triangle of mesh 1 wins the nearest test; both are counted as layers.
    both = rasterize_fragments(points_px=np.concatenate([points, points]), depth_m=np.concatenate([depth, depth - 0.5]),
                               faces=np.array([[0, 1, 2], [3, 4, 5]]), owner_of_face=np.array([0, 1]),
                               width_px=100, height_px=80)
    nearest, owners = both.nearest()
    assert np.all(owners[covered] == 1) and buffer[row, column] - nearest[row, column] == pytest.approx(0.5)
    query = np.array([[30.5, 20.5]])
    for owner_id, depth_limit, count in ((0, 10.0, 1), (1, 10.0, 1), (0, expected - 0.01, 0), (1, expected, 1)):
        layers = both.count_in_front(points_px=query, owner=np.array([owner_id]), depth_m=np.array([depth_limit]))
        assert layers == count
    # A pixel centre on the shared edge of two triangles of one surface is one layer, not two.
    square = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]])
    one_layer = rasterize_fragments(points_px=square, depth_m=np.full(4, 2.0), faces=np.array([[0, 1, 2], [0, 2, 3]]),
                                    owner_of_face=np.array([0, 0]), width_px=4, height_px=4)
    assert one_layer.pixel.size == 16
