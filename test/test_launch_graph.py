"""The launch graph as a pure function (rig YAML -> node descriptions), the launch file that maps it onto
launch_ros (with recording stubs of launch/launch_ros), the executables it names, and the RViz config."""

import importlib.util
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import yaml

from scorehmr_ros.geometry.rig_io import load_rig
from scorehmr_ros.geometry.transforms import quaternion_xyzw_to_matrix
from scorehmr_ros.pipeline.body_pipeline import rig_cameras
from scorehmr_ros.ros.dds import dds_environment
from scorehmr_ros.ros.launch_graph import (
    LaunchGraphError,
    NodeDescription,
    launch_graph,
    ros_arguments,
)
from scorehmr_ros.ros.nodes.registry import declared_parameters

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_RIG = REPO / "config" / "rig_example.yaml"
LAUNCH_FILE = REPO / "launch" / "multicam.launch.py"
OUTPUTS = {"detections", "keypoints2d", "bodies", "meshes", "skeletons"}


def edited_rig(tmp_path, edit) -> Path:
    """The example rig with ``edit(document)`` applied, written to tmp_path."""
    document = yaml.safe_load(EXAMPLE_RIG.read_text())
    edit(document)
    path = tmp_path / "rig.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def by_executable(descriptions: list[NodeDescription]) -> dict[str, NodeDescription]:
    return {d.executable: d for d in descriptions}


# -- the example rig ------------------------------------------------------------------------
def test_example_rig_gives_pose_publisher_composed_perception_and_scorehmr():
    graph = launch_graph(EXAMPLE_RIG)
    assert [d.executable for d in graph] == ["rig_tf", "perception", "scorehmr"]
    nodes = by_executable(graph)
    assert all(d.package == "scorehmr_ros" and d.namespace == "" for d in graph)
    assert all(dict(d.env) == dds_environment() for d in graph)
    # The composed process keeps its two nodes' own names (a name override would rename both).
    assert nodes["perception"].name is None and nodes["scorehmr"].name == "scorehmr"
    cameras = ["cam0", "cam1", "cam2", "cam3"]
    perception = nodes["perception"].parameters
    assert perception["cameras"] == cameras and perception["world_frame"] == "map"
    assert perception["sync.min_cameras"] == 2 and perception["sync.deadline_s"] == 0.05
    assert perception["detector.max_people"] == 6 and perception["keypoints.backend"] == "blazepose"
    assert dict(nodes["perception"].remappings) == {"detections": "/humans/detections",
                                                    "keypoints2d": "/humans/keypoints2d"}
    fitter = nodes["scorehmr"]
    assert fitter.parameters["rig_file"] == str(EXAMPLE_RIG) and fitter.parameters["cameras"] == cameras
    assert dict(fitter.remappings) == {topic: f"/humans/{topic}" for topic in OUTPUTS - {"detections"}}
    assert nodes["rig_tf"].parameters == {"rig_file": str(EXAMPLE_RIG)}


def test_the_scorehmr_node_reads_the_same_cameras_from_its_rig_file():
    fitter = by_executable(launch_graph(EXAMPLE_RIG))["scorehmr"]
    cameras = rig_cameras(fitter.parameters["rig_file"], fitter.parameters["cameras"])
    rig = load_rig(EXAMPLE_RIG)
    assert [c.name for c in cameras] == [c.name for c in rig.cameras]
    for camera in cameras:  # the example's cameras look at the room centre from 3.5 m
        centre_in_camera = camera.R_cam_world @ np.array([0.0, 0.0, 1.0]) + camera.t_cam_world_m
        assert centre_in_camera[2] == pytest.approx(np.hypot(3.5, 1.0), abs=1e-3)
        assert np.hypot(*centre_in_camera[:2]) < 0.05  # near the optical axis


@pytest.mark.parametrize("composed", [True, False])
def test_every_parameter_is_one_the_node_declares(tmp_path, composed):
    def edit(document):
        document["perception"]["composed"] = composed
        document["fitting"]["streaming"] = {"lag": 2, "update_ik": {"iterations": 20}}
        document["fitting"]["tracking"] = {"prediction_timeout_s": 1, "anchor_joints": [8]}

    declared = declared_parameters()
    declared["perception"] = declared["person_detector"] | declared["keypoint_estimator"]
    graph = launch_graph(edited_rig(tmp_path, edit))
    for description in graph:
        node = description.name or description.executable
        unknown = set(description.parameters) - declared[node]
        assert not unknown, f"{node}: not declared {sorted(unknown)}"
    fitter = by_executable(graph)["scorehmr"].parameters
    assert fitter["streaming.lag"] == 2 and fitter["streaming.update_ik.iterations"] == 20
    assert fitter["tracking.prediction_timeout_s"] == 1.0 and isinstance(fitter["tracking.prediction_timeout_s"],
                                                                       float)
    assert fitter["tracking.anchor_joints"] == [8]


