"""A worker thread with a bounded queue: heavy processing never blocks message intake.

When the queue is full the oldest waiting item is dropped (and counted), so the node always
works on the freshest data and its latency stays bounded.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import cv2

Item = TypeVar("Item")

#: Failures of one item that must not stop the worker: bad data (ValueError, LookupError), a
#: runtime's failure on it (RuntimeError: torch, ONNX Runtime, TFLite, rclpy's RCLError; cv2.error: OpenCV,
#: which derives from Exception only), numerics (ArithmeticError). Anything else is a bug and ends the thread
#: with its traceback.
PROCESSING_ERRORS = (ValueError, LookupError, RuntimeError, ArithmeticError, cv2.error)


class DropOldestWorker(Generic[Item]):
    """Runs ``process(item)`` on a background thread for each submitted item."""

    def __init__(self, process: Callable[[Item], None], *, capacity: int, name: str,
                 on_error: Callable[[Exception], None]) -> None:
        self._process = process
        self._on_error = on_error
        self._queue: deque[Item] = deque()
        self._capacity = capacity
        self._condition = threading.Condition()
        self._stopping = False
        self.dropped = 0
        self.processed = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Item) -> None:
        with self._condition:
            if len(self._queue) >= self._capacity:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(item)
            self._condition.notify()

    def pending(self) -> int:
        with self._condition:
            return len(self._queue)

    def discard_pending(self) -> int:
        """Drop every item not started yet (a deactivated node processes nothing new); return how many."""
        with self._condition:
            count = len(self._queue)
            self._queue.clear()
            return count

    def stop(self, timeout_s: float = 5.0) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    return
                item = self._queue.popleft()
            try:
                self._process(item)
            except PROCESSING_ERRORS as error:  # a bad set is dropped; the worker goes on
                self._on_error(error)
            else:
                self.processed += 1
