"""The simulated rig's ROS-free logic: settings, rigs, scenes at the publish rate, schedule, stamps, ground truth."""

import numpy as np
import pytest
import torch

from scorehmr_ros.assets.paths import ensure_standin_body_model
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.geometry.rig_io import save_rig
from scorehmr_ros.sim.live_rig import (
    DEMO_RING,
    FrameSchedule,
    LockstepGate,
    SimRigConfig,
    build_scene,
    camera_stamps_ns,
    clip_stride,
    ground_truth_bodies,
    published_cameras,
    render_rig_frames,
    resolve_rig,
)
from scorehmr_ros.sim.scene_io import save_scene


@pytest.fixture(scope="module")
def body_model():
    return BodyModel.from_file(ensure_standin_body_model())


@pytest.fixture(scope="module")
def scene(body_model):
    return build_scene(SimRigConfig(rig="demo2", num_frames=5, fps=10.0, num_people=2), body_model)


def test_config_names_bad_settings():
    assert SimRigConfig().validate() == SimRigConfig()
    with pytest.raises(ValueError, match=r"fps: must be 30 Hz divided by a whole number .* got 12.0"):
        SimRigConfig(fps=12.0).validate()
    with pytest.raises(ValueError, match="painting: must be one of clothed, flat; got 'shiny'"):
        SimRigConfig(painting="shiny").validate()
    with pytest.raises(ValueError, match="num_people: must be <= 6"):
        SimRigConfig(num_people=7).validate()
    with pytest.raises(ValueError, match="unknown rig 'ring'"):
        SimRigConfig(rig="ring").validate()
    assert [clip_stride(fps) for fps in (30.0, 15.0, 10.0, 7.5)] == [1, 2, 3, 4]


def test_rigs_by_name_and_yaml(tmp_path):
    demo = resolve_rig("demo3")
    assert demo.name == "demo3" and len(demo.cameras) == 3
    camera = demo.cameras[0]
    assert (camera.width_px, camera.height_px) == (640, 480)
    assert np.allclose(camera.center_world_m, [DEMO_RING["radius_m"], 0.0, DEMO_RING["height_m"]])
    save_rig(demo, tmp_path / "rig.yaml")
    loaded = resolve_rig(str(tmp_path / "rig.yaml"))
    assert [c.name for c in loaded.cameras] == ["cam0", "cam1", "cam2"]
    assert np.allclose(loaded.cameras[2].T_world_cam, demo.cameras[2].T_world_cam)


def test_generated_scene_plays_at_the_requested_rate(scene, body_model):
    truth = scene.ground_truth
    assert scene.fps == 10.0 and truth.transl_m.shape[:2] == (2, 5) and scene.observations.keypoints_px.shape[0] == 5
    # Subsampled, not slowed down: walking pelvises move about 1 m/s of scene time.
    speed_m_s = np.linalg.norm(np.diff(truth.smpl_joints_world_m[:, :, 0, :2], axis=1), axis=-1) * scene.fps
    assert 0.4 < np.median(speed_m_s) < 2.5
    native = build_scene(SimRigConfig(rig="demo2", num_frames=13, fps=30.0), body_model)
    assert np.allclose(native.ground_truth.transl_m[:, ::3], truth.transl_m)


def test_scene_file_is_played_as_saved(scene, body_model, tmp_path):
    path = save_scene(scene, tmp_path / "scene.npz")
    loaded = build_scene(SimRigConfig(rig="not-used", scene_path=str(path)), body_model)
    assert loaded.fps == scene.fps and np.array_equal(loaded.ground_truth.transl_m, scene.ground_truth.transl_m)
    assert [c.name for c in loaded.cameras] == ["cam0", "cam1"]


def test_schedule_stamps_and_dropout():
    looping, once = FrameSchedule(num_frames=3, loop=True), FrameSchedule(num_frames=3, loop=False)
    assert [looping.frame(k) for k in range(7)] == [0, 1, 2, 0, 1, 2, 0]
    assert [once.frame(k) for k in range(4)] == [0, 1, 2, None]
    rng = np.random.default_rng(0)
    assert camera_stamps_ns(5_000, num_cameras=4, jitter_s=0.0, rng=rng).tolist() == [5_000] * 4
    jittered = camera_stamps_ns(10**12, num_cameras=1000, jitter_s=0.004, rng=rng)
    assert np.abs(jittered - 10**12).max() <= 4_000_000 and np.std(jittered) > 1_000_000
    config = SimRigConfig(dropout_camera="cam1", dropout_start_frame=10, dropout_frames=15)
    assert [k for k in range(40) if config.camera_dropped("cam1", k)] == list(range(10, 25))
    assert not any(config.camera_dropped("cam0", k) for k in range(40))


