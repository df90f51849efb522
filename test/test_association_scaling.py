"""Association thresholds scale with the camera: the same scene seen by a VGA rig and by the same rig at 1080p
(intrinsics x3, so keypoint noise x3 in pixels) gives the same groupings, with every camera used."""

from dataclasses import replace

import numpy as np
import pytest

from scorehmr_ros.body.layouts import OPENPOSE25_NAMES
from scorehmr_ros.geometry.rigs import ring_rig
from scorehmr_ros.geometry.triangulation import focal_scales
from scorehmr_ros.pipeline.association import associate

from multiview_synth import observe, random_people

VGA = ring_rig(num_cameras=4, width_px=640, height_px=360, horizontal_fov_deg=70).cameras  # focal 457 px


def _scaled(camera, factor: int):
    K = camera.K.copy()
    K[:2] *= factor
    return replace(camera, K=K, width_px=camera.width_px * factor, height_px=camera.height_px * factor)


HD = tuple(_scaled(camera, 3) for camera in VGA)  # 1920 x 1080, focal 1371 px


def _groups(association):
    return sorted(tuple(sorted(group.detections.items())) for group in association.groups)


def test_vga_and_1080p_of_the_same_scene_group_alike_with_every_camera():
    rng = np.random.default_rng(0)
    for _ in range(12):
        truth = random_people(num_people=int(rng.integers(2, 5)), rng=rng)
        # 5 px at VGA (about 1% of a person's height 4 m away), 15 px at 1080p: the same error in angle
        observed = observe(joints_world_m=truth, cameras=VGA, rng=rng, noise_px=5.0)
        keypoints_hd = [np.concatenate([kp[..., :2] * 3.0, kp[..., 2:]], axis=-1) for kp in observed.keypoints_px]
        vga = associate(keypoints_px=observed.keypoints_px, cameras=VGA, joint_names=OPENPOSE25_NAMES)
        hd = associate(keypoints_px=keypoints_hd, cameras=HD, joint_names=OPENPOSE25_NAMES)
        assert _groups(hd) == _groups(vga)
        assert not hd.unassociated and all(len(group.detections) == len(HD) for group in hd.groups)


def test_focal_scales_keep_pixels_up_to_the_reference_focal():
    assert focal_scales(VGA, 1000.0) == pytest.approx(np.ones(4))
    assert focal_scales(HD, 1000.0) == pytest.approx(np.full(4, 1.371022), rel=1e-5)
    assert focal_scales(HD, 0.0) == pytest.approx(np.ones(4))
