"""``scorehmr-ros sim render | contact-sheet | bone-check``: images and checks of simulated motion.

    scorehmr-ros sim render --scene scene.npz --output out.mp4 [--view 0|all] [--painting clothed]
    scorehmr-ros sim render --scene scene.npz --output frame.png --frame 10
    scorehmr-ros sim contact-sheet --output docs/motion_contact_sheet.png
    scorehmr-ros sim bone-check [--output table.md]

Registered by ``scorehmr_ros.cli.sim_cli`` under ``sim``; heavy imports happen in the run functions.
"""

from __future__ import annotations

import argparse
import logging

from scorehmr_ros.cli.arg_types import ranged

_LOG = logging.getLogger(__name__)


def _view(text: str) -> int | str:
    if text == "all":
        return text
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a camera index >= 0 or 'all', got {value}")
    return value


def _count(low: int, high: int):
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}], got {value}")
        return value
    return parse


def _tile(text: str) -> tuple[int, int]:
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, e.g. 128x160, got {text!r}") from error
    if min(width, height) < 32:
        raise argparse.ArgumentTypeError(f"tile sides must be >= 32 px, got {text!r}")
    return width, height


def add_parsers(sim_commands) -> None:
    """Add ``render``, ``contact-sheet`` and ``bone-check`` to the ``sim`` subcommands (no heavy imports)."""
    formatter = argparse.ArgumentDefaultsHelpFormatter
    render = sim_commands.add_parser("render", formatter_class=formatter,
                                     help="render a scene's people (shaded meshes on a floor) to MP4 or PNG")
    render.add_argument("--scene", required=True, help="scene file written by 'sim scene' (.npz)")
    render.add_argument("--output", required=True,
                        help="output: .mp4 (every frame; PNG sequence if OpenCV cannot write MP4) or .png (one frame)")
    render.add_argument("--view", type=_view, default=0, help="camera index, or 'all' for every view tiled")
    render.add_argument("--frame", type=int, default=0, help="frame index for a .png output")
    render.add_argument("--max-frames", type=_count(1, 100000), default=None, help="render at most this many frames")
    render.add_argument("--painting", choices=["clothed", "flat"], default="clothed",
                        help="clothed: skin/shirt/trousers/shoes/hair/face by skinning weight; flat: one colour")
    render.add_argument("--scale", type=ranged(float, minimum=0.05, maximum=4.0), default=1.0,
                        help="image size relative to the cameras' resolution")
    render.add_argument("--supersample", type=_count(1, 4), default=1, help="anti-aliasing factor per axis")
    render.add_argument("--columns", type=_count(1, 8), default=2, help="grid columns with --view all")
    render.add_argument("--body-model", default=None,
                        help="body model .npz the scene was made with (default: the generated STAND-IN, not SMPL)")
    render.set_defaults(run=run_render)

    sheet = sim_commands.add_parser("contact-sheet", formatter_class=formatter,
                                    help="render every DeepMimic clip converted to SMPL, a few frames each, to PNG")
    sheet.add_argument("--output", required=True, help="output PNG")
    sheet.add_argument("--frames-per-clip", type=_count(1, 32), default=6, help="tiles per clip (row)")
    sheet.add_argument("--tile", type=_tile, default=(128, 160), help="tile size WIDTHxHEIGHT, pixels")
    sheet.add_argument("--painting", choices=["clothed", "flat"], default="clothed", help="body painting")
    sheet.add_argument("--body-model", default=None, help="body model .npz (default: the generated STAND-IN)")
    sheet.set_defaults(run=run_contact_sheet)

    bones = sim_commands.add_parser("bone-check", formatter_class=formatter,
                                    help="compare converted bone directions with the DeepMimic source, all clips")
    bones.add_argument("--output", default=None, help="also write the table (markdown) to this file")
    bones.add_argument("--body-model", default=None, help="body model .npz (default: the generated STAND-IN)")
    bones.set_defaults(run=run_bone_check)


def _body_model(path: str | None):
    from scorehmr_ros.assets.paths import ensure_standin_body_model
    from scorehmr_ros.body.body_model import BodyModel

    return BodyModel.from_file(path or ensure_standin_body_model())


