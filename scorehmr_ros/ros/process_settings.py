"""The settings ``scorehmr-ros process`` runs with: the same as the live graph's nodes.

Sources, later ones winning: the config dataclasses' defaults; the rig file's ``perception`` and
``fitting`` sections (``launch_graph.parse_rig_launch``, as the launch reads them); each
``--params-file`` in the nodes' parameter YAML (``parameter_files``, sections ``person_detector``,
``keypoint_estimator``, ``scorehmr`` or ``/**``), as the launch applies them after the rig's values;
then a ``process`` option given a value other than its default (``--min-cameras 3``). Every group is
built and validated by :func:`parameter_files.group_config` from the node's own ``PARAMETERS``, so
process refuses exactly what a node would, and an unknown key is an error naming its file.

Node parameters with a ``process`` option of their own::

    scorehmr: world_frame, cameras, rig_file, prior_path, body_model_path, mesh_rate_hz, mesh_decimation_m,
              publish_joint_frames (--joint-frames)
    person_detector: sync.min_cameras (0, all: every camera of the bag), sync.slop_s, sync.deadline_s

The rest of ``scorehmr`` (association, tracking, streaming, accel, PARE files), ``person_detector`` (``detector``,
``sync``) and ``keypoint_estimator`` (``keypoints``, ``output_layout``) configure the run; parameters that
only matter to a live node (queues, QoS, diagnostics, debug images, ...) are listed in the log as unused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scorehmr_ros.ros.parameter_files import ParameterFileError, group_config, read_parameter_file

#: process option -> (node, parameter) it stands for.
OPTION_PARAMETERS = {
    "world_frame": ("scorehmr", "world_frame"),
    "cameras": ("scorehmr", "cameras"),
    "rig_file": ("scorehmr", "rig_file"),
    "prior_path": ("scorehmr", "prior_path"),
    "body_model_path": ("scorehmr", "body_model_path"),
    "mesh_rate_hz": ("scorehmr", "mesh_rate_hz"),
    "mesh_decimation_m": ("scorehmr", "mesh_decimation_m"),
    "joint_frames": ("scorehmr", "publish_joint_frames"),
    "min_cameras": ("person_detector", "sync.min_cameras"),
    "slop_s": ("person_detector", "sync.slop_s"),
    "deadline_s": ("person_detector", "sync.deadline_s"),
}
#: Parameters process uses besides those of OPTION_PARAMETERS (a name ending in "." is a whole group).
_USED = {
    "scorehmr": ("pare_checkpoint", "pare_feature_stats", "association.", "tracking.", "streaming.",
                 "accel."),
    "person_detector": ("sync.", "detector."),
    "keypoint_estimator": ("output_layout", "keypoints."),
}


@dataclass(frozen=True)
class ProcessSettings:
    """The node configs of one ``process`` run.

    Attributes:
        front: the keypoint estimator's FrontConfig (its output layout; the world frame is process's).
        detector, keypoints: the perception backends' configs.
        association, tracking, streaming, accel: the scorehmr node's fitting configs.
        sync_values: the person detector's ``sync.*`` parameters set by a file (SyncConfig needs the bag's cameras:
            :meth:`sync_config`).
        pare_checkpoint, pare_feature_stats: PARE files of an image-conditioned prior ("" = default places).
        applied: ``node parameter=value (file)`` for every value a file set.
        unused: ``node parameter`` set in a file that only a live node uses.
        sources: the files read, in order.
    """

    front: Any
    detector: Any
    keypoints: Any
    association: Any
    tracking: Any
    streaming: Any
    accel: Any
    sync_values: dict[str, Any]
    pare_checkpoint: str = ""
    pare_feature_stats: str = ""
    applied: tuple[str, ...] = ()
    unused: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    def sync_config(self, camera_names: Sequence[str], *, min_cameras: int, slop_s: float, deadline_s: float):
        """The synchronizer's config for the bag's cameras (process's own values for the options it has)."""
        from scorehmr_ros.perception.synchronizer import SyncConfig
        from scorehmr_ros.ros.nodes.person_detector_node import PARAMETERS

        values = {**self.sync_values, "sync.min_cameras": min(min_cameras, len(camera_names)),
                  "sync.slop_s": slop_s, "sync.deadline_s": deadline_s}
        # SyncConfig needs stale_s >= deadline_s, and process's --deadline-s may exceed the node's stale_s
        values["sync.stale_s"] = max(values.get("sync.stale_s", _default(SyncConfig, "stale_s")), deadline_s)
        return group_config(_group(PARAMETERS, SyncConfig), values, overrides={"camera_names": tuple(camera_names)},
                            where=", ".join(self.sources) or "process")


def _default(config_class: type, name: str) -> Any:
    return next(f.default for f in dataclasses.fields(config_class) if f.name == name)


def _group(groups, config_class: type):
    """The parameter group of ``config_class`` in a node's PARAMETERS."""
    return next(group for group in groups if group.config_class is config_class)


def _node_groups() -> dict[str, tuple]:
    from scorehmr_ros.ros.nodes import keypoint_estimator_node, person_detector_node, scorehmr_node

    return {"scorehmr": scorehmr_node.PARAMETERS, "person_detector": person_detector_node.PARAMETERS,
            "keypoint_estimator": keypoint_estimator_node.PARAMETERS}


def _rig_values(rig_file: str) -> dict[str, dict[str, Any]]:
    """The node parameters the rig file's sections set, as the launch passes them to each node."""
    from scorehmr_ros.ros.launch_graph import LaunchGraphError, parse_rig_launch

    try:
        rig = parse_rig_launch(rig_file)
    except LaunchGraphError as error:
        message = str(error)
        raise ParameterFileError(message if str(Path(rig_file).resolve()) in message or rig_file in message
                                 else f"{rig_file}: {message}") from None
    except OSError as error:
        raise ParameterFileError(f"{rig_file}: cannot read the rig file ({error})") from None
    prefixed = {name: {f"{name}.{key}": value for key, value in getattr(rig, name).items()}
                for name in ("sync", "detector", "keypoints")}
    return {"person_detector": {**rig.front, **prefixed["sync"], **prefixed["detector"]},
            "keypoint_estimator": {**rig.front, **prefixed["keypoints"]},
            "scorehmr": dict(rig.fitting)}


def _is_used(node: str, name: str) -> bool:
    if any(option == (node, name) for option in OPTION_PARAMETERS.values()):
        return True
    return any(name == used or (used.endswith(".") and name.startswith(used)) for used in _USED.get(node, ()))


def resolve_process_settings(config):
    """The settings of a run: ``config`` (``offline_processing.ProcessConfig``) with its options filled from the
    files where the command line left them at their defaults, and the node configs (module docstring).

    Returns:
        (config, ProcessSettings).
    Raises:
        ParameterFileError: a file cannot be read, has an unknown node or key (named with the file), or a value
            a node would refuse.
    """
    from scorehmr_ros.accel.select import AccelConfig
    from scorehmr_ros.perception.backends.config import DetectorConfig, KeypointConfig
    from scorehmr_ros.perception.front import FrontConfig
    from scorehmr_ros.perception.synchronizer import SyncConfig
    from scorehmr_ros.pipeline.association import AssociationConfig
    from scorehmr_ros.pipeline.streaming import StreamingConfig
    from scorehmr_ros.pipeline.tracking import TrackerConfig
    from scorehmr_ros.ros.nodes.registry import declared_parameters
    from scorehmr_ros.ros.nodes.scorehmr_node import ScoreHMRNodeConfig

    declared = declared_parameters()
    layers: list[tuple[str, dict[str, dict[str, Any]]]] = [
        (path, read_parameter_file(path, declared)) for path in config.params_file]
    defaults = {field.name: field.default for field in dataclasses.fields(config)}
    rig_file = config.rig_file
    if not rig_file:  # a params file may name the scorehmr node's rig file
        rig_file = next((values["scorehmr"]["rig_file"] for _, values in reversed(layers)
                         if "rig_file" in values.get("scorehmr", {})), "")
        if not isinstance(rig_file, str):
            raise ParameterFileError(f"scorehmr rig_file: expected a path, got {rig_file!r}")
    if rig_file:
        layers.insert(0, (rig_file, _rig_values(rig_file)))
    values: dict[str, dict[str, Any]] = {}
    source: dict[tuple[str, str], str] = {}
    for path, layer in layers:
        for node, parameters in layer.items():
            values.setdefault(node, {}).update(parameters)
            source.update({(node, name): path for name in parameters})

    def where(node: str) -> str:
        files = list(dict.fromkeys(path for (n, _), path in source.items() if n == node))
        return f"{', '.join(files) or 'defaults'} ({node})"

    groups = _node_groups()

    def build(node: str, config_class: type):
        return group_config(_group(groups[node], config_class), values.get(node, {}), where=where(node))

    scorehmr = build("scorehmr", ScoreHMRNodeConfig)
    build("person_detector", FrontConfig)
    sync_values = {name: value for name, value in values.get("person_detector", {}).items() if name.startswith("sync.")}
    # checked now with a placeholder camera list (the bag's cameras come later, see sync_config)
    placeholder = tuple(f"camera{i}" for i in range(_maximum(SyncConfig, "min_cameras")))
    sync = group_config(_group(groups["person_detector"], SyncConfig), sync_values, where=where("person_detector"),
                        overrides={"camera_names": placeholder})
    settings = ProcessSettings(
        front=build("keypoint_estimator", FrontConfig), detector=build("person_detector", DetectorConfig),
        keypoints=build("keypoint_estimator", KeypointConfig), association=build("scorehmr", AssociationConfig),
        tracking=build("scorehmr", TrackerConfig), streaming=build("scorehmr", StreamingConfig),
        accel=build("scorehmr", AccelConfig),
        sync_values=sync_values, pare_checkpoint=scorehmr.pare_checkpoint,
        pare_feature_stats=scorehmr.pare_feature_stats,
        applied=tuple(f"{node} {name}={value!r} ({source[(node, name)]})" for node, parameters in values.items()
                      for name, value in parameters.items()),
        unused=tuple(f"{node} {name}" for node, parameters in values.items() for name in parameters
                     if not _is_used(node, name)),
        sources=tuple(path for path, _ in layers))
    typed = {"scorehmr": scorehmr, "person_detector": sync}

    options: dict[str, Any] = {"rig_file": rig_file}
    for option, (node, name) in OPTION_PARAMETERS.items():
        if option == "rig_file" or getattr(config, option) != defaults[option] or name not in values.get(node, {}):
            continue
        value = values[node][name] if name == "cameras" else getattr(typed[node], name.removeprefix("sync."))
        if option == "cameras":
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise ParameterFileError(f"{where(node)}: cameras: expected a list of camera names, got {value!r}")
            value = tuple(value)
        elif option == "min_cameras":  # the node's 0 means all cameras
            value = value or _maximum(type(config), "min_cameras")
        options[option] = value
    resolved = dataclasses.replace(config, **options)
    try:
        resolved.validate()
    except ValueError as error:
        raise ParameterFileError(f"{', '.join(settings.sources)}: {error}") from None
    return resolved, settings


def _maximum(config_class: type, name: str) -> int:
    from scorehmr_ros.base.config_fields import setting_info

    field = next(f for f in dataclasses.fields(config_class) if f.name == name)
    return int(setting_info(field).maximum)
