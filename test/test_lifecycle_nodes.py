"""The nodes are managed (lifecycle) nodes: with autostart:=false they come up unconfigured and follow
configure / activate / deactivate / cleanup requests over real DDS, processing input only while active."""

from pathlib import Path

import pytest
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rcl_interfaces.srv import SetParameters
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter

from scorehmr_ros.assets.paths import ensure_standin_body_model
from scorehmr_ros.body.body_model import BodyModel
from scorehmr_ros.geometry.rig_io import save_rig
from scorehmr_ros.geometry.rigs import ring_rig
from scorehmr_ros.msg import MultiViewKeypoints2D, SMPLBodyArray
from scorehmr_ros.ros.geometry_conversions import stamp_to_ns
from scorehmr_ros.ros.keypoint_conversions import observation_to_msg
from scorehmr_ros.sim.scene import SceneConfig, generate_scene

from ros_harness import wait_until
from scene_observations import scene_sets

pytestmark = [pytest.mark.ros, pytest.mark.slow]

#: Longest a transition may take on a loaded machine (configure loads and warms up models), seconds.
TRANSITION_TIMEOUT_S = 180.0


class LifecycleClient:
    """The lifecycle services of one node, called from the test's node."""

    def __init__(self, ros_node, node_name: str, peer) -> None:
        self.ros_node, self.node_name, self.peer = ros_node, node_name, peer
        self.get_state_client = ros_node.create_client(GetState, f"/{node_name}/get_state")
        self.change_state_client = ros_node.create_client(ChangeState, f"/{node_name}/change_state")
        self.set_parameters_client = ros_node.create_client(SetParameters, f"/{node_name}/set_parameters")

    def _call(self, client, request, what: str):
        wait_until(client.service_is_ready, spin=self.ros_node.spin_once, timeout_s=TRANSITION_TIMEOUT_S,
                   what=lambda: f"{client.srv_name} (node log: {self.peer.log()[-3000:]})")
        future = client.call_async(request)
        wait_until(future.done, spin=self.ros_node.spin_once, timeout_s=TRANSITION_TIMEOUT_S,
                   what=lambda: f"{what} (node log: {self.peer.log()[-3000:]})")
        return future.result()

    def state(self) -> str:
        return self._call(self.get_state_client, GetState.Request(), "get_state").current_state.label

    def change(self, transition_id: int) -> bool:
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return self._call(self.change_state_client, request, f"transition {transition_id}").success

    def set_parameter(self, name: str, value) -> None:
        request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        (result,) = self._call(self.set_parameters_client, request, f"setting {name}").results
        assert result.successful, result.reason


