"""``scorehmr-ros fit --mode calibrated``: calibrated multi-view fitting of a recording (npz in, npz out).

Input keys: cam_K (V,3,3), cam_dist (V,5) plumb_bob (zeros for none), cam_R (V,3,3) and cam_t (V,3) world -> camera
(x_cam = R x_world + t, metres), img_size (V,2) as (W,H), keypoints_2d (T,P,V,J,3) pixels + confidence
(0 = missing), layout (string: openpose25, coco17, mediapipe33), and the recording's time: fps (scalar, frame k at
k / fps seconds) or stamps_s (T,) strictly increasing seconds of each frame (either; stamps_s wins); optional init_pose
(T,P,V,24,3,3) per-view estimates with the global orientation in that camera's optical frame, and init_betas
(T,P,V,10). The streaming smoother runs on these times (its smoothness is per second, not per frame).
Output keys (world frame): global_orient (T,P,3,3), body_pose (T,P,23,3,3), betas (T,P,10), transl (T,P,3),
joints (T,P,24,3) SMPL joints, valid (T,P) (False: not fitted, or a prediction while no camera saw the person).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

LOGGER = logging.getLogger(__name__)


class CalibratedFileError(ValueError):
    """An input file with a missing key or a key of the wrong shape."""


def _check(arrays: dict[str, np.ndarray], key: str, shape: tuple, names: str, path: Path) -> np.ndarray:
    if key not in arrays:
        raise CalibratedFileError(f"{path}: missing key '{key}' (expected shape {names})")
    value = arrays[key]
    if value.ndim != len(shape) or any(e is not None and e != s for e, s in zip(shape, value.shape, strict=True)):
        raise CalibratedFileError(f"{path}: key '{key}' has shape {value.shape}, expected {names} = "
                                  f"{tuple('*' if e is None else e for e in shape)}")
    if value.dtype.kind not in "fiu" or not np.all(np.isfinite(value)):
        raise CalibratedFileError(f"{path}: key '{key}' must hold finite numbers")
    return value


def _frame_times_s(arrays: dict[str, np.ndarray], num_frames: int, path: Path) -> np.ndarray:
    """(T,) seconds of each frame: the file's stamps_s, else k / fps."""
    if "stamps_s" in arrays:
        stamps = _check(arrays, "stamps_s", (num_frames,), f"(T={num_frames},)", path).astype(np.float64)
        if np.any(np.diff(stamps) <= 0):
            raise CalibratedFileError(f"{path}: key 'stamps_s' must be strictly increasing seconds")
        return stamps
    if "fps" not in arrays:
        raise CalibratedFileError(f"{path}: missing the recording's time: key 'fps' (scalar) or 'stamps_s' (T,)")
    fps = float(_check(arrays, "fps", (), "() scalar", path))
    if fps <= 0:
        raise CalibratedFileError(f"{path}: key 'fps' must be > 0, got {fps}")
    return np.arange(num_frames, dtype=np.float64) / fps


