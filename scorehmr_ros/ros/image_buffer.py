"""The last few images of each camera, found again by stamp (no ROS types: the node stores messages here).

The scorehmr node with an image-conditioned prior receives each camera's images on the intake thread and the
keypoint sets later on the worker thread; a set's views name the stamp of the image their keypoints came from
(``image_stamp_ns``), and :meth:`StampedBuffer.match` finds those images again. The standalone
keypoint_estimator finds the images of each detection set the same way (exact stamps).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")


@dataclass(frozen=True)
class Match(Generic[Item]):
    """found: camera -> the item stamped within the tolerance of the request; missing: (camera, requested stamp,
    newest buffered stamp or None) for each request without one."""

    found: dict[str, Item]
    missing: tuple[tuple[str, int, int | None], ...]


class StampedBuffer(Generic[Item]):
    """Per camera, the ``capacity`` most recent (stamp_ns, item) pairs; safe to add and match from two threads."""

    def __init__(self, cameras: Iterable[str], *, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity={capacity}: must be >= 1")
        self._items: dict[str, deque[tuple[int, Item]]] = {camera: deque(maxlen=capacity) for camera in cameras}
        self._lock = threading.Lock()

    def add(self, camera: str, stamp_ns: int, item: Item) -> None:
        """Keep ``item`` as the camera's image at ``stamp_ns`` (the oldest one goes when full).

        A camera's images come in stamp order; a stamp before its newest one starts a new time line (a bag
        loop, a restarted driver), so the camera's older items go: a replayed stamp must find the new image.
        """
        if camera not in self._items:
            raise KeyError(f"camera {camera!r} is not buffered ({', '.join(self._items)})")
        with self._lock:
            items = self._items[camera]
            if items and int(stamp_ns) < items[-1][0]:
                items.clear()
            items.append((int(stamp_ns), item))

    def lookup(self, camera: str, stamp_ns: int, *, tolerance_ns: int) -> Item | None:
        """The camera's item whose stamp is nearest to ``stamp_ns``, if within ``tolerance_ns``; else None."""
        with self._lock:
            entries = list(self._items.get(camera, ()))
        best = min(entries, key=lambda entry: abs(entry[0] - stamp_ns), default=None)
        return best[1] if best is not None and abs(best[0] - stamp_ns) <= tolerance_ns else None

    def newest_stamp_ns(self, camera: str) -> int | None:
        with self._lock:
            entries = self._items.get(camera)
            return entries[-1][0] if entries else None

    def match(self, requests: Sequence[tuple[str, int]], *, tolerance_ns: int) -> Match[Item]:
        """Items for (camera, image stamp) requests, e.g. the views of one keypoint set."""
        found, missing = {}, []
        for camera, stamp_ns in requests:
            item = self.lookup(camera, stamp_ns, tolerance_ns=tolerance_ns)
            if item is None:
                missing.append((camera, int(stamp_ns), self.newest_stamp_ns(camera)))
            else:
                found[camera] = item
        return Match(found=found, missing=tuple(missing))