def test_separate_perception_nodes_split_the_parameters_and_chain_through_detections(tmp_path):
    graph = launch_graph(edited_rig(tmp_path, lambda d: d["perception"].update(composed=False)))
    assert [d.executable for d in graph] == ["rig_tf", "person_detector", "keypoint_estimator", "scorehmr"]
    nodes = by_executable(graph)
    detector, estimator = nodes["person_detector"], nodes["keypoint_estimator"]
    assert detector.name == "person_detector" and estimator.name == "keypoint_estimator"
    assert "detector.max_people" in detector.parameters and "sync.min_cameras" in detector.parameters
    assert not any(k.startswith(("detector.", "sync.")) for k in estimator.parameters)
    assert "keypoints.backend" in estimator.parameters and "keypoints.backend" not in detector.parameters
    assert dict(detector.remappings)["detections"] == dict(estimator.remappings)["detections"] == "/humans/detections"
    assert dict(estimator.remappings)["keypoints2d"] == dict(nodes["scorehmr"].remappings)["keypoints2d"]


def test_tf_mode_camera_topics_namespaces_and_parameter_files(tmp_path):
    def edit(document):
        document["fitting"]["extrinsics"] = "tf"
        document["namespace"] = "/robot"
        document["output_namespace"] = "/robot/humans"
        document["perception"]["image_transport"] = "compressed"
        document["cameras"][1]["image_topic"] = "/front/color/image_raw"
        document["cameras"][1]["camera_info_topic"] = "/front/color/camera_info"
        document["tf"]["camera_poses"] = "none"

    graph = launch_graph(edited_rig(tmp_path, edit), parameter_files=["/etc/overrides.yaml"])
    nodes = by_executable(graph)
    assert list(nodes) == ["perception", "scorehmr"]  # no pose publisher: the robot's own TF has the cameras
    assert all(d.namespace == "/robot" and d.parameter_files == ("/etc/overrides.yaml",) for d in graph)
    fitter = nodes["scorehmr"]
    assert fitter.parameters["rig_file"] == ""  # CameraInfo + TF
    assert dict(fitter.remappings) == {"cam1/camera_info": "/front/color/camera_info",
                                       **{t: f"/robot/humans/{t}" for t in OUTPUTS - {"detections"}}}
    perception = dict(nodes["perception"].remappings)
    assert perception["cam1/image_raw"] == "/front/color/image_raw"
    assert perception["cam1/image_raw/compressed"] == "/front/color/image_raw/compressed"
    assert perception["cam1/camera_info"] == "/front/color/camera_info"
    assert "cam0/image_raw" not in perception  # cameras without a topic keep <cam>/image_raw
    assert nodes["perception"].parameters["image_transport"] == "compressed"


def test_tf2_ros_static_publishers_carry_each_camera_pose(tmp_path):
    graph = launch_graph(edited_rig(tmp_path, lambda d: d["tf"].update(camera_poses="tf2_ros")))
    publishers = [d for d in graph if d.package == "tf2_ros"]
    rig = load_rig(EXAMPLE_RIG)
    assert len(publishers) == len(rig.cameras)
    for publisher, camera in zip(publishers, rig.cameras, strict=True):
        assert publisher.executable == "static_transform_publisher" and publisher.name == f"{camera.name}_pose"
        args = dict(zip(publisher.arguments[::2], publisher.arguments[1::2], strict=True))
        assert args["--frame-id"] == "map" and args["--child-frame-id"] == camera.frame_id
        T = np.eye(4)
        T[:3, :3] = quaternion_xyzw_to_matrix(np.array([float(args[k]) for k in ("--qx", "--qy", "--qz", "--qw")]))
        T[:3, 3] = [float(args[k]) for k in ("--x", "--y", "--z")]
        np.testing.assert_allclose(T, camera.T_world_cam, atol=1e-9)


