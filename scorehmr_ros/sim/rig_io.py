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

from scorehmr_ros.core.camera import Camera, CameraError
from scorehmr_ros.sim.rigs import Rig, RigError
from scorehmr_ros.sim.rotations_np import matrix_to_quaternion, quaternion_to_matrix

_CAMERA_KEYS = ("name", "width", "height", "K", "position_m", "orientation_xyzw")


def camera_to_dict(camera: Camera) -> dict:
    """The YAML mapping of one camera (plain Python floats and lists)."""
    T_world_cam = camera.T_world_cam
    w, x, y, z = matrix_to_quaternion(T_world_cam[:3, :3])
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


def camera_from_dict(entry: dict, *, where: str = "camera") -> Camera:
    """A ``Camera`` from its YAML mapping; errors name the entry and the missing or bad field."""
    if not isinstance(entry, dict):
        raise RigError(f"{where}: expected a mapping, got {type(entry).__name__}")
    missing = [key for key in _CAMERA_KEYS if key not in entry]
    if missing:
        raise RigError(f"{where}: missing keys {missing} (needs {list(_CAMERA_KEYS)})")
    quaternion = np.asarray(entry["orientation_xyzw"], dtype=np.float64)
    position = np.asarray(entry["position_m"], dtype=np.float64)
    if quaternion.shape != (4,) or position.shape != (3,):
        raise RigError(f"{where}: orientation_xyzw needs 4 numbers and position_m 3, got "
                       f"{quaternion.tolist()} and {position.tolist()}")
    if abs(np.linalg.norm(quaternion) - 1.0) > 1e-3:
        raise RigError(f"{where}: orientation_xyzw must be a unit quaternion, norm is {np.linalg.norm(quaternion)}")
    R_world_cam = quaternion_to_matrix(np.roll(quaternion, 1))
    try:
        return Camera(
            name=str(entry["name"]), K=np.asarray(entry["K"], dtype=np.float64).reshape(3, 3),
            width_px=int(entry["width"]), height_px=int(entry["height"]),
            R_cam_world=R_world_cam.T, t_cam_world_m=-R_world_cam.T @ position,
            distortion_model=str(entry.get("distortion_model", "none")),
            distortion=np.asarray(entry.get("distortion", []), dtype=np.float64),
            frame_id=str(entry.get("frame_id", "")),
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
               world_frame=str(document.get("world_frame", "map")))


def save_rig(rig: Rig, path: str | Path) -> None:
    """Write the rig YAML to ``path``."""
    Path(path).write_text(rig_to_yaml(rig), encoding="utf-8")


def load_rig(path: str | Path) -> Rig:
    """Read a rig YAML file."""
    path = Path(path)
    return rig_from_yaml(path.read_text(encoding="utf-8"), source=str(path))
