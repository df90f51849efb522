"""Parameters declared from config dataclasses: defaults, descriptions, ranges, YAML, rejection."""

import dataclasses

import pytest
import rclpy
from rclpy.parameter import Parameter

from scorehmr_ros.perception.synchronizer import SyncConfig
from scorehmr_ros.ros.parameters import ParameterGroup, declare_config, declare_groups, read_config


@pytest.fixture
def make_node(ros_domain, tmp_path):
    created = []

    def make(yaml_text: str | None = None):
        args = []
        if yaml_text is not None:
            params_file = tmp_path / "params.yaml"
            params_file.write_text(yaml_text)
            args = ["--ros-args", "--params-file", str(params_file)]
        context = rclpy.Context()
        rclpy.init(args=args, context=context)
        node = rclpy.create_node("param_test", context=context)
        created.append((node, context))
        return node

    yield make
    for node, context in created:
        node.destroy_node()
        context.try_shutdown()


def test_defaults_descriptions_and_ranges_come_from_the_dataclass(make_node):
    node = make_node()
    declare_config(node, SyncConfig, prefix="sync", defaults=SyncConfig(camera_names=("a", "b")))
    config = read_config(node, SyncConfig, prefix="sync")
    assert config == SyncConfig(camera_names=("a", "b"))
    descriptor = node.describe_parameter("sync.slop_s")
    assert "largest stamp difference" in descriptor.description and "[s]" in descriptor.description
    assert descriptor.floating_point_range[0].from_value == 0.0
    assert node.describe_parameter("sync.queue_size").integer_range[0].to_value == 1000


def test_yaml_overrides_and_required_fields(make_node):
    node = make_node("param_test:\n  ros__parameters:\n    sync:\n      camera_names: [left, right]\n"
                     "      slop_s: 0.05\n      min_cameras: 1\n")
    declare_config(node, SyncConfig, prefix="sync")
    config = read_config(node, SyncConfig, prefix="sync")
    assert config.camera_names == ("left", "right") and config.slop_s == 0.05 and config.min_cameras == 1
    assert config.queue_size == SyncConfig.__dataclass_fields__["queue_size"].default


def test_missing_required_parameter_is_named(make_node):
    node = make_node()
    declare_config(node, SyncConfig, prefix="sync")
    with pytest.raises(ValueError, match="parameter 'sync.camera_names' is required"):
        read_config(node, SyncConfig, prefix="sync")


def test_invalid_values_are_rejected_with_the_reason(make_node):
    node = make_node()
    node.declare_parameter("cameras", ["a", "b"])
    group = ParameterGroup("sync", SyncConfig, from_parameters=(("camera_names", "cameras"),))
    declare_groups(node, (group,))
    assert not node.has_parameter("sync.camera_names")
    assert group.read(node).camera_names == ("a", "b")
    (result,) = node.set_parameters([Parameter("sync.min_cameras", value=3)])
    assert not result.successful and "min_cameras: must be in [0, 2]" in result.reason
    (result,) = node.set_parameters([Parameter("sync.stale_s", value=0.01)])
    assert not result.successful and "stale_s: must be >= deadline_s" in result.reason
    (result,) = node.set_parameters([Parameter("sync.slop_s", value=0.03)])
    assert result.successful
    assert group.read(node).slop_s == 0.03
    assert dataclasses.replace(SyncConfig(camera_names=("a",))).slop_s == 0.02
