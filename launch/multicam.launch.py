"""Multi-camera ScoreHMR graph from a rig YAML: camera poses on TF, perception, scorehmr.

    ros2 launch scorehmr_ros multicam.launch.py rig:=/path/to/rig.yaml [params_file:=my_overrides.yaml]

A thin mapping: ``scorehmr_ros.ros.launch_graph.launch_graph`` decides every node, parameter,
remapping and environment variable (tested there); this file only turns its descriptions into
``launch_ros.actions.Node`` actions. Defaults: config/rig_example.yaml and config/scorehmr.yaml
of this package's share directory.
"""

from pathlib import Path

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

from launch import LaunchDescription

SHARE = Path(__file__).resolve().parent.parent  # share/scorehmr_ros (installed) or the source checkout
DEFAULT_RIG = SHARE / "config" / "rig_example.yaml"
DEFAULT_PARAMS = SHARE / "config" / "scorehmr.yaml"


def node_action(description) -> Node:
    """One NodeDescription -> launch_ros Node (the rig's values first, parameter files override them)."""
    return Node(
        package=description.package, executable=description.executable, name=description.name,
        namespace=description.namespace, parameters=[dict(description.parameters), *description.parameter_files],
        remappings=list(description.remappings), additional_env=dict(description.env),
        arguments=list(description.arguments), output="screen", emulate_tty=True)


def _nodes(context, *args, **kwargs):
    from scorehmr_ros.ros.launch_graph import launch_graph

    rig = context.launch_configurations["rig"]
    params_file = context.launch_configurations.get("params_file", "")
    files = [params_file] if params_file else []
    return [node_action(description) for description in launch_graph(rig, parameter_files=files)]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument("rig", default_value=str(DEFAULT_RIG),
                              description="rig YAML: cameras (intrinsics, poses) and the launch sections"),
        DeclareLaunchArgument("params_file", default_value=str(DEFAULT_PARAMS),
                              description="ROS parameter file applied to every node after the rig's values "
                                          "(empty: none)"),
        OpaqueFunction(function=_nodes),
    ])
