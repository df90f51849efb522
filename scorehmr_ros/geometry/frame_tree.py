"""A time-aware transform buffer (ROS-free): what the nodes need of tf2 where tf2_ros is not installed.

Every child frame has one parent edge (as in tf2). A static edge (``/tf_static``) holds one transform, valid
at all times; a dynamic edge (``/tf``) keeps its stamped history over ``cache_duration_s`` (tf2's default
cache is 10 s) behind its newest sample. ``lookup(target, source, stamp_ns)`` returns the (4, 4)
T_target_source that maps points in ``source`` into ``target`` (tf2's ``lookup_transform(target, source,
time)``), walking both frames up to their common ancestor and sampling every dynamic edge at the stamp (equation
numbered within this module only):
    (1) q(s) = slerp(q₀, q₁; s),  p(s) = (1 - s) p₀ + s p₁,  s = (stamp - stamp₀) / (stamp₁ - stamp₀)
between the samples that bracket the stamp. A stamp outside an edge's samples by more than
``extrapolation_tolerance_s`` raises :class:`ExtrapolationError` (tf2's ExtrapolationException); within the
tolerance the nearest sample holds. ``stamp_ns=None`` is tf2's "latest": every dynamic edge of the chain at the
newest stamp all of them have. A sample older than an edge's whole cache means the clock went back: that edge
starts afresh. Chains are cached until an edge is added or re-parented, and a chain of static
edges only is cached with its transform, so a fixed rig's lookups cost a dictionary access.
The buffer is safe to write from one thread while another reads.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from scorehmr_ros.geometry.transforms import (
    check_rigid_transform,
    invert_transform,
    make_transform,
    matrix_to_quaternion_xyzw,
    quaternion_xyzw_to_matrix,
    slerp_xyzw,
)

#: How long a dynamic edge's history reaches behind its newest sample (tf2's default cache time), seconds.
DEFAULT_CACHE_DURATION_S = 10.0
#: How far outside an edge's samples a lookup may hold the nearest sample instead of refusing, seconds.
DEFAULT_EXTRAPOLATION_TOLERANCE_S = 0.005


class FrameLookupError(LookupError):
    """No chain of transforms connects the two frames (yet), or the frames form a loop."""


class ExtrapolationError(FrameLookupError):
    """A dynamic edge has no samples around the requested stamp (tf2's ExtrapolationException).

    Attributes:
        future: True when the stamp is after the edge's newest sample (waiting for more /tf may help).
    """

    def __init__(self, message: str, *, future: bool) -> None:
        super().__init__(message)
        self.future = future


@dataclass
class _Edge:
    """One parent -> child edge: one sample when static, else the stamped history (stamps ascending)."""

    parent: str
    static: bool
    stamps_ns: list[int] = field(default_factory=list)
    quaternions_xyzw: list[np.ndarray] = field(default_factory=list)  # (4,) each
    translations_m: list[np.ndarray] = field(default_factory=list)  # (3,) each
    matrices: list[np.ndarray] = field(default_factory=list)  # (4, 4) T_parent_child each, as given

    def add(self, stamp_ns: int, T_parent_child: np.ndarray, cache_ns: int) -> None:
        if self.static:
            self.stamps_ns, self.matrices = [stamp_ns], [T_parent_child]
            return
        if self.stamps_ns and stamp_ns < self.stamps_ns[-1] - cache_ns:
            # older than the whole cache: the clock went back (a bag loop, a restarted driver); keeping the old
            # history would discard every new sample until time caught up, so the edge starts afresh
            self.stamps_ns, self.quaternions_xyzw, self.translations_m, self.matrices = [], [], [], []
        index = bisect.bisect_left(self.stamps_ns, stamp_ns)
        if index < len(self.stamps_ns) and self.stamps_ns[index] == stamp_ns:  # same stamp again: the newer wins
            del self.stamps_ns[index], self.quaternions_xyzw[index], self.translations_m[index], self.matrices[index]
        self.stamps_ns.insert(index, stamp_ns)
        self.quaternions_xyzw.insert(index, matrix_to_quaternion_xyzw(T_parent_child[:3, :3]))
        self.translations_m.insert(index, T_parent_child[:3, 3].copy())
        self.matrices.insert(index, T_parent_child)
        keep = bisect.bisect_left(self.stamps_ns, self.stamps_ns[-1] - cache_ns)
        if keep > 0:
            del self.stamps_ns[:keep], self.quaternions_xyzw[:keep], self.translations_m[:keep], self.matrices[:keep]

    def sample(self, stamp_ns: int, tolerance_ns: int, child: str) -> np.ndarray:
        """(4, 4) T_parent_child at ``stamp_ns`` (equation (1) above); ExtrapolationError outside the samples."""
        if self.static:
            return self.matrices[0]
        first, last = self.stamps_ns[0], self.stamps_ns[-1]
        if stamp_ns <= first or stamp_ns >= last:
            if stamp_ns < first - tolerance_ns or stamp_ns > last + tolerance_ns:
                direction = "before the oldest" if stamp_ns < first else "after the newest"
                raise ExtrapolationError(
                    f"transform {self.parent} -> {child}: stamp {stamp_ns} ns is {direction} sample (available "
                    f"{first} .. {last} ns, {(last - first) * 1e-9:.3f} s; tolerance {tolerance_ns * 1e-9:.3f} s): "
                    "would extrapolate", future=stamp_ns > last)
            return self.matrices[0] if stamp_ns <= first else self.matrices[-1]
        index = bisect.bisect_right(self.stamps_ns, stamp_ns)  # stamps[index - 1] <= stamp < stamps[index]
        before, after = self.stamps_ns[index - 1], self.stamps_ns[index]
        if stamp_ns == before:
            return self.matrices[index - 1]
        fraction = (stamp_ns - before) / (after - before)
        rotation = quaternion_xyzw_to_matrix(slerp_xyzw(self.quaternions_xyzw[index - 1],
                                                        self.quaternions_xyzw[index], fraction))
        translation = (1.0 - fraction) * self.translations_m[index - 1] + fraction * self.translations_m[index]
        return make_transform(rotation, translation)


@dataclass(frozen=True)
class _Chain:
    """How ``source`` reaches ``target``: the children whose edges lead from source up to the common ancestor,
    then those from target up to it (each edge is T_parent_child)."""

    up: tuple[str, ...]
    down: tuple[str, ...]


class FrameTree:
    """Stamped transform buffer over a tree of frames (module docstring)."""

    def __init__(self, *, cache_duration_s: float = DEFAULT_CACHE_DURATION_S,
                 extrapolation_tolerance_s: float = DEFAULT_EXTRAPOLATION_TOLERANCE_S) -> None:
        if not np.isfinite(cache_duration_s) or cache_duration_s <= 0:
            raise ValueError(f"cache_duration_s={cache_duration_s}: must be > 0 seconds")
        if not np.isfinite(extrapolation_tolerance_s) or extrapolation_tolerance_s < 0:
            raise ValueError(f"extrapolation_tolerance_s={extrapolation_tolerance_s}: must be >= 0 seconds")
        self.cache_ns = round(cache_duration_s * 1e9)
        self.tolerance_ns = round(extrapolation_tolerance_s * 1e9)
        self._edges: dict[str, _Edge] = {}
        self._chains: dict[tuple[str, str], _Chain] = {}  # cleared whenever the tree's shape changes
        self._static_results: dict[tuple[str, str], np.ndarray] = {}  # chains of static edges only
        self._newest_ns: int | None = None  # the newest dynamic stamp seen (set back when the clock goes back)
        self._next_prune_ns: int | None = None
        self._lock = threading.Lock()

    def set_transform(self, *, parent: str, child: str, T_parent_child: np.ndarray, stamp_ns: int,
                      static: bool = False) -> None:
        """Record ``child``'s pose in ``parent`` (a rigid (4, 4) transform) at ``stamp_ns``.

        static: True for ``/tf_static`` (valid at all times; replaces the edge). A dynamic sample joins the
        edge's history; a new parent, or a change between static and dynamic, starts the edge afresh.
        """
        if not parent or not child or parent == child:
            raise ValueError(f"transform needs two different, non-empty frames, got {parent!r} -> {child!r}")
        T = check_rigid_transform(T_parent_child, name=f"transform {parent} -> {child}")
        with self._lock:
            edge = self._edges.get(child)
            if edge is None or edge.parent != parent or edge.static != static:
                edge = self._edges[child] = _Edge(parent=parent, static=static)
                self._chains.clear()
                self._static_results.clear()
            elif static:
                self._static_results.clear()
            edge.add(int(stamp_ns), T, self.cache_ns)
            if not static:
                self._forget_stale_edges(int(stamp_ns))

    def _forget_stale_edges(self, stamp_ns: int) -> None:
        """Drop the dynamic edges with no sample within the cache duration of the newest stamp (every half cache
        duration). A lookup at a current stamp would refuse them anyway, and frames that stop being published
        (a tracked person's ``body_<id>`` on /tf, a robot that was unplugged) must not accumulate for ever: the
        buffer's memory is bounded by the frames alive in the last ``cache_duration_s``. Call with the lock."""
        if self._newest_ns is None or stamp_ns > self._newest_ns or stamp_ns < self._newest_ns - self.cache_ns:
            self._newest_ns = stamp_ns
        if self._next_prune_ns is not None and self._newest_ns < self._next_prune_ns:
            return
        self._next_prune_ns = self._newest_ns + self.cache_ns // 2
        stale = [child for child, edge in self._edges.items()
                 if not edge.static and edge.stamps_ns and edge.stamps_ns[-1] < self._newest_ns - self.cache_ns]
        for child in stale:
            del self._edges[child]
        if stale:
            self._chains.clear()
            self._static_results.clear()

    def clear(self) -> None:
        """Forget every transform (e.g. after the clock jumped back)."""
        with self._lock:
            self._edges.clear()
            self._chains.clear()
            self._static_results.clear()
            self._newest_ns = self._next_prune_ns = None

    def frames(self) -> set[str]:
        with self._lock:
            return set(self._edges) | {edge.parent for edge in self._edges.values()}

    def is_static(self, target: str, source: str) -> bool:
        """Whether the chain between the frames consists of static edges only (FrameLookupError: no chain)."""
        with self._lock:
            chain = self._chain(target, source)
            return all(self._edges[child].static for child in chain.up + chain.down)

    def lookup(self, target: str, source: str, stamp_ns: int | None = None) -> np.ndarray:
        """(4, 4) T_target_source at ``stamp_ns`` (None: the newest stamp every dynamic edge of the chain has).

        Raises:
            FrameLookupError: no chain between the frames, or a loop.
            ExtrapolationError: a dynamic edge of the chain has no samples around the stamp (beyond the
                tolerance); the message names the edge, the stamp and the available range.
        """
        if target == source:
            return np.eye(4)
        with self._lock:
            key = (target, source)
            cached = self._static_results.get(key)
            if cached is not None:
                return cached.copy()
            chain = self._chain(target, source)
            edges = [self._edges[child] for child in chain.up + chain.down]
            if stamp_ns is None:
                dynamic = [edge.stamps_ns[-1] for edge in edges if not edge.static]
                stamp_ns = min(dynamic) if dynamic else 0
            T_common_source = np.eye(4)
            for child in chain.up:
                T_common_source = self._edges[child].sample(stamp_ns, self.tolerance_ns, child) @ T_common_source
            T_common_target = np.eye(4)
            for child in chain.down:
                T_common_target = self._edges[child].sample(stamp_ns, self.tolerance_ns, child) @ T_common_target
            result = invert_transform(T_common_target) @ T_common_source
            if all(edge.static for edge in edges):
                self._static_results[key] = result.copy()
            return result

    # -- internals (called with the lock held) -------------------------------------------------
    def _chain_to_root(self, frame: str) -> list[str]:
        chain = [frame]
        while chain[-1] in self._edges:
            parent = self._edges[chain[-1]].parent
            if parent in chain:
                raise FrameLookupError(f"transform loop through {parent!r}")
            chain.append(parent)
        return chain

    def _chain(self, target: str, source: str) -> _Chain:
        chain = self._chains.get((target, source))
        if chain is not None:
            return chain
        target_chain, source_chain = self._chain_to_root(target), self._chain_to_root(source)
        common = next((frame for frame in source_chain if frame in target_chain), None)
        if common is None:
            known = ", ".join(sorted(set(self._edges) | {e.parent for e in self._edges.values()})) or "none"
            raise FrameLookupError(f"no transform chain between {target!r} and {source!r} (known frames: {known})")
        chain = _Chain(up=tuple(source_chain[:source_chain.index(common)]),
                       down=tuple(target_chain[:target_chain.index(common)]))
        self._chains[(target, source)] = chain
        return chain


def poses_at(tree: FrameTree, *, frames: Mapping[str, str], target: str,
             stamps_ns: Mapping[str, int]) -> dict[str, np.ndarray] | None:
    """name -> (4, 4) T_frame_target of each named frame at its stamp (e.g. each camera's optical frame against the
    world frame at its image stamp); None when every chain is static (the poses never change, nothing to look up).

    Raises:
        FrameLookupError: a frame has no chain to ``target``; ExtrapolationError: /tf does not cover a stamp.
    """
    if all(tree.is_static(frame, target) for frame in frames.values()):
        return None
    return {name: tree.lookup(frame, target, stamps_ns[name]) for name, frame in frames.items()}
