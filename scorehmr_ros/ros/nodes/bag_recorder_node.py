"""bag_recorder: subscribes to a list of topics and writes what arrives to a rosbag2 (MCAP or sqlite3).

Messages are taken as serialized bytes (``raw=True`` subscriptions: nothing is deserialized or
re-serialized) and stored at their receive time on the node clock, as ``ros2 bag record`` does.
Subscriptions use the topic's QoS kind (``scorehmr_ros.ros.recording``): best effort for camera
topics, reliable for outputs, transient local for ``/tf_static`` so the latched camera poses are
recorded even when they were published before the recorder started.

In-process use (the demo)::

    smpl = TopicSpec("/humans/smpl", "scorehmr_ros/msg/SMPLBodyArray")
    recorder = BagRecorderNode(path="out/demo_bag", topics=[smpl, ...])
    spin_nodes([rig, perception, fitter, recorder])   # the bag is closed when the node is destroyed

As an executable: ``python -m scorehmr_ros.ros.nodes.bag_recorder_node --ros-args -p output:=bag
-p topics:=['/cam0/image_raw=sensor_msgs/msg/Image', ...]`` (``topic=package/msg/Type[@qos]``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.context import Context
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from scorehmr_ros.ros.common import main_for
from scorehmr_ros.ros.managed_node import LIFECYCLE_PARAMETERS, ManagedNode
from scorehmr_ros.ros.parameters import declare_groups
from scorehmr_ros.ros.recording import (
    QOS_DEPTHS,
    STORAGES,
    BagError,
    BagWriter,
    TopicSpec,
    message_class,
    parse_topic_spec,
)


def subscription_qos(kind: str) -> QoSProfile:
    """The rclpy QoS a recorder subscribes with for a QoS kind of ``scorehmr_ros.ros.recording``."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=QOS_DEPTHS[kind],
        reliability=ReliabilityPolicy.BEST_EFFORT if kind == "sensor_data" else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if kind == "static" else DurabilityPolicy.VOLATILE)


class BagRecorderNode(ManagedNode):
    """Records ``topics`` into a new bag at ``path`` (a managed node: the bag is created on configure, recorded
    into while active and finished on cleanup).

    Args:
        path: bag folder to create; None reads the ``output`` parameter.
        topics: what to record; None reads the ``topics`` parameter (``topic=package/msg/Type[@qos]``).
        storage: ``mcap`` or ``sqlite3``; None reads the ``storage`` parameter.
        node_name, namespace, context, kwargs: as for rclpy's Node (e.g. parameter_overrides).
    Raises:
        BagError: (autostart) the bag exists already, a type is not installed or has no definition.
    """

    startup_errors = (BagError, ValueError)

    def __init__(self, *, path: str | None = None, topics: Iterable[TopicSpec] | None = None,
                 storage: str | None = None, node_name: str = "bag_recorder", namespace: str | None = None,
                 context: Context | None = None, **kwargs) -> None:
        super().__init__(node_name, namespace=namespace, context=context, **kwargs)
        self.declare_parameter("output", Parameter.Type.STRING,
                               ParameterDescriptor(description="bag folder to create (must not exist)"))
        self.declare_parameter("storage", "mcap", ParameterDescriptor(
            description="rosbag2 storage plugin", additional_constraints="one of: " + ", ".join(STORAGES)))
        self.declare_parameter("topics", Parameter.Type.STRING_ARRAY, ParameterDescriptor(
            description="topics to record, each 'topic=package/msg/Type' or 'topic=package/msg/Type@qos' "
                        "(qos: sensor_data, reliable, static; default by topic name)"))
        declare_groups(self, (LIFECYCLE_PARAMETERS,))
        self._given = (path, None if topics is None else list(topics), storage)
        self.writer: BagWriter | None = None
        self.start()

    def configure(self) -> None:
        """Create the bag (it must not exist)."""
        path, topics, storage = self._given
        path = path if path is not None else self.get_parameter("output").value
        if not path:
            raise BagError("output: set the bag folder to write")
        if topics is None:
            topics = [parse_topic_spec(text) for text in (self.get_parameter("topics").value or ())]
        # The bag holds fully qualified names (as ros2 bag record writes them).
        topics = [replace(spec, topic=self.resolve_topic_name(spec.topic)) for spec in topics]
        if not topics:
            raise BagError("topics: nothing to record")
        storage = storage if storage is not None else self.get_parameter("storage").value
        self.writer = BagWriter(path, topics=topics, storage=storage)
        self.topics = tuple(topics)
        self.get_logger().info(f"recording {len(topics)} topics to {path} ({storage})")

    def activate(self) -> None:
        for spec in self.topics:
            self.register_intake(self.create_subscription(
                message_class(spec.msg_type), spec.topic, lambda data, topic=spec.topic: self._on_message(topic, data),
                subscription_qos(spec.qos), raw=True))

    def release(self) -> None:
        try:
            super().release()  # the subscriptions first
        finally:  # whatever stopping the intake raised (a context already shut down), the bag is finished
            if self.writer is not None:
                self.writer.close()

    @property
    def counts(self) -> dict[str, int]:
        """Messages written so far, per fully qualified topic name."""
        return dict(self.writer.counts) if self.writer is not None else {}

    def _on_message(self, topic: str, data: bytes) -> None:
        try:
            self.writer.write(topic, data, timestamp_ns=self.get_clock().now().nanoseconds)
        except BagError:
            if not self.writer.closed:  # a callback may still run while close() finishes the bag
                raise

    def close(self) -> None:
        """Stop recording and finish the bag (also done by cleanup, shutdown and destroy_node)."""
        self.release()


main = main_for(BagRecorderNode)


if __name__ == "__main__":
    main()
