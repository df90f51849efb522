"""``scorehmr-ros sim``: synthetic scenes with ground truth, and rig files.

    scorehmr-ros sim scene --rig ring4 --people 2 --clip walk --frames 60 --seed 0 --output scene.npz
    scorehmr-ros sim rig --rig ring4 --output rig.yaml
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace

from scorehmr_ros.cli.arg_types import positive_int, ranged
from scorehmr_ros.cli.render_cli import add_parsers as add_render_parsers

_LOG = logging.getLogger(__name__)
#: Clip names accepted by --clip: deepmimic.CLIP_NAMES, repeated to keep scipy out of parser set-up (a test checks).
_CLIPS = ("backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown", "getup_faceup", "jump",
          "kick", "punch", "roll", "run", "spin", "spinkick", "walk")


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _clip_list(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in _CLIPS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"unknown clip(s) {unknown or text!r}; choose from {', '.join(_CLIPS)}")
    return names


def _given(**values) -> dict:
    """The flags the user gave (not None), as config field overrides."""
    return {name: value for name, value in values.items() if value is not None}


def add_parser(subparsers) -> None:
    """Register ``sim`` with its ``scene`` and ``rig`` subcommands (no heavy imports here)."""
    parser = subparsers.add_parser("sim", help="synthetic rigs and scenes with ground truth",
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sim_commands = parser.add_subparsers(dest="sim_command", metavar="SIM_COMMAND", required=True)

    scene = sim_commands.add_parser("scene", help="simulate people seen by a rig and write one npz with ground truth",
                                    formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    scene.add_argument("--rig", default="ring4", help="rig name: ring<N> (N=1..32), stereo, wide3")
    scene.add_argument("--rig-yaml", default=None, help="rig YAML file (overrides --rig)")
    # None: the default of the matching SceneConfig / ObservationConfig field (defaults live there only).
    scene.add_argument("--people", type=ranged(int, minimum=1, maximum=6), default=None,
                       help="number of people, 1..6 [SceneConfig.num_people]")
    scene.add_argument("--clip", type=_clip_list, default=None,
                       help=f"comma-separated motion clips, assigned to people in turn ({', '.join(_CLIPS)}) "
                            "[SceneConfig.clips]")
    scene.add_argument("--frames", type=positive_int, default=None,
                       help="frames to simulate [SceneConfig.num_frames]")
    scene.add_argument("--fps", type=float, default=None, help="frame rate, Hz [SceneConfig.fps]")
    scene.add_argument("--seed", type=int, default=None, help="random seed of every random choice [SceneConfig.seed]")
    scene.add_argument("--layout", default=None, choices=["openpose25", "coco17", "mediapipe33"],
                       help="2D keypoint layout of the observations [SceneConfig.layout]")
    scene.add_argument("--pixel-sigma", type=_non_negative_float, default=None,
                       help="keypoint noise std of visible joints, pixels [ObservationConfig.pixel_sigma_px]")
    scene.add_argument("--no-occlusion", action="store_true", help="skip the mesh occlusion test")
    scene.add_argument("--body-model", default=None,
                       help="body model .npz (default: the generated STAND-IN body model, not SMPL)")
    scene.add_argument("--output", required=True, help="output scene file (.npz)")
    scene.set_defaults(run=run_scene)

    rig = sim_commands.add_parser("rig", help="write a named rig as rig YAML",
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    rig.add_argument("--rig", default="ring4", help="rig name: ring<N> (N=1..32), stereo, wide3")
    rig.add_argument("--output", required=True, help="output YAML file")
    rig.set_defaults(run=run_rig)
    add_render_parsers(sim_commands)  # render, contact-sheet, bone-check (cli/render_cli.py)


def run_scene(args: argparse.Namespace) -> int:
    """Generate the scene and write it; returns the exit status."""
    from scorehmr_ros.assets.paths import ensure_standin_body_model
    from scorehmr_ros.body.body_model import BodyModel
    from scorehmr_ros.geometry.rig_io import load_rig
    from scorehmr_ros.geometry.rigs import make_rig
    from scorehmr_ros.sim.observation import ObservationConfig
    from scorehmr_ros.sim.scene import SceneConfig, generate_scene
    from scorehmr_ros.sim.scene_io import save_scene

    rig = load_rig(args.rig_yaml) if args.rig_yaml else make_rig(args.rig)
    body_model = BodyModel.from_file(args.body_model or ensure_standin_body_model())
    observation = replace(ObservationConfig(), occlusion=not args.no_occlusion,
                          **_given(pixel_sigma_px=args.pixel_sigma))
    config = replace(SceneConfig(), observation=observation,
                     **_given(num_people=args.people, clips=args.clip, num_frames=args.frames, fps=args.fps,
                              layout=args.layout, seed=args.seed))
    try:
        config.validate()
    except ValueError as error:
        _LOG.error("%s", error)
        return 2
    scene = generate_scene(config=config, cameras=rig.cameras, body_model=body_model, rig_name=rig.name,
                           world_frame=rig.world_frame)
    path = save_scene(scene, args.output)
    obs = scene.observations
    people, frames = scene.ground_truth.transl_m.shape[:2]
    _LOG.info("wrote %s: %d people x %d frames, %d views (%s), layout %s; %.0f%% of in-image joints occluded; "
              "body model: %s", path, people, frames, len(rig.cameras), rig.name, obs.layout,
              100.0 * obs.occluded[obs.in_image].mean() if obs.in_image.any() else 0.0, scene.body_model_description)
    return 0


def run_rig(args: argparse.Namespace) -> int:
    """Write the rig YAML; returns the exit status."""
    from scorehmr_ros.geometry.rig_io import save_rig
    from scorehmr_ros.geometry.rigs import make_rig

    save_rig(make_rig(args.rig), args.output)
    _LOG.info("wrote %s", args.output)
    return 0