def run_render(args: argparse.Namespace) -> int:
    """Render the scene to the output file; returns the exit status."""
    import time
    from pathlib import Path

    import numpy as np

    from scorehmr_ros.sim.render import RenderConfig, resized_camera
    from scorehmr_ros.sim.scene_io import load_scene
    from scorehmr_ros.sim.scene_render import (
        person_size_fraction,
        render_scene_frames,
        scene_meshes,
        write_png,
        write_video,
    )

    scene = load_scene(args.scene)
    body_model = _body_model(args.body_model)
    if str(body_model.description) != scene.body_model_description:
        _LOG.warning("the scene was made with %r, rendering with %r", scene.body_model_description,
                     str(body_model.description))
    cameras = scene.cameras if args.view == "all" else scene.cameras[args.view:args.view + 1]
    if not cameras:
        _LOG.error("--view %s: the scene has %d cameras", args.view, len(scene.cameras))
        return 2
    cameras = [resized_camera(c, scale=args.scale) if args.scale != 1.0 else c for c in cameras]
    meshes = scene_meshes(scene, body_model, painting=args.painting)
    num_frames = meshes.vertices_world_m.shape[1]
    config = RenderConfig(supersample=args.supersample)
    size = np.nanmedian(person_size_fraction(meshes, cameras[0]), axis=1)
    _LOG.info("person size / image's longer side in %s (median over frames): %s", cameras[0].name,
              ", ".join(f"{s:.2f}" for s in size))
    start = time.perf_counter()
    if Path(args.output).suffix.lower() == ".png":
        if not 0 <= args.frame < num_frames:
            _LOG.error("--frame %d: the scene has frames 0..%d", args.frame, num_frames - 1)
            return 2
        path = write_png(next(render_scene_frames(meshes, cameras, config=config, frames=[args.frame],
                                                  columns=args.columns)), args.output)
        _LOG.info("wrote %s in %.2f s", path, time.perf_counter() - start)
        return 0
    frames = range(min(num_frames, args.max_frames or num_frames))
    result = write_video(render_scene_frames(meshes, cameras, config=config, frames=frames, columns=args.columns),
                         args.output, fps=scene.fps)
    elapsed = time.perf_counter() - start
    if result.fallback:
        _LOG.warning("OpenCV could not open an MP4 writer; wrote %d PNG frames to %s", result.num_frames, result.path)
    else:
        _LOG.info("wrote %s: %d frames in %.1f s (%.3f s per frame)", result.path, result.num_frames, elapsed,
                  elapsed / result.num_frames)
    return 0


def run_contact_sheet(args: argparse.Namespace) -> int:
    """Render the contact sheet; returns the exit status."""
    from scorehmr_ros.sim.contact_sheet import ContactSheetConfig, motion_contact_sheet
    from scorehmr_ros.sim.scene_render import write_png

    config = ContactSheetConfig(frames_per_clip=args.frames_per_clip, tile_width_px=args.tile[0],
                                tile_height_px=args.tile[1], painting=args.painting)
    path = write_png(motion_contact_sheet(_body_model(args.body_model), config=config), args.output)
    _LOG.info("wrote %s", path)
    return 0


def run_bone_check(args: argparse.Namespace) -> int:
    """Log (and optionally write) the bone-direction statistics over every frame of every clip."""
    from pathlib import Path

    import numpy as np

    from scorehmr_ros.sim import deepmimic
    from scorehmr_ros.sim.bone_check import bone_statistics, clip_bone_angles, statistics_table
    from scorehmr_ros.sim.scene import rest_pose

    body_model = _body_model(args.body_model)
    rest = rest_pose(body_model, np.zeros(10))[2]
    skeleton = deepmimic.load_skeleton()
    angles = [clip_bone_angles(name, body_model=body_model, skeleton=skeleton, rest_joints_m=rest)
              for name in deepmimic.CLIP_NAMES]
    lines = statistics_table(bone_statistics(angles))
    frames = sum(next(iter(a.values())).size for a in angles)
    _LOG.info("bone directions over %d frames of %d clips, body model: %s\n%s", frames, len(angles),
              body_model.description, "\n".join(lines))
    if args.output:
        Path(args.output).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0
