"""Render a grid of poses drawn from a keypoint-only prior (unguided DDIM from noise) on the stand-in body.

Usage:
    .venv/bin/python tools/render_prior_samples.py --prior scorehmr_ros/data/priors/deepmimic_prior.pt \
        --out docs/prior_samples.png --rows 3 --cols 5 --seed 0

Sampling: ``Diffusion.ddim_sample`` with the official unguided settings (x ~ N(0, I) at t = 950, DDIM step 50,
x̂_0 clipped to [-1, 1], η = 0), seeded. Each sample is posed on the generated STAND-IN body (mean shape),
turned about the world vertical so that it faces the camera (the prior is heading-invariant), lowered onto
the floor, and rendered with ``sim/render.py``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prior", type=Path, required=True, help="prior checkpoint (.pt)")
    parser.add_argument("--out", type=Path, required=True, help="output PNG")
    parser.add_argument("--rows", type=int, default=3, help="grid rows")
    parser.add_argument("--cols", type=int, default=5, help="grid columns")
    parser.add_argument("--seed", type=int, default=0, help="seed of the DDIM noise")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from scorehmr_ros.assets.paths import ensure_standin_body_model
    from scorehmr_ros.body.body_model import BodyModel
    from scorehmr_ros.diffusion.checkpoint import load_diffusion_checkpoint
    from scorehmr_ros.geometry.camera import Camera
    from scorehmr_ros.geometry.rigs import look_at
    from scorehmr_ros.geometry.rotations import rot6d_to_matrix
    from scorehmr_ros.sim.paint import clothed_colours, person_rgb
    from scorehmr_ros.sim.render import RenderConfig, render_frame
    from scorehmr_ros.training.training_data import apply_heading

    prior = load_diffusion_checkpoint(args.prior)
    num = args.rows * args.cols
    generator = torch.Generator().manual_seed(args.seed)
    x0 = prior.ddim_sample(None, batch_size=num, sample_start=999, step=50, generator=generator)  # (B, 144)
    rotations = rot6d_to_matrix(x0.reshape(num, 24, 6)).double()  # (B, 24, 3, 3)
    forward = rotations[:, 0] @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)  # body z axis in the world
    heading = torch.atan2(forward[:, 1], forward[:, 0])
    rotations = apply_heading(rotations, -math.pi / 2 - heading)  # face the camera on the -y side

    body = BodyModel.from_file(ensure_standin_body_model())
    with torch.no_grad():
        out = body(global_orient=rotations[:, :1].float(), body_pose=rotations[:, 1:].float(),
                   betas=torch.zeros(num, body.num_betas))
    vertices = out.vertices_m.double().numpy()  # (B, N, 3)
    vertices[..., :2] -= vertices.mean(axis=1, keepdims=True)[..., :2]
    vertices[..., 2] -= vertices[..., 2].min(axis=1, keepdims=True)
    faces = body.faces.numpy()
    rest = body.v_template.double().numpy()
    weights = body.lbs_weights.double().numpy()
    colours = clothed_colours(lbs_weights=weights, rest_vertices_m=rest, shirt_rgb=person_rgb(0))
    width, height = 240, 300
    focal = 1.45 * width
    K = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    R, t = look_at(position_world_m=np.array([0.0, -3.2, 1.2]), target_world_m=np.array([0.0, 0.0, 0.8]))
    camera = Camera(name="grid", K=K, width_px=width, height_px=height, R_cam_world=R, t_cam_world_m=t)
    config = RenderConfig(supersample=2)

    fig, axes = plt.subplots(args.rows, args.cols, figsize=(2.4 * args.cols, 3.0 * args.rows + 0.6))
    for i, ax in enumerate(np.asarray(axes).reshape(-1)):
        image = render_frame(camera, vertices_world_m=vertices[i:i + 1], faces=faces, colours_rgb=colours[None],
                             config=config)
        ax.imshow(image)
        ax.set_axis_off()
        ax.set_title(f"sample {i}", fontsize=8)
    fig.suptitle(f"Unguided DDIM samples of {args.prior.name} (seed {args.seed}), posed on the "
                 f"{body.description.split(':')[0]}", fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)


if __name__ == "__main__":
    main()