def test_the_scorehmr_node_is_managed(ros_node, ros_peers, tmp_path):
    rig = ring_rig(num_cameras=4, radius_m=3.5, height_m=2.0, width_px=640, height_px=480, horizontal_fov_deg=60)
    scene = generate_scene(config=SceneConfig(num_people=1, num_frames=6, clips=("walk",), seed=3),
                           cameras=rig.cameras, body_model=BodyModel.from_file(ensure_standin_body_model()))
    save_rig(rig, tmp_path / "rig.yaml")
    sets = scene_sets(scene, seed=1)
    # streaming.lag 0: each set's bodies come out with it, so every input can be waited for by its own stamp
    node = ros_peers.start_module("scorehmr_ros.ros.nodes.scorehmr_node", "--ros-args", "-p", "autostart:=false",
                                  "-p", f"rig_file:={tmp_path / 'rig.yaml'}", "-p", "streaming.lag:=0",
                                  "-p", "accel.backend:=onnxruntime")
    lifecycle = LifecycleClient(ros_node, "scorehmr", node)
    keypoints = ros_node.create_publisher(MultiViewKeypoints2D, "keypoints2d", 10)
    bodies: list[SMPLBodyArray] = []
    ros_node.create_subscription(SMPLBodyArray, "bodies", bodies.append, 50)
    out_stamps = lambda: {stamp_to_ns(msg.header.stamp) for msg in bodies}  # noqa: E731
    ignored = []

    def send(k: int) -> int:
        observation = sets[k]
        keypoints.publish(observation_to_msg(observation))
        return observation.stamp_ns

    def wait_served(served: bool) -> None:
        wait_until(lambda: (keypoints.get_subscription_count() > 0) == served, spin=ros_node.spin_once,
                   timeout_s=TRANSITION_TIMEOUT_S, what=f"the keypoints subscription {'up' if served else 'gone'}")

    def wait_bodies_of(stamp_ns: int) -> None:
        wait_until(lambda: stamp_ns in out_stamps(), spin=ros_node.spin_once, timeout_s=TRANSITION_TIMEOUT_S,
                   what=lambda: f"bodies of the set at {stamp_ns} (node log: {node.log()[-3000:]})")

    assert lifecycle.state() == "unconfigured"  # the services answer: the node is up and discovered
    assert ros_node.count_publishers("/bodies") == 0 and keypoints.get_subscription_count() == 0

    assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.state() == "inactive"
    wait_until(lambda: ros_node.count_publishers("/bodies") > 0, spin=ros_node.spin_once, what="the bodies publisher")
    # the denoiser runs on the engine asked for, checked against eager when built; the log says so
    assert "accel denoiser: onnxruntime (fp32 on cpu" in node.log() and "parity" in node.log(), node.log()[-3000:]
    assert keypoints.get_subscription_count() == 0
    ignored.append(send(0))  # no reader: dropped

    assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
    assert lifecycle.state() == "active"
    wait_served(True)
    wait_bodies_of(send(1))

    assert lifecycle.change(Transition.TRANSITION_DEACTIVATE)
    assert lifecycle.state() == "inactive"
    wait_served(False)
    ignored.append(send(2))

    assert lifecycle.change(Transition.TRANSITION_CLEANUP)
    assert lifecycle.state() == "unconfigured"
    wait_until(lambda: ros_node.count_publishers("/bodies") == 0, spin=ros_node.spin_once,
               what="the bodies publisher gone")

    missing = tmp_path / "missing_prior.pt"
    lifecycle.set_parameter("prior_path", str(missing))
    assert not lifecycle.change(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.state() == "unconfigured"
    node.assert_running()
    assert f"configure failed: diffusion checkpoint not found: {missing}" in node.log(), node.log()[-3000:]

    lifecycle.set_parameter("prior_path", "")
    assert lifecycle.change(Transition.TRANSITION_CONFIGURE) and lifecycle.change(Transition.TRANSITION_ACTIVATE)
    assert lifecycle.state() == "active"
    wait_served(True)
    for k in range(3, len(sets)):
        wait_bodies_of(send(k))
    assert not out_stamps() & set(ignored), "a set sent while the node was not active was processed"
    assert lifecycle.state() == "active"
    node.assert_running()
    assert "Traceback" not in node.log()

    assert lifecycle.change(Transition.TRANSITION_ACTIVE_SHUTDOWN)
    assert lifecycle.state() == "finalized"
    node.assert_running()


def test_the_composed_perception_nodes_are_managed(ros_node, ros_peers, tmp_path):
    ros_peers.start("publish_cameras.py", "--cameras", "cam0,cam1", "--rate", "10")
    node = ros_peers.start_module("scorehmr_ros.ros.nodes.perception_node", "--ros-args", "-p", "autostart:=false",
                                  "-p", "cameras:=[cam0,cam1]", "-p", "detector.num_threads:=1", "-p",
                                  "keypoints.num_threads:=1")
    detector = LifecycleClient(ros_node, "person_detector", node)
    estimator = LifecycleClient(ros_node, "keypoint_estimator", node)
    managed = (detector, estimator)
    keypoints: list[MultiViewKeypoints2D] = []
    ros_node.create_subscription(MultiViewKeypoints2D, "keypoints2d", keypoints.append, 50)

    def image_readers() -> int:
        return ros_node.count_subscribers("/cam0/image_raw") + ros_node.count_subscribers("/cam1/image_raw")

    def change_both(transition_id: int, state: str) -> None:
        for client in managed:
            assert client.change(transition_id), (client.node_name, node.log()[-3000:])
            assert client.state() == state

    def wait_keypoint_sets_after(stamp_ns: int, count: int = 2) -> None:
        wait_until(lambda: sum(stamp_to_ns(msg.header.stamp) > stamp_ns for msg in keypoints) >= count,
                   spin=ros_node.spin_once, timeout_s=TRANSITION_TIMEOUT_S,
                   what=lambda: f"keypoint sets (node log: {node.log()[-3000:]})")

    assert [client.state() for client in managed] == ["unconfigured", "unconfigured"]
    assert ros_node.count_publishers("/keypoints2d") == 0 and image_readers() == 0

    change_both(Transition.TRANSITION_CONFIGURE, "inactive")
    wait_until(lambda: ros_node.count_publishers("/keypoints2d") > 0, spin=ros_node.spin_once,
               what="the keypoints publisher")
    assert image_readers() == 0

    change_both(Transition.TRANSITION_ACTIVATE, "active")
    wait_keypoint_sets_after(0)

    assert detector.change(Transition.TRANSITION_DEACTIVATE) and detector.state() == "inactive"
    wait_until(lambda: image_readers() == 0, spin=ros_node.spin_once, what="the image subscriptions gone")
    readers_gone_ns = ros_node.get_clock().now().nanoseconds  # images stamped after this reached nobody
    assert estimator.change(Transition.TRANSITION_DEACTIVATE) and estimator.state() == "inactive"
    change_both(Transition.TRANSITION_CLEANUP, "unconfigured")

    missing = tmp_path / "missing_detector.onnx"
    detector.set_parameter("detector.model_path", str(missing))
    assert not detector.change(Transition.TRANSITION_CONFIGURE)
    assert detector.state() == "unconfigured"
    node.assert_running()
    assert "configure failed:" in node.log() and str(missing) in node.log(), node.log()[-3000:]

    detector.set_parameter("detector.model_path", "")
    reactivated_ns = ros_node.get_clock().now().nanoseconds
    change_both(Transition.TRANSITION_CONFIGURE, "inactive")
    change_both(Transition.TRANSITION_ACTIVATE, "active")
    wait_keypoint_sets_after(reactivated_ns)
    stamps = [stamp_to_ns(msg.header.stamp) for msg in keypoints]
    assert not [s for s in stamps if readers_gone_ns < s < reactivated_ns], "images sent while inactive were processed"
    node.assert_running()
    assert "Traceback" not in node.log()


def test_rig_tf_latches_the_poses_when_activated(ros_node, ros_peers):
    from tf2_msgs.msg import TFMessage

    from scorehmr_ros.ros.nodes.rig_tf_node import static_tf_qos

    rig_file = Path(__file__).parents[1] / "config" / "rig_example.yaml"
    node = ros_peers.start_module("scorehmr_ros.ros.nodes.rig_tf_node", "--ros-args", "-p", "autostart:=false",
                                  "-p", f"rig_file:={rig_file}")
    lifecycle = LifecycleClient(ros_node, "rig_tf", node)
    received: list[TFMessage] = []
    ros_node.create_subscription(TFMessage, "/tf_static", received.append, static_tf_qos())
    assert lifecycle.state() == "unconfigured" and ros_node.count_publishers("/tf_static") == 0
    assert lifecycle.change(Transition.TRANSITION_CONFIGURE) and lifecycle.state() == "inactive"
    assert lifecycle.change(Transition.TRANSITION_ACTIVATE) and lifecycle.state() == "active"
    wait_until(lambda: received, spin=ros_node.spin_once, what=lambda: f"/tf_static (node log: {node.log()})")
    assert len(received[0].transforms) >= 2
    assert lifecycle.change(Transition.TRANSITION_DEACTIVATE) and lifecycle.change(Transition.TRANSITION_CLEANUP)
    wait_until(lambda: ros_node.count_publishers("/tf_static") == 0, spin=ros_node.spin_once,
               what="the /tf_static publisher gone")
    lifecycle.set_parameter("rig_file", "/nonexistent/rig.yaml")
    assert not lifecycle.change(Transition.TRANSITION_CONFIGURE) and lifecycle.state() == "unconfigured"
    node.assert_running()
    assert "configure failed:" in node.log() and "Traceback" not in node.log(), node.log()


def test_the_bag_recorder_creates_records_and_finishes_its_bag_by_transitions(ros_domain, tmp_path):
    import rclpy

    from scorehmr_ros.ros.nodes.bag_recorder_node import BagRecorderNode
    from scorehmr_ros.ros.recording import TopicSpec

    context = rclpy.Context()
    rclpy.init(context=context)
    bag = tmp_path / "bag"
    recorder = BagRecorderNode(path=str(bag), topics=[TopicSpec("/chatter", "std_msgs/msg/String", "reliable")],
                               context=context, parameter_overrides=[Parameter("autostart", value=False)])
    try:
        assert not bag.exists() and not list(recorder.subscriptions)
        assert recorder.trigger_configure() == TransitionCallbackReturn.SUCCESS and bag.exists()
        assert not list(recorder.subscriptions)  # inactive: records nothing
        assert recorder.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert len(list(recorder.subscriptions)) == 1
        assert recorder.trigger_deactivate() == TransitionCallbackReturn.SUCCESS and not list(recorder.subscriptions)
        assert recorder.trigger_cleanup() == TransitionCallbackReturn.SUCCESS and recorder.writer.closed
        assert (bag / "metadata.yaml").exists()
        # the bag exists now: configuring again fails, and the node stays unconfigured
        assert recorder.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert recorder._state_machine.current_state[1] == "unconfigured"
    finally:
        recorder.destroy_node()
        rclpy.shutdown(context=context)
