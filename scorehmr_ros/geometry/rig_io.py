"""Rig YAML: cameras as people write them (pose of the camera in the world), converted to ``Camera``.

Format (one file per rig)::

    rig: ring4                 # name
    world_frame: map           # frame the poses are in
    cameras:
      - name: cam0
        frame_id: cam0_optical_frame
        width: 1280            # pixels
        height: 720
        K: [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]
        distortion_model: none # or plumb_bob with distortion [k1, k2, p1, p2, k3]
        distortion: []
        position_m: [x, y, z]          # optical-frame origin in the world (T_world_cam translation)
        orientation_xyzw: [x, y, z, w] # optical-frame orientation in the world (T_world_cam rotation)

The optical frame is x right, y down, z forward. ``Camera`` stores the inverse (R_cam_world, t_cam_world_m).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from scorehmr_ros.geometry.camera import Camera, CameraError
from scorehmr_ros.geometry.rigs import Rig, RigError
from scorehmr_ros.geometry.transforms import matrix_to_quaternion_xyzw, quaternion_xyzw_to_matrix

_CAMERA_KEYS = ("name", "width", "height", "K", "position_m", "orientation_xyzw")


def camera_to_dict(camera: Camera) -> dict:
    """The YAML mapping of one camera (plain Python floats and lists)."""
    T_world_cam = camera.T_world_cam
    x, y, z, w = matrix_to_quaternion_xyzw(T_world_cam[:3, :3])
    return {
        "name": camera.name,
        "frame_id": camera.frame_id,
        "width": camera.width_px,
        "height": camera.height_px,
        "K": camera.K.tolist(),
        "distortion_model": camera.distortion_model,
        "distortion": camera.distortion.tolist(),
        "position_m": T_world_cam[:3, 3].tolist(),
        "orientation_xyzw": [float(x), float(y), float(z), float(w)],
    }


def _numbers(where: str, key: str, value, shape: tuple[int | None, ...], expected: str) -> np.ndarray:
    """``value`` as a float64 array of ``shape`` (None: any length) holding finite YAML numbers only."""
    def leaves(item) -> list:
        return [x for element in item for x in leaves(element)] if isinstance(item, (list, tuple)) else [item]

    bad = RigError(f"{where}: {key}: expected {expected}, got {value!r}")
    if not isinstance(value, (list, tuple)) or any(isinstance(x, bool) or not isinstance(x, (int, float))
                                                   for x in leaves(value)):
        raise bad
    try:
        array = np.asarray(value, dtype=np.float64)
    except ValueError:  # ragged nesting
        raise bad from None
    if array.ndim != len(shape) or any(n is not None and n != got for n, got in zip(shape, array.shape, strict=True)) \
            or not np.all(np.isfinite(array)):
        raise bad
    return array


def _integer(where: str, key: str, value) -> int:
    # YAML 640.0 or 640.7 is not an image size: refuse rather than truncate.
    if isinstance(value, bool) or not isinstance(value, int):
        raise RigError(f"{where}: {key}: expected an integer number of pixels, got {value!r}")
    return value


def _text(where: str, key: str, value, default: str = "") -> str:
    if value is None:  # an empty YAML value
        return default
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise RigError(f"{where}: {key}: expected a string, got {value!r}")
    return str(value)


def camera_from_dict(entry: dict, *, where: str = "camera") -> Camera:
    """A ``Camera`` from its YAML mapping; every error is one line naming ``where`` (file and entry), the
    camera's name and the missing or bad key. Sizes must be integers, everything else finite numbers."""
    if not isinstance(entry, dict):
        raise RigError(f"{where}: expected a mapping, got {type(entry).__name__}")
    if "name" in entry:
        where = f"{where} (camera {_text(where, 'name', entry['name'], '')!r})"
    missing = [key for key in _CAMERA_KEYS if key not in entry]
    if missing:
        raise RigError(f"{where}: missing keys {missing} (needs {list(_CAMERA_KEYS)})")
    quaternion = _numbers(where, "orientation_xyzw", entry["orientation_xyzw"], (4,), "4 numbers [x, y, z, w]")
    position = _numbers(where, "position_m", entry["position_m"], (3,), "3 numbers [x, y, z] in metres")
    if abs(np.linalg.norm(quaternion) - 1.0) > 1e-3:
        raise RigError(f"{where}: orientation_xyzw must be a unit quaternion, norm is {np.linalg.norm(quaternion)}")
    R_world_cam = quaternion_xyzw_to_matrix(quaternion)
    K = _numbers(where, "K", entry["K"], (3, 3), "a 3x3 matrix of numbers [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]")
    width, height = _integer(where, "width", entry["width"]), _integer(where, "height", entry["height"])
    distortion = _numbers(where, "distortion", entry.get("distortion") or [], (None,), "a list of numbers")
    try:
        return Camera(
            name=str(entry["name"]), K=K, width_px=width, height_px=height,
            R_cam_world=R_world_cam.T, t_cam_world_m=-R_world_cam.T @ position,
            distortion_model=_text(where, "distortion_model", entry.get("distortion_model"), "none"),
            distortion=distortion, frame_id=_text(where, "frame_id", entry.get("frame_id")),
        )
    except (CameraError, ValueError) as error:
        raise RigError(f"{where}: {error}") from error


def rig_to_yaml(rig: Rig) -> str:
    """The rig as YAML text (format in the module docstring)."""
    document = {"rig": rig.name, "world_frame": rig.world_frame,
                "cameras": [camera_to_dict(camera) for camera in rig.cameras]}
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=None)


def rig_from_yaml(text: str, *, source: str = "<string>") -> Rig:
    """Parse rig YAML text; ``source`` names the file in error messages."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise RigError(f"{source}: not valid YAML: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("cameras"), list):
        raise RigError(f"{source}: expected a mapping with a 'cameras' list")
    cameras = tuple(camera_from_dict(entry, where=f"{source}: cameras[{i}]")
                    for i, entry in enumerate(document["cameras"]))
    return Rig(name=str(document.get("rig", Path(source).stem)), cameras=cameras,
               world_frame=str(document.get("world_frame", Rig.world_frame)))


def save_rig(rig: Rig, path: str | Path) -> None:
    """Write the rig YAML to ``path``."""
    Path(path).write_text(rig_to_yaml(rig), encoding="utf-8")


def load_rig(path: str | Path) -> Rig:
    """Read a rig YAML file.

    Raises:
        RigError: the file cannot be read, or a bad entry (one line naming the file, camera and key).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RigError(f"{path}: cannot read the rig file ({error})") from None
    return rig_from_yaml(text, source=str(path))
