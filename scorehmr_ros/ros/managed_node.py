"""Managed (lifecycle) nodes: configure, activate, deactivate and clean up on request, as Nav2 and yolo_ros expect.

A :class:`ManagedNode` maps rclpy's lifecycle transitions onto four methods of the node:

- ``configure()``: read and validate the parameters, load and check models and files, warm up, create the
  output publishers (lifecycle publishers: they publish only while active) and the workers. A failure raises
  one of ``startup_errors`` naming what was wrong.
- ``activate()``: create the intake (subscriptions, timers), each recorded with :meth:`ManagedNode.register_intake`.
- ``deactivate()``: destroy the intake, so nothing new is processed while inactive (extend it to drop queued work).
- ``release()``: stop the workers and drop models and buffers, so configure can run again (cleanup, shutdown,
  destroy_node, a failed configure).

With the ``autostart`` parameter (default true) the constructor configures and activates the node, so
``ros2 run``, the launch file and in-process users get a running node as before; a configure failure then
raises its error (main() turns it into one "cannot start: ..." line). With ``autostart:=false`` the node comes
up unconfigured and waits for ``ros2 lifecycle set <node> configure`` / ``activate`` (a lifecycle manager).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.subscription import Subscription
from rclpy.timer import Timer

from scorehmr_ros.base.config_fields import setting
from scorehmr_ros.ros.parameters import ParameterGroup


@dataclass(frozen=True)
class LifecycleConfig:
    """How a managed node starts."""

    autostart: bool = setting(True, "configure and activate at start-up; false: start unconfigured and wait for "
                                    "lifecycle transitions (ros2 lifecycle set <node> configure, then activate)")


#: The lifecycle parameters, a group of every managed node's PARAMETERS.
LIFECYCLE_PARAMETERS = ParameterGroup("", LifecycleConfig)


class ManagedNode(LifecycleNode):
    """A lifecycle node whose transitions call ``configure``, ``activate``, ``deactivate`` and ``release``.

    A subclass declares its parameters (including :data:`LIFECYCLE_PARAMETERS`) in its constructor and then
    calls :meth:`start`.
    """

    #: Errors of configure() that are a bad parameter or file: one logged line, no traceback.
    startup_errors: tuple[type[Exception], ...] = (ValueError,)

    def __init__(self, node_name: str, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self._intake: list[object] = []  # subscriptions, timers, objects with destroy(): what activate created
        self._outputs: list = []  # lifecycle publishers created by configure
        self._transition_error: Exception | None = None
        self._autostarting = False

    # -- for subclasses -----------------------------------------------------------------------
    def configure(self) -> None:
        """Read parameters, load models, create outputs and workers; raise ``startup_errors`` naming the problem."""

    def activate(self) -> None:
        """Create the intake (subscriptions, timers), each passed through :meth:`register_intake`."""

    def deactivate(self) -> None:
        """Stop the intake; extend to drop work that is queued but not started."""
        for entity in reversed(self._intake):
            if isinstance(entity, Subscription):
                self.destroy_subscription(entity)
            elif isinstance(entity, Timer):
                self.destroy_timer(entity)
            else:
                entity.destroy()
        self._intake.clear()

    def release(self) -> None:
        """Drop what configure made (idempotent); subclasses stop their workers first, then call this."""
        self.deactivate()
        for publisher in self._outputs:
            self.destroy_lifecycle_publisher(publisher)
        self._outputs.clear()

    def worker_failed(self, kind: str, text: str) -> None:
        """A worker's set failed: one throttled warning, unless the context is shutting down (Ctrl-C lands while a
        set is in flight: its publish fails on the dead context, which is a stop, not a fault)."""
        if self.context.ok():
            self.warnings.warn(kind, text)

    def register_intake(self, entity):
        """Record a subscription, timer or object with ``destroy()`` made by activate; deactivate destroys it."""
        self._intake.append(entity)
        return entity

    def create_output(self, msg_type, topic: str, qos):
        """A lifecycle publisher (publishes only while active), destroyed by release."""
        publisher = self.create_lifecycle_publisher(msg_type, topic, qos)
        self._outputs.append(publisher)
        return publisher

    def start(self) -> None:
        """With ``autostart``: configure and activate now, raising configure's error; else wait unconfigured."""
        if not LIFECYCLE_PARAMETERS.read(self).autostart:
            self.get_logger().info("unconfigured (autostart false): waiting for the configure transition")
            return
        self._autostarting = True
        try:
            configured = self.trigger_configure()
        finally:
            self._autostarting = False
        if configured != TransitionCallbackReturn.SUCCESS:
            raise self._transition_error or RuntimeError(f"{self.get_name()}: configure failed")
        if self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
            raise RuntimeError(f"{self.get_name()}: activate failed (see the log)")

    @property
    def is_active(self) -> bool:
        return self._state_machine.current_state[1] == "active"

    # -- rclpy's transition callbacks ---------------------------------------------------------
    def _step(self, name: str, step: Callable[[], None], undo: Callable[[], None]) -> bool:
        """Run one transition step; on an error log one line naming it (a traceback for a bug), ``undo`` what the
        step made and return False."""
        try:
            step()
        except Exception as error:  # noqa: BLE001 -- rclpy would swallow it silently; a failed transition says why
            self._transition_error = error
            expected = isinstance(error, self.startup_errors)
            if not (self._autostarting and name == "configure"):  # autostart: start() raises it instead
                detail = "" if expected else f"\n{traceback.format_exc()}"
                self.get_logger().error(f"{name} failed: {error if expected else repr(error)}{detail}")
            undo()
            return False
        return True

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._transition_error = None
        if not self._step("configure", self.configure, undo=self.release):
            return TransitionCallbackReturn.FAILURE
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        super().on_activate(state)  # the lifecycle publishers first: activate() may publish (rig_tf's poses)
        if not self._step("activate", self.activate, undo=self.deactivate):
            super().on_deactivate(state)
            return TransitionCallbackReturn.FAILURE  # stays inactive, configured
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.deactivate()
        self.get_logger().info("inactive: intake stopped")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        self.get_logger().info("unconfigured: models and workers released")
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        return super().on_shutdown(state)

    def destroy_node(self) -> None:
        self.release()
        super().destroy_node()
