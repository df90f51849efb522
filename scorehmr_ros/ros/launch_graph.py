"""The launch graph of a camera rig, as a pure function: rig YAML -> node descriptions (ROS-free).

``launch/multicam.launch.py`` maps each :class:`NodeDescription` onto ``launch_ros.actions.Node``
and nothing else, so everything the launch does (which nodes, parameters, remappings and
environment) is computed and tested here, without ``launch``/``launch_ros`` (not installable
from the package registries).

The rig YAML is the ``sim/rig_io`` format (cameras with intrinsics and pose) with optional
sections; every key is checked, and every value goes through the core config dataclass that
the node builds from it, so a bad value fails here naming the key, not later in a node::

    rig: example4
    world_frame: map
    namespace: ""              # namespace of the nodes (camera topics <namespace>/<cam>/...)
    output_namespace: /humans  # detections, keypoints2d, bodies, meshes, skeletons go here
    cameras:
      - name: cam0             # ... the rig_io keys, plus optional topics of a real driver:
        image_topic: /front/color/image_raw        # remaps <cam>/image_raw (and .../compressed)
        camera_info_topic: /front/color/camera_info
    perception:                # perception nodes (FrontConfig fields, and groups)
      composed: true           # detector + keypoints in one process (the `perception` executable)
      image_transport: raw
      image_reliability: best_effort
      detector: {max_people: 6}   # DetectorConfig fields
      keypoints: {backend: blazepose}  # KeypointConfig fields
      sync: {min_cameras: 2}      # SyncConfig fields (camera_names comes from cameras)
    fitting:                   # the scorehmr node
      extrinsics: rig_file     # rig_file: poses from this YAML; tf: CameraInfo + TF (world -> optical frame)
      prior_path: ""           # empty: the bundled keypoint-only prior
      body_model_path: ""      # empty: imported SMPL, else the STAND-IN
      streaming: {lag: 3}      # StreamingConfig fields (nested groups as nested mappings)
      association: {}          # AssociationConfig fields
      tracking: {}             # TrackerConfig fields
    tf:
      camera_poses: rig_tf     # rig_tf (ours), tf2_ros (static_transform_publisher), or none

Every node gets ``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` and our Fast DDS profile with shared-memory
segments sized for full-HD images (``scorehmr_ros.ros.dds``; a profile file the user set is kept).
Camera poses on /tf_static: with a system ROS, ``tf2_ros``'s ``static_transform_publisher``
(one per camera, ``tf: {camera_poses: tf2_ros}``) does the same as our ``rig_tf`` node.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import yaml

from scorehmr_ros.ros.dds import dds_environment
from scorehmr_ros.ros.parameter_files import (
    ParameterFileError,
    build_config,
    field_default,
    flatten_parameters,
    typed_value,
)

PACKAGE = "scorehmr_ros"
#: Topics the nodes publish or read under relative names that go to ``output_namespace``.
OUTPUT_TOPICS = ("detections", "keypoints2d", "bodies", "meshes", "skeletons")
EXTRINSICS_SOURCES = ("rig_file", "tf")
CAMERA_POSE_PUBLISHERS = ("rig_tf", "tf2_ros", "none")
_TOP_KEYS = {"rig", "world_frame", "namespace", "output_namespace", "cameras", "perception", "fitting", "tf"}
_CAMERA_TOPIC_KEYS = ("image_topic", "camera_info_topic")


class LaunchGraphError(ValueError):
    """A rig YAML whose launch sections cannot be turned into nodes; the message names the key."""


@dataclass(frozen=True)
class NodeDescription:
    """One process of the launch graph, as ``launch_ros.actions.Node`` takes it.

    Attributes:
        package, executable: what ``ros2 run`` would start.
        name: node name (None: the executable's own names; a composed process holds several nodes).
        namespace: node namespace ("" = root).
        parameters: parameter name (dotted) -> value, from the rig YAML.
        parameter_files: ROS parameter files applied after ``parameters`` (they override it).
        remappings: (from, to) topic remappings.
        env: extra environment variables of the process.
        arguments: command-line arguments (``tf2_ros`` static transform publishers).
    """

    package: str
    executable: str
    name: str | None
    namespace: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)
    parameter_files: tuple[str, ...] = ()
    remappings: tuple[tuple[str, str], ...] = ()
    env: Mapping[str, str] = field(default_factory=dds_environment)
    arguments: tuple[str, ...] = ()

    def __post_init__(self) -> None:  # read-only views: a description cannot be changed after it is made
        object.__setattr__(self, "parameters", MappingProxyType(dict(self.parameters)))
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        object.__setattr__(self, "parameter_files", tuple(self.parameter_files))
        object.__setattr__(self, "remappings", tuple(tuple(pair) for pair in self.remappings))
        object.__setattr__(self, "arguments", tuple(self.arguments))


# -- config sections -> parameters ------------------------------------------------------------
def _field_hints(config_class: type) -> dict[str, Any]:
    return typing.get_type_hints(config_class)


def _coerced(hint: Any, value: Any, where: str) -> Any:
    """A YAML value as the dataclass field wants it (lists -> tuples, ints for floats): the parameter files'
    rule (one home), its error re-raised as a LaunchGraphError."""
    try:
        return typed_value(hint, value, where)
    except ParameterFileError as error:
        raise LaunchGraphError(str(error)) from None


def config_parameters(config_class: type, section: Any, *, where: str, exclude: Sequence[str] = (),
                      fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check a YAML mapping against ``config_class`` and return it as dotted parameter names -> values.

    Nested config fields take nested mappings. The config built from the section (defaults for
    the rest, ``fixed`` for fields not given in YAML) is validated, so a bad value fails here.

    Raises:
        LaunchGraphError: an unknown key, a wrongly typed value, or a value its config rejects.
    """
    section = {} if section is None else section
    if not isinstance(section, Mapping):
        raise LaunchGraphError(f"{where}: expected a mapping, got {section!r}")
    hints = _field_hints(config_class)
    names = {f.name for f in dataclasses.fields(config_class)} - set(exclude)
    unknown = sorted(set(section) - names)
    if unknown:
        raise LaunchGraphError(f"{where}: unknown keys {unknown} ({config_class.__name__} has {sorted(names)})")
    flat: dict[str, Any] = {}
    values: dict[str, Any] = dict(fixed or {})
    for key, value in section.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            nested = config_parameters(hint, value, where=f"{where}.{key}")
            flat.update({f"{key}.{name}": item for name, item in nested.items()})
            values[key] = _build(hint, value, where=f"{where}.{key}",
                                 base=field_default(next(f for f in dataclasses.fields(config_class) if f.name == key)))
        else:
            values[key] = _coerced(hint, value, f"{where}.{key}")
            flat[key] = list(values[key]) if isinstance(values[key], tuple) else values[key]
    try:
        config = config_class(**values)
        validate = getattr(config, "validate", None)
        if validate is not None:
            validate()
    except (ValueError, TypeError) as error:
        raise LaunchGraphError(f"{where}: {error}") from None
    return flat


def _build(config_class: type, section: Mapping[str, Any] | None, *, where: str, base: Any = None) -> Any:
    """``config_class`` from a nested YAML mapping as a parameter file builds it (fields not given keep ``base``'s
    values, e.g. the enclosing config's default for this field)."""
    try:
        values = flatten_parameters(section or {}, where=where)
        return build_config(config_class, "", values, {}, base)
    except ParameterFileError as error:
        raise LaunchGraphError(str(error)) from None
    except (ValueError, TypeError) as error:
        raise LaunchGraphError(f"{where}: {error}") from None


def _section(document: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = document.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise LaunchGraphError(f"{key}: expected a mapping, got {value!r}")
    return dict(value)


def _choice(section: dict[str, Any], key: str, choices: Sequence[str], default: str, where: str) -> str:
    value = section.pop(key, default)
    if value not in choices:
        raise LaunchGraphError(f"{where}.{key}: must be one of {', '.join(choices)}; got {value!r}")
    return value


def _absolute_namespace(value: Any, key: str) -> str:
    if not isinstance(value, str) or (value and not value.startswith("/")):
        raise LaunchGraphError(f"{key}: must be empty or an absolute namespace such as /humans, got {value!r}")
    return value.rstrip("/")


# -- the graph -----------------------------------------------------------------------------
@dataclass(frozen=True)
class RigLaunch:
    """The parsed rig YAML: cameras and the launch sections, checked."""

    path: str
    rig: Any  # sim.rigs.Rig
    namespace: str
    output_namespace: str
    camera_topics: dict[str, dict[str, str]]
    composed: bool
    front: dict[str, Any]
    detector: dict[str, Any]
    keypoints: dict[str, Any]
    sync: dict[str, Any]
    extrinsics: str
    fitting: dict[str, Any]
    camera_poses: str


def parse_rig_launch(path: str | Path) -> RigLaunch:
    """Read and check a rig YAML with launch sections (module docstring).

    Raises:
        LaunchGraphError: unknown keys or bad values (named); camera entries as rig_io checks them.
    """
    from scorehmr_ros.geometry.rig_io import rig_from_yaml
    from scorehmr_ros.geometry.rigs import RigError
    from scorehmr_ros.perception.backends.config import DetectorConfig, KeypointConfig
    from scorehmr_ros.perception.front import FrontConfig
    from scorehmr_ros.perception.synchronizer import SyncConfig
    from scorehmr_ros.pipeline.association import AssociationConfig
    from scorehmr_ros.pipeline.streaming import StreamingConfig
    from scorehmr_ros.pipeline.tracking import TrackerConfig

    path = Path(path).resolve()
    text = path.read_text(encoding="utf-8")
    try:
        rig = rig_from_yaml(text, source=str(path))
    except RigError as error:
        raise LaunchGraphError(str(error)) from None
    document = yaml.safe_load(text)
    unknown = sorted(set(document) - _TOP_KEYS)
    if unknown:
        raise LaunchGraphError(f"{path}: unknown top-level keys {unknown} (known: {sorted(_TOP_KEYS)})")
    names = [camera.name for camera in rig.cameras]
    camera_topics = {}
    for entry in document["cameras"]:
        topics = {key: entry[key] for key in _CAMERA_TOPIC_KEYS if entry.get(key)}
        for key, topic in topics.items():
            if not isinstance(topic, str) or not topic.startswith("/"):
                raise LaunchGraphError(f"cameras[{entry['name']}].{key}: must be an absolute topic, got {topic!r}")
        camera_topics[str(entry["name"])] = topics

    perception = _section(document, "perception")
    composed = perception.pop("composed", True)
    if not isinstance(composed, bool):
        raise LaunchGraphError(f"perception.composed: expected true or false, got {composed!r}")
    detector = config_parameters(DetectorConfig, perception.pop("detector", None), where="perception.detector")
    keypoints = config_parameters(KeypointConfig, perception.pop("keypoints", None), where="perception.keypoints")
    sync = config_parameters(SyncConfig, perception.pop("sync", None), where="perception.sync",
                             exclude=("camera_names",), fixed={"camera_names": tuple(names)})
    front = config_parameters(FrontConfig, perception, where="perception", exclude=("world_frame",))

    fitting = _section(document, "fitting")
    extrinsics = _choice(fitting, "extrinsics", EXTRINSICS_SOURCES, "rig_file", "fitting")
    fitting_parameters = {}
    for key in ("prior_path", "body_model_path"):
        value = fitting.pop(key, "")
        if not isinstance(value, str):
            raise LaunchGraphError(f"fitting.{key}: expected a path, got {value!r}")
        if value:
            fitting_parameters[key] = str((path.parent / Path(value).expanduser()).resolve())
    for key, config_class in (("streaming", StreamingConfig), ("association", AssociationConfig),
                              ("tracking", TrackerConfig)):
        group = config_parameters(config_class, fitting.pop(key, None), where=f"fitting.{key}")
        fitting_parameters.update({f"{key}.{name}": value for name, value in group.items()})
    if fitting:
        raise LaunchGraphError(f"fitting: unknown keys {sorted(fitting)} (known: extrinsics, prior_path, "
                               "body_model_path, streaming, association, tracking)")
    tf = _section(document, "tf")
    camera_poses = _choice(tf, "camera_poses", CAMERA_POSE_PUBLISHERS, "rig_tf", "tf")
    if tf:
        raise LaunchGraphError(f"tf: unknown keys {sorted(tf)} (known: camera_poses)")
    namespace = _absolute_namespace(document.get("namespace", ""), "namespace")
    output_namespace = _absolute_namespace(document.get("output_namespace", "/humans"), "output_namespace")
    return RigLaunch(path=str(path), rig=rig, namespace=namespace, output_namespace=output_namespace,
                     camera_topics=camera_topics, composed=composed, front=front, detector=detector,
                     keypoints=keypoints, sync=sync, extrinsics=extrinsics, fitting=fitting_parameters,
                     camera_poses=camera_poses)


def _output_remappings(config: RigLaunch, topics: Sequence[str]) -> list[tuple[str, str]]:
    if not config.output_namespace:
        return []
    return [(topic, f"{config.output_namespace}/{topic}") for topic in topics]


def _camera_remappings(config: RigLaunch, *, images: bool, transport: str = "raw") -> list[tuple[str, str]]:
    remappings = []
    for camera, topics in config.camera_topics.items():
        if images and "image_topic" in topics:
            remappings.append((f"{camera}/image_raw", topics["image_topic"]))
            if transport == "compressed":
                remappings.append((f"{camera}/image_raw/compressed", topics["image_topic"] + "/compressed"))
        if "camera_info_topic" in topics:
            remappings.append((f"{camera}/camera_info", topics["camera_info_topic"]))
    return remappings


def perception_descriptions(config: RigLaunch, *, parameter_files: Sequence[str] = ()) -> list[NodeDescription]:
    """The perception front: one ``perception`` process (composed) or person_detector + keypoint_estimator."""
    cameras = [camera.name for camera in config.rig.cameras]
    common = {"cameras": cameras, "world_frame": config.rig.world_frame, **config.front}
    detector = {**common, **{f"sync.{k}": v for k, v in config.sync.items()},
                **{f"detector.{k}": v for k, v in config.detector.items()}}
    keypoints = {**common, **{f"keypoints.{k}": v for k, v in config.keypoints.items()}}
    transport = config.front.get("image_transport", "raw")
    cameras_remapped = _camera_remappings(config, images=True, transport=transport)
    files = tuple(parameter_files)
    if config.composed:
        # One process, two nodes (person_detector, keypoint_estimator): no name override, which would
        # rename both; their parameter prefixes do not collide, so one mapping serves both.
        return [NodeDescription(
            package=PACKAGE, executable="perception", name=None, namespace=config.namespace,
            parameters={**detector, **keypoints}, parameter_files=files,
            remappings=tuple(cameras_remapped + _output_remappings(config, ("detections", "keypoints2d"))))]
    return [
        NodeDescription(package=PACKAGE, executable="person_detector", name="person_detector",
                        namespace=config.namespace, parameters=detector, parameter_files=files,
                        remappings=tuple(cameras_remapped + _output_remappings(config, ("detections",)))),
        NodeDescription(package=PACKAGE, executable="keypoint_estimator", name="keypoint_estimator",
                        namespace=config.namespace, parameters=keypoints, parameter_files=files,
                        remappings=tuple(cameras_remapped + _output_remappings(config, ("detections", "keypoints2d")))),
    ]


def scorehmr_description(config: RigLaunch, *, parameter_files: Sequence[str] = ()) -> NodeDescription:
    """The scorehmr node: extrinsics from this rig YAML (``rig_file``) or from CameraInfo + TF."""
    parameters = {"cameras": [camera.name for camera in config.rig.cameras], "world_frame": config.rig.world_frame,
                  "rig_file": config.path if config.extrinsics == "rig_file" else "", **config.fitting}
    remappings = _output_remappings(config, ("keypoints2d", "bodies", "meshes", "skeletons"))
    if config.extrinsics == "tf":
        remappings = _camera_remappings(config, images=False) + remappings
    return NodeDescription(package=PACKAGE, executable="scorehmr", name="scorehmr", namespace=config.namespace,
                           parameters=parameters, parameter_files=tuple(parameter_files),
                           remappings=tuple(remappings))


def static_transform_arguments(camera, *, world_frame: str) -> tuple[str, ...]:
    """``tf2_ros static_transform_publisher`` arguments for one camera's pose (world -> optical frame)."""
    from scorehmr_ros.geometry.transforms import matrix_to_quaternion_xyzw

    T_world_cam = camera.T_world_cam
    x, y, z, w = matrix_to_quaternion_xyzw(T_world_cam[:3, :3])
    position = T_world_cam[:3, 3]
    values = {"--x": position[0], "--y": position[1], "--z": position[2], "--qx": x, "--qy": y, "--qz": z, "--qw": w}
    arguments = [item for flag, value in values.items() for item in (flag, repr(float(np.round(value, 12))))]
    return (*arguments, "--frame-id", world_frame, "--child-frame-id", camera.frame_id)


def camera_pose_descriptions(config: RigLaunch) -> list[NodeDescription]:
    """Publishers of the camera poses on /tf_static: our rig_tf node, one tf2_ros publisher per camera, or none."""
    if config.camera_poses == "none":
        return []
    if config.camera_poses == "rig_tf":
        return [NodeDescription(package=PACKAGE, executable="rig_tf", name="rig_tf", namespace=config.namespace,
                                parameters={"rig_file": config.path})]
    return [NodeDescription(package="tf2_ros", executable="static_transform_publisher",
                            name=f"{camera.name}_pose", namespace=config.namespace,
                            arguments=static_transform_arguments(camera, world_frame=config.rig.world_frame))
            for camera in config.rig.cameras]


def _parameter_text(value: Any) -> str:
    """A parameter value as ``-p name:=value`` takes it (YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_parameter_text(item) for item in value) + "]"
    if isinstance(value, str):  # quoted when YAML would read it as something else ('', 'true', '1.5')
        return value if value and yaml.safe_load(value) == value else yaml.safe_dump(value, default_style="'").strip()
    return repr(value)


def ros_arguments(description: NodeDescription) -> list[str]:
    """The ``--ros-args`` command line that starts the node as described (without ``launch``), e.g. for
    ``ros2 run <package> <executable> <arguments...>`` or a shell script."""
    arguments = list(description.arguments) + ["--ros-args"]
    if description.name:
        arguments += ["-r", f"__node:={description.name}"]
    if description.namespace:
        arguments += ["-r", f"__ns:={description.namespace}"]
    for name, value in description.parameters.items():
        arguments += ["-p", f"{name}:={_parameter_text(value)}"]
    for path in description.parameter_files:
        arguments += ["--params-file", path]
    for source, target in description.remappings:
        arguments += ["-r", f"{source}:={target}"]
    return arguments


def launch_graph(rig_path: str | Path, *, parameter_files: Sequence[str] = ()) -> list[NodeDescription]:
    """Every process of the rig's graph: camera poses, perception, scorehmr (in start order).

    Args:
        rig_path: the rig YAML (module docstring).
        parameter_files: ROS parameter files given to each of our nodes after the rig's values
            (sections for other node names are ignored by a node), e.g. config/scorehmr.yaml.
    Raises:
        LaunchGraphError: a camera entry or a launch section is invalid (the message names the key).
    """
    config = parse_rig_launch(rig_path)
    return [*camera_pose_descriptions(config), *perception_descriptions(config, parameter_files=parameter_files),
            scorehmr_description(config, parameter_files=parameter_files)]
