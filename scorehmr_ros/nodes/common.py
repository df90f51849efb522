"""Small pieces every node uses: QoS from parameters, throttled warnings, the main() form."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

#: Image QoS reliability values accepted by the ``image_reliability`` parameters.
RELIABILITY_CHOICES = ("best_effort", "reliable")


def image_qos(*, reliability: str = "best_effort", depth: int = 1) -> QoSProfile:
    """Sensor-data QoS for camera topics (best effort, keep last ``depth``), reliability selectable."""
    if reliability not in RELIABILITY_CHOICES:
        raise ValueError(f"image reliability must be one of {', '.join(RELIABILITY_CHOICES)}; got {reliability!r}")
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth, durability=DurabilityPolicy.VOLATILE,
        reliability=ReliabilityPolicy.BEST_EFFORT if reliability == "best_effort" else ReliabilityPolicy.RELIABLE,
    )


def output_qos(depth: int = 10) -> QoSProfile:
    """Outputs are reliable, keep last ``depth``."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE)


@dataclass
class ThrottledWarnings:
    """Logs each kind of problem at most once per ``period_s``, saying how often it happened meanwhile.

    A node never dies on a bad message: it calls ``warn(kind, text)`` and drops the input.
    """

    log: Callable[[str], None]
    period_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    _last_logged: dict[str, float] = field(default_factory=dict)
    _suppressed: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def warn(self, kind: str, text: str) -> bool:
        """Record one occurrence; return True when it was logged now."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        now = self.clock()
        last = self._last_logged.get(kind)
        if last is not None and now - last < self.period_s:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        suppressed = self._suppressed.pop(kind, 0)
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        self.log(f"{text}{more}")
        self._last_logged[kind] = now
        return True


def freeze_startup_objects() -> None:
    """Exempt everything allocated so far (models, modules, imports) from Python's cyclic garbage collector.

    Building a mesh marker allocates tens of thousands of Point objects, which triggers full collections;
    with torch and the models loaded each one scanned the whole heap (~70 ms every other mesh here). After
    ``gc.freeze()`` the collections only look at new objects (mesh markers for two people: 95 -> 20 ms).
    Call once a node is configured, before it spins.
    """
    import gc

    gc.collect()
    gc.freeze()


def spin_nodes(nodes: list[Node]) -> None:
    """Spin nodes in one single-threaded executor until Ctrl-C or shutdown.

    Our callbacks only take messages in; the work runs on each node's worker threads. rclpy's
    MultiThreadedExecutor polls its futures while a callback runs, holding the interpreter lock: in the
    scorehmr node that slowed the fitter thread enough to drop half of the sets with the CPU half idle.
    """
    executor = SingleThreadedExecutor()
    for node in nodes:
        executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()


def declare_camera_list(node: Node, description: str) -> tuple[str, ...]:
    """Declare the string-array parameter ``cameras`` (no default) and return its value, () when unset."""
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.exceptions import ParameterUninitializedException
    from rclpy.parameter import Parameter

    node.declare_parameter("cameras", Parameter.Type.STRING_ARRAY, ParameterDescriptor(description=description))
    try:
        return tuple(node.get_parameter("cameras").value or ())
    except ParameterUninitializedException:
        return ()


def main_for(node_class: type[Node], *, startup_errors: tuple[type[Exception], ...] = (ValueError,)
             ) -> Callable[[list[str] | None], None]:
    """The ros2/examples main(): init, spin the node, exit cleanly on Ctrl-C.

    A node that cannot start (``startup_errors``: a bad parameter, a missing model file) logs the
    reason in one line and exits with status 1 instead of a traceback.
    """

    def main(args: list[str] | None = None) -> None:
        with rclpy.init(args=args):
            try:
                node = node_class()
            except startup_errors as error:
                rclpy.logging.get_logger(node_class.__name__).fatal(f"cannot start: {error}")
                raise SystemExit(1) from None
            freeze_startup_objects()
            spin_nodes([node])

    return main
