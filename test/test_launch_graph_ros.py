"""The launch graph on real DDS, without ``launch``: every described process started through its `ros2 run`
wrapper with ``ros_arguments``, fed by the simulated rig on the same rig YAML; bodies, meshes, skeletons (from
config/scorehmr.yaml) and the camera poses arrive."""

from pathlib import Path

import pytest
import yaml
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from scorehmr_ros.msg import MultiViewKeypoints2D, SMPLBodyArray
from scorehmr_ros.ros.launch_graph import launch_graph, ros_arguments

from ros_harness import wait_until

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
WRAPPERS = REPO / "scripts" / "nodes"


def test_described_graph_runs_on_the_simulated_rig(ros_node, ros_peers, tmp_path):
    document = yaml.safe_load((REPO / "config" / "rig_example.yaml").read_text())
    document["perception"]["image_reliability"] = "reliable"  # cross-process 640x480 bursts on 2 loaded cores
    rig = tmp_path / "rig.yaml"
    rig.write_text(yaml.safe_dump(document, sort_keys=False))
    received = {name: [] for name in ("bodies", "meshes", "skeletons", "keypoints2d", "tf_static")}
    ros_node.create_subscription(SMPLBodyArray, "/humans/bodies", received["bodies"].append, 50)
    ros_node.create_subscription(MarkerArray, "/humans/meshes", received["meshes"].append, 50)
    ros_node.create_subscription(MarkerArray, "/humans/skeletons", received["skeletons"].append, 50)
    ros_node.create_subscription(MultiViewKeypoints2D, "/humans/keypoints2d", received["keypoints2d"].append, 50)
    latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    ros_node.create_subscription(TFMessage, "/tf_static", received["tf_static"].append, latched)

    peers = [ros_peers.start(WRAPPERS / d.executable, *ros_arguments(d))
             for d in launch_graph(rig, parameter_files=[str(REPO / "config" / "scorehmr.yaml")])]
    peers.append(ros_peers.start(WRAPPERS / "sim_rig", "--ros-args", "-p", f"rig:={rig}", "-p", "num_people:=1",
                                 "-p", "num_frames:=10", "-p", "fps:=5.0", "-p", "start_delay_s:=3.0"))

    def logs() -> str:
        return "\n".join(f"--- {peer.name}\n{peer.log()[-1500:]}" for peer in peers)

    wait_until(lambda: received["bodies"] and any(m.bodies for m in received["bodies"]) and received["meshes"]
               and received["skeletons"], spin=ros_node.spin_once, timeout_s=150,
               what=lambda: f"bodies, meshes and skeletons ({ {k: len(v) for k, v in received.items()} })\n{logs()}")
    for peer in peers:
        peer.assert_running()
    frames = {t.child_frame_id for m in received["tf_static"] for t in m.transforms}
    assert {f"cam{i}_optical_frame" for i in range(4)} <= frames  # rig_tf (and the simulated rig) latch them
    assert all(len(m.views) >= 2 for m in received["keypoints2d"])  # sync.min_cameras from the rig YAML
    wait_until(lambda: "from rig file" in logs(), timeout_s=10, what=lambda: f"scorehmr's ready line\n{logs()}")
