"""Test helper: play keypoint sets to a scorehmr node in lock-step, from the test's own ROS node.

Set k+1 goes out only once the test has received the node's bodies array of set k - lag (the node has finished set
k), stamped k / rate after the first set on a virtual clock, so the node sees the same sets and stamps on any
machine. The test that checks the outputs is the one that paces, so it never falls behind the node's keep-last
publishers and loses nothing.
"""

from __future__ import annotations

import time
from dataclasses import replace

from scorehmr_ros.msg import MultiViewKeypoints2D, SMPLBodyArray
from scorehmr_ros.perception.observations import MultiViewObservation
from scorehmr_ros.pipeline.streaming import StreamingConfig
from scorehmr_ros.ros.geometry_conversions import stamp_to_ns
from scorehmr_ros.ros.keypoint_conversions import observation_to_msg
from scorehmr_ros.sim.live_rig import LockstepGate

from ros_harness import wait_until

#: Longest the node may take to finish one set (a loaded machine), seconds.
SET_TIMEOUT_S = 120.0


class LockstepPlayer:
    """Subscribes to the node's ``bodies`` (kept in :attr:`bodies`) and publishes sets on ``keypoints2d``."""

    def __init__(self, ros_node, *, lag: int = StreamingConfig().lag) -> None:
        self.ros_node = ros_node
        self.bodies: list[SMPLBodyArray] = []
        self.gate = LockstepGate(lags={"bodies": lag}, timeout_s=SET_TIMEOUT_S)
        self.publisher = ros_node.create_publisher(MultiViewKeypoints2D, "keypoints2d", 10)
        ros_node.create_subscription(SMPLBodyArray, "bodies", self._on_bodies, 1000)

    def _on_bodies(self, msg: SMPLBodyArray) -> None:
        self.bodies.append(msg)
        self.gate.output("bodies", stamp_to_ns(msg.header.stamp))

    def play(self, sets: list[MultiViewObservation], *, rate_hz: float, node) -> list[int]:
        """Publish ``sets`` in lock-step (``node``: the node's PeerProcess, for its log); returns their stamps."""
        wait_until(lambda: self.publisher.get_subscription_count() > 0 and self.ros_node.count_publishers(
            "/bodies") > 0, spin=self.ros_node.spin_once, timeout_s=120,
            what=lambda: f"the node's keypoints subscription and bodies publisher (node log: {node.log()[-3000:]})")
        start_ns = self.ros_node.get_clock().now().nanoseconds
        stamps = []
        for k, observation in enumerate(sets):
            wait_until(self.gate.finished, spin=self.ros_node.spin_once, timeout_s=SET_TIMEOUT_S,
                       what=lambda k=k: f"the node to finish set {k - 1} (node log: {node.log()[-3000:]})")
            stamp_ns = start_ns + round(k * 1e9 / rate_hz)
            self.publisher.publish(observation_to_msg(replace(observation, stamp_ns=stamp_ns, views=tuple(
                replace(view, image_stamp_ns=stamp_ns) for view in observation.views))))
            self.gate.sent(stamp_ns, now_s=time.monotonic())
            stamps.append(stamp_ns)
        wait_until(self.gate.finished, spin=self.ros_node.spin_once, timeout_s=SET_TIMEOUT_S,
                   what=lambda: f"the node to finish the last set (node log: {node.log()[-3000:]})")
        return stamps