def load_input_npz(path: Path, *, error: type[Exception]) -> dict[str, np.ndarray]:
    """Every array of an input .npz (pickles refused); ``error`` is raised for a missing or unreadable file."""
    if not path.is_file():
        raise error(f"input file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError) as reason:
        raise error(f"{path}: not a readable .npz file ({reason})") from None


def read_calibrated_file(path: Path) -> dict[str, np.ndarray | str | float]:
    """Load and check the input npz (no pickles); raises CalibratedFileError naming the key and expected shape."""
    from scorehmr_ros.sim.layouts import LAYOUTS

    arrays = load_input_npz(path, error=CalibratedFileError)
    K = _check(arrays, "cam_K", (None, 3, 3), "(V, 3, 3)", path)
    V = K.shape[0]
    out: dict = {"cam_K": K}
    out["cam_dist"] = _check(arrays, "cam_dist", (V, 5), "(V, 5)", path)
    out["cam_R"] = _check(arrays, "cam_R", (V, 3, 3), "(V, 3, 3)", path)
    out["cam_t"] = _check(arrays, "cam_t", (V, 3), "(V, 3)", path)
    out["img_size"] = _check(arrays, "img_size", (V, 2), "(V, 2)", path)
    if "layout" not in arrays or arrays["layout"].ndim != 0 or arrays["layout"].dtype.kind != "U":
        raise CalibratedFileError(f"{path}: key 'layout' must be a string scalar, one of {', '.join(LAYOUTS)}")
    layout = str(arrays["layout"])
    if layout not in LAYOUTS:
        raise CalibratedFileError(f"{path}: key 'layout' is {layout!r}, expected one of {', '.join(LAYOUTS)}")
    J = LAYOUTS[layout].num_joints
    keypoints = _check(arrays, "keypoints_2d", (None, None, V, J, 3), f"(T, P, V={V}, J={J}, 3)", path)
    T, P = keypoints.shape[:2]
    out.update(layout=layout, keypoints_2d=keypoints, stamps_s=_frame_times_s(arrays, T, path))
    if ("init_pose" in arrays) != ("init_betas" in arrays):
        raise CalibratedFileError(f"{path}: give both 'init_pose' (T, P, V, 24, 3, 3) and 'init_betas' (T, P, V, 10) "
                                  "or neither")
    if "init_pose" in arrays:
        out["init_pose"] = _check(arrays, "init_pose", (T, P, V, 24, 3, 3), "(T, P, V, 24, 3, 3)", path)
        out["init_betas"] = _check(arrays, "init_betas", (T, P, V, 10), "(T, P, V, 10)", path)
    return out


def fit_recording(data: dict, *, diffusion, body_model, streaming: bool, window: int, lag: int,
                  progress: bool = False) -> dict[str, np.ndarray]:
    """Fit every person of a checked recording; returns the output arrays (module docstring)."""
    import torch
    from tqdm import tqdm

    from scorehmr_ros.body.keypoint_body import KeypointBody
    from scorehmr_ros.body.layouts import to_openpose25
    from scorehmr_ros.fitting.calibrated_fitting import BodyParams, CalibratedObservations, calibrated_guided_fit
    from scorehmr_ros.fitting.fit_init import (
        combine_view_estimates,
        initial_bodies,
        triangulate_bodies,
        view_weights,
    )
    from scorehmr_ros.fitting.multiview_guidance import RigTensors
    from scorehmr_ros.pipeline.streaming import StreamingConfig, StreamingFitter

    rig = RigTensors.from_arrays(K=data["cam_K"], distortion=data["cam_dist"], R_cam_world=data["cam_R"],
                                 t_cam_world_m=data["cam_t"], image_size_px=data["img_size"])
    body = KeypointBody(body_model)
    keypoints = to_openpose25(data["keypoints_2d"], data["layout"]).astype(np.float32)  # (T, P, V, 25, 3)
    T, P, V = keypoints.shape[:3]
    out = {"global_orient": np.tile(np.eye(3, dtype=np.float32), (T, P, 1, 1)),
           "body_pose": np.tile(np.eye(3, dtype=np.float32), (T, P, 23, 1, 1)),
           "betas": np.zeros((T, P, 10), np.float32), "transl": np.zeros((T, P, 3), np.float32),
           "joints": np.full((T, P, 24, 3), np.nan, np.float32), "valid": np.zeros((T, P), bool)}
    init_pose = data.get("init_pose")
    init_betas = data.get("init_betas")

    def store(t: int, p: int, rotations, betas, transl, joints, valid: bool) -> None:
        out["global_orient"][t, p], out["body_pose"][t, p] = rotations[0], rotations[1:]
        out["betas"][t, p], out["transl"][t, p], out["joints"][t, p], out["valid"][t, p] = betas, transl, joints, valid

    if streaming:
        fitter = StreamingFitter(diffusion=diffusion, body=body, rig=rig,
                                 config=StreamingConfig(window=window, lag=lag))
        results = []
        stamps_s = data["stamps_s"]
        for t in tqdm(range(T), desc="frames", unit="frame", disable=not progress):
            results += fitter.step(track_ids=list(range(P)), keypoints_px=keypoints[t],
                                   init_pose=None if init_pose is None else init_pose[t],
                                   init_betas=None if init_betas is None else init_betas[t],
                                   stamp_s=float(stamps_s[t]))
        for r in results + fitter.flush():
            store(r.frame_index, r.track_id, r.rotations, r.betas, r.transl_m, r.smpl_joints_m, r.observed)
        return out
    flat = torch.from_numpy(keypoints.reshape(T * P, V, 25, 3))
    triangulated = triangulate_bodies(flat.numpy(), rig)
    fitted_rows = np.flatnonzero((triangulated.weights > 0).sum(axis=1) >= 6)
    if fitted_rows.size == 0:
        return out
    rows = torch.from_numpy(fitted_rows)
    rotations = betas = None
    if init_pose is not None:
        rotations, betas = combine_view_estimates(
            torch.from_numpy(init_pose.reshape(T * P, V, 24, 3, 3).astype(np.float32))[rows],
            torch.from_numpy(init_betas.reshape(T * P, V, 10).astype(np.float32))[rows], view_weights(flat[rows]),
            rig.R_cam_world)
    sub = type(triangulated)(points_m=triangulated.points_m[fitted_rows], weights=triangulated.weights[fitted_rows])
    start = initial_bodies(body, triangulated=sub, rotations=rotations, betas=betas)
    fitted = calibrated_guided_fit(diffusion=diffusion, body=body, observations=CalibratedObservations(
        keypoints_px=flat[rows], rig=rig), init=BodyParams(rotations=start.rotations, betas=start.betas,
                                                           transl_m=start.transl_m))
    with torch.no_grad():
        joints = body(rotations=fitted.rotations, betas=fitted.betas, transl_m=fitted.transl_m).smpl_joints_m
    for i, row in enumerate(fitted_rows):
        store(row // P, row % P, fitted.rotations[i].numpy(), fitted.betas[i].numpy(), fitted.transl_m[i].numpy(),
              joints[i].numpy(), True)
    return out


def run_calibrated(args: argparse.Namespace) -> int:
    """The ``fit --mode calibrated`` command; returns the exit status."""
    from scorehmr_ros.body.body_model import BodyModel, BodyModelFileError
    from scorehmr_ros.diffusion.checkpoint import CheckpointError, load_diffusion_checkpoint

    try:
        data = read_calibrated_file(args.input)
        diffusion = load_diffusion_checkpoint(args.checkpoint)
        body_model = BodyModel.from_file(args.body_model)
        if diffusion.model.config.cond_dim != 0:
            raise CalibratedFileError(f"{args.checkpoint}: calibrated fitting needs the keypoint-only prior "
                                      f"(cond_dim 0), this denoiser has cond_dim {diffusion.model.config.cond_dim}")
        if args.lag >= args.window:
            raise CalibratedFileError(f"--lag {args.lag}: must be < --window {args.window}")
        LOGGER.info("calibrated fit of %s (%s), body model: %s", args.input,
                    "streaming" if args.streaming else "per frame", body_model.description)
        out = fit_recording(data, diffusion=diffusion, body_model=body_model, streaming=args.streaming,
                            window=args.window, lag=args.lag, progress=not args.no_progress)
    except (CalibratedFileError, CheckpointError, BodyModelFileError, ValueError, OSError) as error:
        LOGGER.error("%s", error)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output, **out, body_model=np.array(body_model.description))
    LOGGER.info("wrote %s (%d of %d person-frames valid)", args.output, int(out["valid"].sum()), out["valid"].size)
    return 0