def test_relative_model_paths_resolve_next_to_the_rig_file(tmp_path):
    graph = launch_graph(edited_rig(tmp_path, lambda d: d["fitting"].update(prior_path="models/prior.pt")))
    assert by_executable(graph)["scorehmr"].parameters["prior_path"] == str(tmp_path / "models" / "prior.pt")


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["perception"]["detector"].update(max_peeple=3),
     r"perception\.detector: unknown keys \['max_peeple'\]"),
    (lambda d: d["perception"]["detector"].update(max_people=0), r"perception\.detector: max_people: must be >= 1"),
    (lambda d: d["perception"]["sync"].update(min_cameras=5), r"perception\.sync: min_cameras"),
    (lambda d: d["perception"].update(image_transport="h264"), r"perception: image_transport: must be one of"),
    (lambda d: d["perception"].update(composed="yes"), r"perception\.composed: expected true or false"),
    (lambda d: d["fitting"].update(extrinsics="urdf"), r"fitting\.extrinsics: must be one of rig_file, tf"),
    (lambda d: d["fitting"].update(streaming={"lag": 9}), r"fitting\.streaming: lag=9: must be < window"),
    (lambda d: d["fitting"].update(streaming={"fit": {"stepz": 1}}), r"fitting\.streaming\.fit: unknown keys"),
    (lambda d: d["fitting"].update(tracking={"gate_m": "far"}), r"fitting\.tracking\.gate_m: expected float"),
    (lambda d: d["fitting"].update(model="x"), r"fitting: unknown keys \['model'\]"),
    (lambda d: d["tf"].update(camera_poses="urdf"), r"tf\.camera_poses: must be one of"),
    (lambda d: d.update(output_namespace="humans"), r"output_namespace: must be empty or an absolute"),
    (lambda d: d.update(perceptoin={}), r"unknown top-level keys \['perceptoin'\]"),
    (lambda d: d["cameras"][0].update(image_topic="cam0/image"),
     r"cameras\[cam0\]\.image_topic: must be an absolute topic"),
    (lambda d: d["cameras"][0].pop("K"), r"cameras\[0\] \(camera 'cam0'\): missing keys \['K'\]"),
])
def test_bad_sections_fail_naming_the_key(tmp_path, edit, message):
    with pytest.raises(LaunchGraphError, match=message):
        launch_graph(edited_rig(tmp_path, edit))


# -- executables ----------------------------------------------------------------------------
def test_every_executable_is_installed_by_cmake_and_setup_py():
    executables = {d.executable for d in launch_graph(EXAMPLE_RIG)} | {"person_detector", "keypoint_estimator",
                                                                        "sim_rig", "bag_recorder"}
    cmake = (REPO / "CMakeLists.txt").read_text()
    installed = set(re.findall(r"scripts/nodes/(\w+)", cmake))
    setup = (REPO / "setup.py").read_text()
    console = dict(re.findall(r"\"(\w+) = (scorehmr_ros(?:\.\w+)+):main\"", setup))
    assert executables <= installed and executables <= set(console)
    for name in installed:
        wrapper = (REPO / "scripts" / "nodes" / name).read_text()
        module = re.search(r"from (scorehmr_ros(?:\.\w+)+) import main", wrapper).group(1)
        assert console[name] == module, name
        assert (REPO / "scripts" / "nodes" / name).stat().st_mode & 0o111, f"{name} is not executable"
        spec = importlib.util.find_spec(module)
        assert spec is not None, module


# -- the launch file, with recording stubs of launch and launch_ros ------------------------
class Recorded:
    def __init__(self, kind, *args, **kwargs):
        self.kind, self.args, self.kwargs = kind, args, kwargs


def stub_modules(monkeypatch) -> None:
    """``launch``, ``launch.actions``, ``launch_ros``, ``launch_ros.actions`` whose classes record their arguments."""
    def module(name, **attributes):
        stub = types.ModuleType(name)
        stub.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, stub)
        return stub

    def recorder(kind):
        return lambda *args, **kwargs: Recorded(kind, *args, **kwargs)

    launch = module("launch", LaunchDescription=recorder("LaunchDescription"))
    launch.actions = module("launch.actions", DeclareLaunchArgument=recorder("DeclareLaunchArgument"),
                            OpaqueFunction=recorder("OpaqueFunction"))
    launch_ros = module("launch_ros")
    launch_ros.actions = module("launch_ros.actions", Node=recorder("Node"))


def run_launch_file(monkeypatch, **arguments) -> list[Recorded]:
    stub_modules(monkeypatch)
    spec = importlib.util.spec_from_file_location("multicam_launch", LAUNCH_FILE)
    launch_file = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch_file)
    description = launch_file.generate_launch_description()
    assert description.kind == "LaunchDescription"
    (actions,) = description.args
    declared = {a.args[0]: a.kwargs["default_value"] for a in actions if a.kind == "DeclareLaunchArgument"}
    assert Path(declared["rig"]) == EXAMPLE_RIG and Path(declared["params_file"]) == REPO / "config" / "scorehmr.yaml"
    (opaque,) = [a for a in actions if a.kind == "OpaqueFunction"]
    context = types.SimpleNamespace(launch_configurations={**declared, **arguments})
    return opaque.kwargs["function"](context)


