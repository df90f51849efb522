"""Real-DDS test harness: an isolated ROS domain per test run, nodes in subprocesses, graph polling.

Used as a pytest plugin (see conftest.py). Every test run gets its own ROS_DOMAIN_ID on
loopback with the nodes' Fast DDS transports (``scorehmr_ros.ros.dds``), set before rclpy is initialised here and
inherited by every subprocess; waits poll the ROS graph instead of sleeping; subprocesses are
started in their own process group and always stopped (SIGINT, then SIGKILL).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scorehmr_ros.base.processes import stop_process_group
from scorehmr_ros.ros.dds import dds_environment, remove_stale_shm_segments

PEERS_DIR = Path(__file__).parent / "ros_peers"
DEFAULT_TIMEOUT_S = 20.0


def isolated_ros_environment(domain_id: int) -> dict[str, str]:
    """Environment variables that keep a test run's DDS traffic on loopback, in its own domain."""
    return {
        "ROS_DOMAIN_ID": str(domain_id),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        **dds_environment({}),  # the nodes' transports, ignoring a profile file of the machine's own
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        "PYTHONUNBUFFERED": "1",
    }


def wait_until(predicate: Callable[[], bool], *, timeout_s: float = DEFAULT_TIMEOUT_S,
               what: str | Callable[[], str], spin: Callable[[], None] | None = None) -> None:
    """Poll ``predicate`` (spinning ``spin`` between polls) until it holds; fail the test naming ``what``.

    ``what`` may be a callable, evaluated only on failure (e.g. to include a peer's log as it is then).
    """
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what() if callable(what) else what}")
        if spin is not None:
            spin()
        else:
            time.sleep(0.02)


@dataclass
class PeerProcess:
    """A node running in a subprocess, with its output captured to a log file."""

    name: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def assert_running(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"peer {self.name} exited with {self.process.returncode}; its log:\n{self.log()}")

    def stop(self, timeout_s: float = 5.0) -> int:
        """SIGINT the process group (like Ctrl-C), SIGKILL it if it does not exit in time."""
        return stop_process_group(self.process, timeout_s=timeout_s)


@dataclass
class PeerLauncher:
    """Starts Python scripts as ROS peers in the test run's domain and stops them all at teardown."""

    env: dict[str, str]
    log_dir: Path
    peers: list[PeerProcess] = field(default_factory=list)

    def start(self, script: str | Path, *args: str) -> PeerProcess:
        """Run a peer script (a path, or a file name in test/ros_peers/)."""
        script = Path(script) if Path(script).is_absolute() else PEERS_DIR / script
        return self._start(Path(script).stem, [str(script), *args])

    def start_module(self, module: str, *args: str) -> PeerProcess:
        """Run ``python -m module args`` (e.g. one of our nodes with ``--ros-args ...``)."""
        return self._start(module.rsplit(".", 1)[-1], ["-m", module, *args])

    def _start(self, stem: str, argv: list[str]) -> PeerProcess:
        name = f"{stem}-{len(self.peers)}"
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, *argv], env=self.env, stdout=log_file,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        peer = PeerProcess(name=name, process=process, log_path=log_path)
        self.peers.append(peer)
        return peer

    def stop_all(self) -> None:
        for peer in self.peers:
            peer.stop()


@pytest.fixture(scope="session")
def ros_domain() -> Iterator[int]:
    """This test run's ROS domain id; the isolation variables are set for this process and its children."""
    domain_id = 1 + os.getpid() % 200  # Fast DDS ports are valid for domains 0..232
    saved = {key: os.environ.get(key) for key in isolated_ros_environment(domain_id)}
    os.environ.update(isolated_ros_environment(domain_id))
    yield domain_id
    # nodes stopped by SIGKILL leave their shared-memory segments (RAM in /dev/shm): free them for the next run
    remove_stale_shm_segments(min_age_s=0.0)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def ros_node(ros_domain, request):
    """An rclpy node in its own context, in the isolated domain; shut down after the test."""
    import rclpy

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node(f"test_{request.node.name[:40].replace('[', '_').replace(']', '_')}".replace("-", "_"),
                             context=context)
    executor = rclpy.executors.SingleThreadedExecutor(context=context)
    executor.add_node(node)
    node.spin_once = lambda timeout_s=0.02: executor.spin_once(timeout_sec=timeout_s)  # type: ignore[attr-defined]
    yield node
    executor.shutdown()
    node.destroy_node()
    context.try_shutdown()


@pytest.fixture
def ros_peers(ros_domain, tmp_path) -> Iterator[PeerLauncher]:
    """Start peer processes with ``ros_peers.start('script.py', *args)``; all are stopped at teardown."""
    launcher = PeerLauncher(env={**os.environ}, log_dir=tmp_path)
    yield launcher
    launcher.stop_all()
