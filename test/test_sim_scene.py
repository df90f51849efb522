"""Scenes end to end: generation with the stand-in body model, npz round trip, re-projection, CLI."""

from dataclasses import fields

import numpy as np
import pytest

pytest.importorskip("pybullet_data")

from scorehmr_ros.assets.standin import write_standin_npz  # noqa: E402
from scorehmr_ros.body.body_model import BodyModel  # noqa: E402
from scorehmr_ros.cli import sim_cli as sim_cli  # noqa: E402
from scorehmr_ros.cli.main import main  # noqa: E402
from scorehmr_ros.geometry.rig_io import load_rig  # noqa: E402
from scorehmr_ros.geometry.rigs import make_rig  # noqa: E402
from scorehmr_ros.sim import deepmimic  # noqa: E402
from scorehmr_ros.sim.layouts import get_layout  # noqa: E402
from scorehmr_ros.sim.observation import ObservationConfig, Observations  # noqa: E402
from scorehmr_ros.sim.scene import GroundTruth, SceneConfig, generate_scene, pose_bodies  # noqa: E402
from scorehmr_ros.sim.scene_io import SceneFileError, load_scene, save_scene  # noqa: E402


@pytest.fixture(scope="module")
def body_model_path(tmp_path_factory):
    return write_standin_npz(tmp_path_factory.mktemp("standin") / "standin.npz")


@pytest.fixture(scope="module")
def body_model(body_model_path):
    return BodyModel.from_file(body_model_path)


@pytest.fixture(scope="module")
def scene(body_model):
    rig = make_rig("ring3")
    config = SceneConfig(num_people=2, clips=("walk", "run"), num_frames=12, seed=3)
    return generate_scene(config=config, cameras=rig.cameras, body_model=body_model, rig_name=rig.name)


def test_scene_file_round_trip_is_exact(scene, tmp_path):
    path = save_scene(scene, tmp_path / "scene.npz")
    back = load_scene(path)
    for name in ("rig_name", "world_frame", "fps", "seed", "body_model_description"):
        assert getattr(back, name) == getattr(scene, name)
    assert "STAND-IN" in back.body_model_description
    for loaded, original in zip(back.cameras, scene.cameras, strict=True):
        assert (loaded.name, loaded.frame_id, loaded.width_px, loaded.height_px) == (
            original.name, original.frame_id, original.width_px, original.height_px)
        for name in ("K", "R_cam_world", "t_cam_world_m", "distortion"):
            np.testing.assert_array_equal(getattr(loaded, name), getattr(original, name))
    for dataclass_type, loaded, original in ((GroundTruth, back.ground_truth, scene.ground_truth),
                                             (Observations, back.observations, scene.observations)):
        for field in fields(dataclass_type):
            a, b = getattr(loaded, field.name), getattr(original, field.name)
            if isinstance(b, np.ndarray):
                assert a.dtype == b.dtype, field.name
                np.testing.assert_array_equal(a, b, err_msg=field.name)
            else:
                assert a == b, field.name


def test_keypoints_reprojected_from_ground_truth_match_clean_observations(scene, body_model, tmp_path):
    back = load_scene(save_scene(scene, tmp_path / "scene.npz"))
    truth = back.ground_truth
    vertices, joints, _ = pose_bodies(body_model, global_orient=truth.global_orient, body_pose=truth.body_pose,
                                      betas=truth.betas, transl_m=truth.transl_m)
    np.testing.assert_allclose(joints, truth.joints_world_m, atol=1e-6)
    keypoints = get_layout(back.observations.layout).from_official(joints)  # (P, T, J, 3)
    for view, camera in enumerate(back.cameras):
        reprojected = camera.project(keypoints).transpose(1, 0, 2, 3)  # (T, P, J, 2)
        # The body model runs in float32 (micrometres), hence a thousandth of a pixel.
        np.testing.assert_allclose(reprojected, back.observations.clean_px[:, view], atol=1e-3)
    # Everyone stands on the floor: the lowest vertex of each person over the clip is at z = 0.
    np.testing.assert_allclose(vertices[..., 2].min(axis=(1, 2)), 0.0, atol=1e-6)


def test_scene_content_is_plausible(scene):
    truth, obs = scene.ground_truth, scene.observations
    assert truth.clip_names == ("walk", "run_mirrored")
    assert obs.keypoints_px.shape == (12, 3, 2, 25, 3)
    pelvis = truth.smpl_joints_world_m[:, :, 0]
    assert np.all(np.hypot(pelvis[..., 0], pelvis[..., 1]) < 3.0) and np.all(pelvis[..., 2] > 0.6)
    assert obs.in_image.mean() > 0.9
    visible = (obs.keypoints_px[..., 2] > 0) & ~obs.occluded & ~obs.swapped[..., None]
    error_px = np.linalg.norm(obs.keypoints_px[..., :2] - obs.clean_px, axis=-1)[visible]
    assert 1.0 < np.median(error_px) < 8.0  # 2 px + 0.5 % of the box height per axis


