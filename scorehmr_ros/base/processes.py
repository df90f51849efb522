"""Child processes started in a process group of their own (nodes of the demo, peers of the tests)."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_process_group(process: subprocess.Popen, *, timeout_s: float) -> int | None:
    """Ctrl-C the process's group (SIGINT), SIGKILL it if it has not exited after ``timeout_s``; its exit status.

    The process must have been started with ``start_new_session=True`` (its pid is then its group id).
    """
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout_s)
        except ProcessLookupError:
            pass
    return process.returncode
