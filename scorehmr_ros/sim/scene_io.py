"""One-file scene storage (npz, no pickles): cameras, ground truth, observations, metadata.

Keys: ``meta_json`` (a JSON string: format version, rig, world frame, fps, seed, body model
description, layout, camera names/frame ids/distortion models, clip names), ``camera_*`` (V-stacked
K, R_cam_world, t_cam_world_m, size_px, distortion zero-padded to 5), ``gt_*`` (GroundTruth fields)
and ``obs_*`` (Observations fields). Every array is stored as generated (float64, bool).
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import numpy as np

from scorehmr_ros.geometry.camera import PLUMB_BOB_SIZE, Camera
from scorehmr_ros.sim.observation import Observations
from scorehmr_ros.sim.scene import GroundTruth, Scene

#: Bumped when the file layout changes.
SCENE_FORMAT_VERSION = 1
_GT_ARRAYS = tuple(f.name for f in fields(GroundTruth) if f.name != "clip_names")
_OBS_ARRAYS = tuple(f.name for f in fields(Observations) if f.name not in ("layout", "camera_names"))


class SceneFileError(ValueError):
    """A scene file that is missing, unreadable, of another format version, or lacks arrays."""


def save_scene(scene: Scene, path: str | Path) -> Path:
    """Write ``scene`` to ``path`` (npz, compressed) and return the path."""
    path = Path(path)
    cameras = scene.cameras
    meta = {
        "format_version": SCENE_FORMAT_VERSION, "rig_name": scene.rig_name, "world_frame": scene.world_frame,
        "fps": scene.fps, "seed": scene.seed, "body_model_description": scene.body_model_description,
        "layout": scene.observations.layout, "clip_names": list(scene.ground_truth.clip_names),
        "camera_names": [c.name for c in cameras], "camera_frame_ids": [c.frame_id for c in cameras],
        "camera_distortion_models": [c.distortion_model for c in cameras],
    }
    distortion = np.zeros((len(cameras), PLUMB_BOB_SIZE))
    for v, camera in enumerate(cameras):
        distortion[v, :camera.distortion.size] = camera.distortion
    arrays = {
        "meta_json": np.array(json.dumps(meta)),
        "camera_K": np.stack([c.K for c in cameras]),
        "camera_R_cam_world": np.stack([c.R_cam_world for c in cameras]),
        "camera_t_cam_world_m": np.stack([c.t_cam_world_m for c in cameras]),
        "camera_size_px": np.array([[c.width_px, c.height_px] for c in cameras], dtype=np.int64),
        "camera_distortion": distortion,
    }
    arrays.update({f"gt_{name}": getattr(scene.ground_truth, name) for name in _GT_ARRAYS})
    arrays.update({f"obs_{name}": getattr(scene.observations, name) for name in _OBS_ARRAYS})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as stream:
        np.savez_compressed(stream, **arrays)
    return path


def load_scene(path: str | Path) -> Scene:
    """Read a scene written by :func:`save_scene`."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise SceneFileError(f"{path}: not a readable scene file: {error}") from error
    with data:
        expected = (["meta_json", "camera_K", "camera_R_cam_world", "camera_t_cam_world_m", "camera_size_px",
                     "camera_distortion"] + [f"gt_{n}" for n in _GT_ARRAYS] + [f"obs_{n}" for n in _OBS_ARRAYS])
        missing = [key for key in expected if key not in data.files]
        if missing:
            raise SceneFileError(f"{path}: not a scene file, missing arrays {missing}")
        meta = json.loads(str(data["meta_json"]))
        if meta.get("format_version") != SCENE_FORMAT_VERSION:
            raise SceneFileError(f"{path}: scene format version {meta.get('format_version')}, "
                                 f"this code reads {SCENE_FORMAT_VERSION}")
        arrays = {key: data[key] for key in expected[1:]}
    cameras = []
    for v, name in enumerate(meta["camera_names"]):
        model = meta["camera_distortion_models"][v]
        cameras.append(Camera(
            name=name, K=arrays["camera_K"][v], width_px=int(arrays["camera_size_px"][v, 0]),
            height_px=int(arrays["camera_size_px"][v, 1]), R_cam_world=arrays["camera_R_cam_world"][v],
            t_cam_world_m=arrays["camera_t_cam_world_m"][v], distortion_model=model,
            distortion=arrays["camera_distortion"][v] if model == "plumb_bob" else np.zeros(0),
            frame_id=meta["camera_frame_ids"][v]))
    truth = GroundTruth(clip_names=tuple(meta["clip_names"]), **{n: arrays[f"gt_{n}"] for n in _GT_ARRAYS})
    observations = Observations(layout=meta["layout"], camera_names=tuple(meta["camera_names"]),
                                **{n: arrays[f"obs_{n}"] for n in _OBS_ARRAYS})
    return Scene(rig_name=meta["rig_name"], world_frame=meta["world_frame"], cameras=tuple(cameras),
                 fps=float(meta["fps"]), seed=int(meta["seed"]), body_model_description=meta["body_model_description"],
                 ground_truth=truth, observations=observations)