def test_ground_truth_bodies_agree_with_the_body_model(scene, body_model):
    bodies = ground_truth_bodies(scene.ground_truth, frame=3, stamp_ns=77, num_views=2)
    assert [b.track_id for b in bodies] == [0, 1] and all(b.stamp_ns == 77 and b.num_views == 2 for b in bodies)
    rotations = torch.as_tensor(np.stack([b.rotations for b in bodies]), dtype=torch.float32)
    out = body_model(global_orient=rotations[:, :1], body_pose=rotations[:, 1:],
                     betas=torch.as_tensor(np.stack([b.betas for b in bodies]), dtype=torch.float32),
                     transl_m=torch.as_tensor(np.stack([b.translation_world_m for b in bodies]), dtype=torch.float32))
    joints = np.stack([b.joints_world_m for b in bodies])
    assert bodies[0].joint_layout == "smpl24" and joints.shape == (2, 24, 3)
    assert np.abs(out.smpl_joints_m.numpy() - joints).max() < 1e-4


def test_rendered_frames_show_the_people_where_they_stand(scene, body_model):
    cameras = published_cameras(scene, render_scale=0.25)
    assert (cameras[0].width_px, cameras[0].height_px) == (160, 120)
    calls = []
    bgr = render_rig_frames(scene, body_model, cameras=cameras, painting="clothed", encoding="bgr8",
                            progress=lambda done, total: calls.append((done, total)))
    rgb = render_rig_frames(scene, body_model, cameras=cameras[:1], painting="clothed", encoding="rgb8")
    assert calls == [(t, 5) for t in range(1, 6)] and len(bgr) == 5 and len(bgr[0]) == 2
    assert bgr[0][0].shape == (120, 160, 3) and bgr[0][0].dtype == np.uint8
    assert np.array_equal(bgr[2][0][..., ::-1], rgb[2][0])
    # Each person's shirt colour (person_rgb) appears near the projection of their spine.
    spine = scene.ground_truth.smpl_joints_world_m[:, 2, 6]  # (P, 3) spine2 in frame 2
    for camera, image in zip(cameras, bgr[2], strict=True):
        u, v = np.round(camera.project(spine)).astype(int).T
        changed = [np.abs(image[y - 2:y + 3, x - 2:x + 3].astype(int) - image[0, 0].astype(int)).sum(-1).max()
                   for x, y in zip(u, v, strict=True)]
        assert min(changed) > 60, changed


def test_lockstep_gate_waits_for_every_stream_by_its_lag_and_times_out():
    gate = LockstepGate(lags={"keypoints": 0, "bodies": 2}, timeout_s=10.0)
    assert gate.ready(now_s=0.0)  # nothing sent yet
    gate.sent(100, now_s=0.0)
    assert not gate.ready(now_s=1.0)  # frame 0 not through perception yet
    gate.output("keypoints", 100)
    assert gate.ready(now_s=1.0)  # the fitter holds back 2 sets: nothing to wait for from it yet
    for stamp in (200, 300):
        gate.sent(stamp, now_s=1.0)
        gate.output("keypoints", stamp)
    assert not gate.ready(now_s=2.0)  # frame 2 sent: the fitter's output of frame 0 is due
    gate.output("bodies", 100)
    assert gate.ready(now_s=2.0) and gate.finished()
    gate.sent(400, now_s=2.0)
    gate.output("keypoints", 400)
    gate.output("bodies", 150)  # an older set than frame 1's
    assert not gate.ready(now_s=11.9) and gate.timeouts == 0
    assert gate.ready(now_s=12.0) and gate.timeouts == 1  # a lost set costs one timeout
    gate.output("bodies", 300)  # a later set than frame 1's: frame 1 is done as well
    assert gate.finished()