def test_launch_file_maps_every_description_onto_a_launch_ros_node(monkeypatch):
    nodes = run_launch_file(monkeypatch)
    graph = launch_graph(EXAMPLE_RIG, parameter_files=[str(REPO / "config" / "scorehmr.yaml")])
    assert [n.kind for n in nodes] == ["Node"] * len(graph)
    for node, description in zip(nodes, graph, strict=True):
        kwargs = node.kwargs
        assert (kwargs["package"], kwargs["executable"], kwargs["name"], kwargs["namespace"]) == (
            description.package, description.executable, description.name, description.namespace)
        assert kwargs["parameters"] == [dict(description.parameters), *description.parameter_files]
        assert kwargs["remappings"] == list(description.remappings)
        assert kwargs["additional_env"] == dds_environment()
        assert kwargs["arguments"] == list(description.arguments) and kwargs["output"] == "screen"


def test_launch_file_takes_the_rig_and_no_parameter_file(monkeypatch, tmp_path):
    rig = edited_rig(tmp_path, lambda d: d["perception"].update(composed=False))
    nodes = run_launch_file(monkeypatch, rig=str(rig), params_file="")
    assert [n.kwargs["executable"] for n in nodes] == ["rig_tf", "person_detector", "keypoint_estimator", "scorehmr"]
    assert all(n.kwargs["parameters"] == [n.kwargs["parameters"][0]] for n in nodes)
    assert nodes[-1].kwargs["parameters"][0]["rig_file"] == str(rig)


# -- RViz ----------------------------------------------------------------------------------
def test_rviz_config_shows_meshes_tf_and_every_camera_image():
    document = yaml.safe_load((REPO / "config" / "scorehmr.rviz").read_text())
    manager = document["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "map"
    displays = manager["Displays"]
    topics = {d["Class"].split("/")[-1] + ":" + d["Topic"]["Value"]: d for d in displays if "Topic" in d}
    assert topics["MarkerArray:/humans/meshes"]["Enabled"] is True
    assert topics["MarkerArray:/humans/meshes"]["Topic"]["Reliability Policy"] == "Reliable"  # as published
    assert any(d["Class"] == "rviz_default_plugins/TF" and d["Enabled"] for d in displays)
    rig = load_rig(EXAMPLE_RIG)
    for camera in rig.cameras:
        image = topics[f"Image:/{camera.name}/image_raw"]
        assert image["Enabled"] and image["Topic"]["Reliability Policy"] == "Best Effort"
    assert all(d["Class"].startswith(("rviz_default_plugins/", "rviz_common/")) for d in displays)


# -- the same graph without launch (ros2 run command lines) ----------------------------------
def test_ros_arguments_round_trip_every_parameter_value():
    values = {"empty": "", "word": "map", "looks_bool": "true", "looks_number": "1.5", "path": "/a b/rig.yaml",
              "flag": False, "count": 3, "ratio": 0.05, "names": ["cam0", "cam1"], "joints": [8, 9, 12]}
    description = NodeDescription(package="scorehmr_ros", executable="scorehmr", name="fitter", namespace="/robot",
                                  parameters=values, parameter_files=("over.yaml",),
                                  remappings=(("bodies", "/humans/bodies"),))
    arguments = ros_arguments(description)
    assert arguments[:5] == ["--ros-args", "-r", "__node:=fitter", "-r", "__ns:=/robot"]
    parsed = {}
    for flag, value in zip(arguments[5::2], arguments[6::2], strict=True):
        if flag == "-p":
            name, _, text = value.partition(":=")
            parsed[name] = yaml.safe_load(text)
    assert parsed == values
    assert arguments[-4:] == ["--params-file", "over.yaml", "-r", "bodies:=/humans/bodies"]
    static = ros_arguments(NodeDescription(package="tf2_ros", executable="static_transform_publisher", name=None,
                                           arguments=("--x", "1.0")))
    assert static == ["--x", "1.0", "--ros-args"]


def test_descriptions_are_read_only():
    description = launch_graph(EXAMPLE_RIG)[-1]
    with pytest.raises(TypeError):
        description.parameters["rig_file"] = "other.yaml"
    with pytest.raises(TypeError):
        description.env["FASTDDS_BUILTIN_TRANSPORTS"] = "UDPv4"
