"""Small pieces every node uses: QoS from parameters, throttled warnings, the main() form."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from scorehmr_ros.ros.dds import remove_stale_shm_segments
from scorehmr_ros.ros.set_worker import PROCESSING_ERRORS

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

    A node never dies on a bad message: it calls ``warn(kind, text)`` and drops the input. Warnings of one
    kind may differ in text (a NaN set, then an inf set): the suppressed count is attached to a line only
    when every suppressed warning had that line's text; otherwise the report names the last suppressed text.
    """

    log: Callable[[str], None]
    period_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    _last_logged: dict[str, float] = field(default_factory=dict)
    _suppressed: dict[str, int] = field(default_factory=dict)
    _suppressed_texts: dict[str, tuple[str, bool]] = field(default_factory=dict)  # kind -> (last, all the same)
    counts: dict[str, int] = field(default_factory=dict)

    def warn(self, kind: str, text: str) -> bool:
        """Record one occurrence; return True when it was logged now."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        now = self.clock()
        last = self._last_logged.get(kind)
        if last is not None and now - last < self.period_s:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            previous, same = self._suppressed_texts.get(kind, (text, True))
            self._suppressed_texts[kind] = (text, same and previous == text)
            return False
        suppressed = self._suppressed.pop(kind, 0)
        last_suppressed, all_same = self._suppressed_texts.pop(kind, (text, True))
        if not suppressed:
            more = ""
        elif all_same and last_suppressed == text:
            more = f" ({suppressed} more since the last report)"
        else:
            more = (f" ({suppressed} other warnings of this kind since the last report, the last: "
                    f"{last_suppressed})")
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

    A callback that fails on a message (:data:`PROCESSING_ERRORS`) costs that message only: a throttled error
    and the executor spins on. Ctrl-C shuts the context down from a signal handler, which can land while the
    executor builds its wait set (an RCLError, a RuntimeError): with the context gone that is a clean stop.
    """
    executor = SingleThreadedExecutor()
    for node in nodes:
        executor.add_node(node)
    errors = ThrottledWarnings(log=nodes[0].get_logger().error)
    try:
        while executor.context.ok():
            try:
                executor.spin()
            except (KeyboardInterrupt, ExternalShutdownException):
                break
            except PROCESSING_ERRORS as error:
                if not executor.context.ok():
                    break
                errors.warn(f"callback:{type(error).__name__}", f"a callback failed on a message: "
                                                               f"{type(error).__name__}: {error}; message dropped")
    finally:
        executor.shutdown()
        for node in nodes:
            node.destroy_node()


def run_timer_while(timer, needed: bool) -> None:
    """Cancel ``timer`` while it is not ``needed`` and restart it (a full period from now) once it is again.

    A polling timer that runs when nothing waits costs an executor wake-up per period, and each wake-up of rclpy's
    executor rebuilds its wait set over every entity in Python (~1-2 ms): at 100 Hz that kept an idle node at
    ~18 % of a core. A cancelled timer is left out of the wait."""
    if needed and timer.is_canceled():
        timer.reset()
    elif not needed and not timer.is_canceled():
        timer.cancel()


def declare_camera_list(node: Node, description: str) -> tuple[str, ...]:
    """Declare the string-array parameter ``cameras`` (no default) and return its value, () when unset."""
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.parameter import Parameter

    node.declare_parameter("cameras", Parameter.Type.STRING_ARRAY, ParameterDescriptor(description=description))
    return read_camera_list(node)


def read_camera_list(node: Node) -> tuple[str, ...]:
    """The value of the declared ``cameras`` parameter, () when unset."""
    from rclpy.exceptions import ParameterUninitializedException

    try:
        return tuple(node.get_parameter("cameras").value or ())
    except ParameterUninitializedException:
        return ()


def clean_shared_memory(logger_name: str) -> None:
    """Remove the Fast DDS shared-memory segments of dead processes (``dds.remove_stale_shm_segments``); one log
    line when there were any. Called by every node process at start (segments this process holds stay)."""
    stale, freed = remove_stale_shm_segments()
    if stale:
        rclpy.logging.get_logger(logger_name).info(
            f"removed {stale} Fast DDS shared-memory segments ({freed / 1e6:.0f} MB) left by processes that are gone")


def main_for(node_class: type[Node], *, startup_errors: tuple[type[Exception], ...] | None = None
             ) -> Callable[[list[str] | None], None]:
    """The ros2/examples main(): init, spin the node, exit cleanly on Ctrl-C.

    A node that cannot start (``startup_errors``, by default the node class's own, else ValueError: a bad
    parameter, a missing model file) logs the reason in one line and exits with status 1 instead of a traceback.
    A managed node with ``autostart:=false`` starts unconfigured and is spun all the same.
    """
    if startup_errors is None:
        startup_errors = getattr(node_class, "startup_errors", (ValueError,))

    def main(args: list[str] | None = None) -> None:
        with rclpy.init(args=args):
            clean_shared_memory(node_class.__name__)
            try:
                node = node_class()
            except startup_errors as error:
                rclpy.logging.get_logger(node_class.__name__).fatal(f"cannot start: {error}")
                raise SystemExit(1) from None
            freeze_startup_objects()
            spin_nodes([node])

    return main
