"""Write test/fixtures/golden/geometry_official.npz from the official ScoreHMR geometry code.

Usage:
    python tools/make_geometry_golden.py --official-repo /path/to/ScoreHMR \
        --out test/fixtures/golden/geometry_official.npz

The official modules ``score_hmr/utils/geometry.py`` and ``score_hmr/utils/utils.py`` are
imported from the given checkout (nothing of them is copied here); they need only torch and
numpy. Inputs are drawn from a seeded generator; the outputs are what the official functions
return for them (float32, CPU).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import types
from pathlib import Path

import numpy as np
import torch

SEED = 20240601
NUM_ROTATIONS = 256


def _import_official(repo: Path) -> tuple[types.ModuleType, types.ModuleType]:
    package = types.ModuleType("official_utils")
    package.__path__ = [str(repo / "score_hmr" / "utils")]
    sys.modules["official_utils"] = package
    geometry = importlib.import_module("official_utils.geometry")
    utils = importlib.import_module("official_utils.utils")
    return geometry, utils


def _axis_angle_inputs(generator: torch.Generator) -> torch.Tensor:
    axes = torch.nn.functional.normalize(torch.randn(NUM_ROTATIONS, 3, generator=generator), dim=-1)
    angles = torch.rand(NUM_ROTATIONS, 1, generator=generator) * np.pi
    angles[:8] = torch.tensor([0.0, 1e-9, 1e-6, 1e-4, 1e-2, np.pi - 1e-3, np.pi, 3.0])[:, None]
    return (axes * angles).float()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official-repo", type=Path, required=True, help="checkout of statho/ScoreHMR")
    parser.add_argument("--out", type=Path, required=True, help="output .npz")
    args = parser.parse_args()
    geometry, utils = _import_official(args.official_repo)
    generator = torch.Generator().manual_seed(SEED)

    axis_angle = _axis_angle_inputs(generator)
    quaternion = torch.randn(NUM_ROTATIONS, 4, generator=generator)
    rot6d = torch.randn(NUM_ROTATIONS, 6, generator=generator)
    batch, joints = 4, 44
    points = torch.randn(batch, joints, 3, generator=generator) * 0.5
    translation_xy = torch.randn(batch, 2, generator=generator)
    translation = torch.cat([translation_xy, 20 + 5 * torch.rand(batch, 1, generator=generator)], 1)
    focal = 5000 + 100 * torch.rand(batch, 2, generator=generator)
    center = 300 + 200 * torch.rand(batch, 2, generator=generator)
    rotation = geometry.aa_to_rotmat(torch.randn(batch, 3, generator=generator) * 0.3)
    cam_scale = 0.5 + torch.rand(batch, 1, generator=generator)
    cam_crop = torch.cat([cam_scale, 0.2 * torch.randn(batch, 2, generator=generator)], 1)
    box_center = 100 + 500 * torch.rand(batch, 2, generator=generator)
    box_size = 100 + 300 * torch.rand(batch, generator=generator)
    image_size = torch.tensor([[640.0, 480.0], [1920.0, 1080.0], [480.0, 640.0], [1000.0, 1000.0]])

    with torch.no_grad():
        arrays = {
            "axis_angle": axis_angle,
            "axis_angle_rotmat": geometry.aa_to_rotmat(axis_angle),
            "quaternion": quaternion,
            "quaternion_rotmat": geometry.quat_to_rotmat(quaternion),
            "rot6d": rot6d,
            "rot6d_rotmat": geometry.rot6d_to_rotmat(rot6d),
            "proj_points": points,
            "proj_translation": translation,
            "proj_focal": focal,
            "proj_center": center,
            "proj_rotation": rotation,
            "proj_pixels": geometry.perspective_projection(points, translation, focal, center, rotation),
            "proj_pixels_norot": geometry.perspective_projection(points, translation, focal, center, None),
            "crop_cam": cam_crop,
            "crop_box_center": box_center,
            "crop_box_size": box_size,
            "crop_image_size": image_size,
            "crop_full_cam": utils.cam_crop_to_full(cam_crop, box_center, box_size, image_size, 5000.0),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **{k: v.numpy() for k, v in arrays.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