def test_same_seed_same_scene(body_model, scene):
    rig = make_rig("ring3")
    config = SceneConfig(num_people=2, clips=("walk", "run"), num_frames=12, seed=3)
    again = generate_scene(config=config, cameras=rig.cameras, body_model=body_model, rig_name=rig.name)
    np.testing.assert_array_equal(again.observations.keypoints_px, scene.observations.keypoints_px)
    np.testing.assert_array_equal(again.ground_truth.transl_m, scene.ground_truth.transl_m)
    other = generate_scene(config=SceneConfig(num_people=2, num_frames=12, seed=4,
                                              observation=ObservationConfig(occlusion=False)),
                           cameras=rig.cameras, body_model=body_model)
    assert not np.array_equal(other.ground_truth.betas, scene.ground_truth.betas)


def test_cli_scene_and_rig(body_model_path, tmp_path):
    output = tmp_path / "scene.npz"
    status = main(["sim", "scene", "--rig", "stereo", "--people", "1", "--clip", "walk", "--frames", "4",
                   "--seed", "0", "--layout", "coco17", "--body-model", str(body_model_path), "--output", str(output)])
    assert status == 0
    scene = load_scene(output)
    assert scene.rig_name == "stereo" and scene.observations.keypoints_px.shape == (4, 2, 1, 17, 3)
    rig_path = tmp_path / "rig.yaml"
    assert main(["sim", "rig", "--rig", "wide3", "--output", str(rig_path)]) == 0
    assert [c.name for c in load_rig(rig_path).cameras] == ["cam0", "cam1", "cam2"]
    with pytest.raises(SystemExit):
        main(["sim", "scene", "--people", "7", "--output", str(output)])


def test_cli_clip_names_match_the_shipped_clips():
    assert sim_cli._CLIPS == deepmimic.CLIP_NAMES


def test_not_a_scene_file(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(SceneFileError, match="missing arrays"):
        load_scene(path)
    with pytest.raises(SceneFileError, match="readable"):
        load_scene(tmp_path / "absent.npz")


def test_scene_config_validation():
    with pytest.raises(ValueError, match="num_people"):
        SceneConfig(num_people=7).validate()
    with pytest.raises(ValueError, match="layout"):
        SceneConfig(layout="h36m").validate()


def test_frame_rates_below_the_clips_give_every_frame_at_that_rate(body_model):
    rig = make_rig("ring3")
    at_30 = generate_scene(config=SceneConfig(num_people=1, clips=("walk",), num_frames=31, fps=30.0, seed=4),
                           cameras=rig.cameras, body_model=body_model)
    at_10 = generate_scene(config=SceneConfig(num_people=1, clips=("walk",), num_frames=11, fps=10.0, seed=4),
                           cameras=rig.cameras, body_model=body_model)
    assert at_10.ground_truth.transl_m.shape == (1, 11, 3) and at_10.fps == 10.0
    # The same second of motion: frame n at 10 Hz is frame 3n at 30 Hz (same seed, same start and heading; the
    # placement centres the mean pelvis, which differs slightly between the two samplings, so compare relative).
    relative_10, relative_30 = (joints - joints[:1, :1] for joints in (
        at_10.ground_truth.smpl_joints_world_m[0], at_30.ground_truth.smpl_joints_world_m[0, ::3]))
    np.testing.assert_allclose(relative_10, relative_30, atol=1e-4)


def test_crossing_paths_pass_the_centre_one_after_the_other(body_model):
    rig = make_rig("ring3")
    scene = generate_scene(config=SceneConfig(num_people=2, clips=("walk",), num_frames=24, fps=5.0,
                                              placement="crossing", seed=3), cameras=rig.cameras,
                           body_model=body_model)
    pelvis_xy = scene.ground_truth.smpl_joints_world_m[:, :, 0, :2]  # (P, T, 2)
    nearest_frame = np.argmin(np.linalg.norm(pelvis_xy, axis=-1), axis=1)
    assert np.abs(nearest_frame - np.array([8, 15])).max() <= 1  # (p + 1) / (P + 1) of 23 frames
    assert np.linalg.norm(pelvis_xy[:, nearest_frame], axis=-1).diagonal().max() < 0.05
    headings = pelvis_xy[:, -1] - pelvis_xy[:, 0]
    cosine = headings[0] @ headings[1] / np.prod(np.linalg.norm(headings, axis=-1))
    assert abs(cosine) < 0.2  # two people: directions 90 degrees apart
    assert np.linalg.norm(pelvis_xy[0] - pelvis_xy[1], axis=-1).min() >= 0.6
    with pytest.raises(ValueError, match="placement"):
        SceneConfig(placement="line").validate()
