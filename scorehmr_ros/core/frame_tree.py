"""A small transform tree (ROS-free): what the nodes need of tf2 where tf2_ros is not installed.

It keeps the latest transform of every parent -> child edge (static or not) and answers
``lookup(target, source)``: the (4, 4) transform that maps points in ``source`` into ``target``
(tf2's ``lookup_transform(target, source)``), by walking the tree through the common ancestor.
Camera extrinsics of a fixed rig are static, so the latest value is the right one; this is
not a time-interpolating buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scorehmr_ros.core.transforms import check_rigid_transform, invert_transform


class FrameLookupError(LookupError):
    """No chain of transforms connects the two frames (yet)."""


@dataclass(frozen=True)
class _Edge:
    parent: str
    T_parent_child: np.ndarray
    stamp_ns: int


class FrameTree:
    """Latest transform per child frame; each child has one parent (as in tf2)."""

    def __init__(self) -> None:
        self._edges: dict[str, _Edge] = {}

    def set_transform(self, *, parent: str, child: str, T_parent_child: np.ndarray, stamp_ns: int) -> None:
        """Record ``child``'s pose in ``parent`` (a rigid (4, 4) transform)."""
        if not parent or not child or parent == child:
            raise ValueError(f"transform needs two different, non-empty frames, got {parent!r} -> {child!r}")
        T = check_rigid_transform(T_parent_child, name=f"transform {parent} -> {child}")
        self._edges[child] = _Edge(parent, T, int(stamp_ns))

    def frames(self) -> set[str]:
        return set(self._edges) | {edge.parent for edge in self._edges.values()}

    def _chain_to_root(self, frame: str) -> list[str]:
        chain = [frame]
        while chain[-1] in self._edges:
            parent = self._edges[chain[-1]].parent
            if parent in chain:
                raise FrameLookupError(f"transform loop through {parent!r}")
            chain.append(parent)
        return chain

    def _T_ancestor_frame(self, chain: list[str], ancestor: str) -> np.ndarray:
        """Transform from chain[0] up to ``ancestor`` (a member of ``chain``)."""
        T = np.eye(4)
        for frame in chain[:chain.index(ancestor)]:
            T = self._edges[frame].T_parent_child @ T
        return T

    def lookup(self, target: str, source: str) -> np.ndarray:
        """(4, 4) T_target_source: maps points in ``source`` coordinates into ``target`` coordinates."""
        if target == source:
            return np.eye(4)
        target_chain, source_chain = self._chain_to_root(target), self._chain_to_root(source)
        common = next((frame for frame in source_chain if frame in target_chain), None)
        if common is None:
            known = ", ".join(sorted(self.frames())) or "none"
            raise FrameLookupError(f"no transform chain between {target!r} and {source!r} (known frames: {known})")
        T_common_source = self._T_ancestor_frame(source_chain, common)
        T_common_target = self._T_ancestor_frame(target_chain, common)
        return invert_transform(T_common_target) @ T_common_source
