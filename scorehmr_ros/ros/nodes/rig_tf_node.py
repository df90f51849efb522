"""rig_tf: publishes the camera poses of a rig YAML on /tf_static, once, latched.

One transform per camera, ``<world_frame>`` -> ``<frame_id>`` (the camera's optical frame), as
``tf2_ros``'s StaticTransformBroadcaster offers it (reliable, transient local, keep last 1), so
RViz shows the cameras and a scorehmr node in TF mode finds them. With a system ROS,
``ros2 run tf2_ros static_transform_publisher`` per camera does the same
(``launch_graph.static_transform_arguments`` gives its arguments).

    ros2 run scorehmr_ros rig_tf --ros-args -p rig_file:=config/rig_example.yaml
"""

from __future__ import annotations

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

from scorehmr_ros.ros.common import main_for
from scorehmr_ros.ros.geometry_conversions import matrix_to_transform
from scorehmr_ros.ros.managed_node import LIFECYCLE_PARAMETERS, ManagedNode
from scorehmr_ros.ros.parameters import declare_groups


def static_tf_qos() -> QoSProfile:
    """/tf_static as tf2's StaticTransformBroadcaster offers it: reliable, transient local, keep last 1."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def rig_static_transforms(rig, *, stamp_ns: int) -> TFMessage:
    """One TransformStamped per camera of ``rig`` (sim.rigs.Rig): world frame -> optical frame (T_world_cam)."""
    return TFMessage(transforms=[
        matrix_to_transform(camera.T_world_cam, parent_frame=rig.world_frame,
                            child_frame=camera.frame_id or f"{camera.name}_optical_frame", stamp_ns=stamp_ns)
        for camera in rig.cameras])


class RigTFNode(ManagedNode):
    """Latches the camera poses of ``rig_file`` on /tf_static (a managed node: loads the rig on configure,
    publishes on activate)."""

    startup_errors = (ValueError, OSError)

    def __init__(self, *, node_name: str = "rig_tf", **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self.declare_parameter("rig_file", Parameter.Type.STRING,
                               ParameterDescriptor(description="rig YAML with the camera poses (sim/rig_io format)"))
        declare_groups(self, (LIFECYCLE_PARAMETERS,))
        self.rig = None
        self.start()

    def configure(self) -> None:
        path = self.get_parameter("rig_file").value
        if not path:
            raise ValueError("rig_file: give the rig YAML, e.g. -p rig_file:=config/rig_example.yaml")
        from scorehmr_ros.geometry.rig_io import load_rig

        self.rig = load_rig(path)
        self.publisher = self.create_output(TFMessage, "/tf_static", static_tf_qos())

    def activate(self) -> None:
        self.publisher.publish(rig_static_transforms(self.rig, stamp_ns=self.get_clock().now().nanoseconds))
        self.get_logger().info(f"latched {len(self.rig.cameras)} camera poses of rig {self.rig.name} "
                               f"({self.rig.world_frame} -> {[c.frame_id for c in self.rig.cameras]}) on /tf_static")

    def release(self) -> None:
        self.rig = None
        super().release()


main = main_for(RigTFNode)


if __name__ == "__main__":
    main()
