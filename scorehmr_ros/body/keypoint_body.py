"""The body model reduced to what guides: 24 SMPL joints and the OpenPose-25 keypoints, no full mesh.

The OpenPose-25 joints of the official layout are 14 SMPL joints and 11 mesh vertices (nose, eyes, ears,
toes, heels; :data:`~scorehmr_ros.body.body_model.KEYPOINT_VERTEX_IDS`). This module computes exactly
those, with the same equations as :class:`~scorehmr_ros.body.body_model.BodyModel` (smplx LBS), numbered
within this module only:
    (1) J(β) = J̄ + S_J β                    rest joints: the joint regressor applied to template and shape
                                             directions once, at construction (24 x 3 x 10 numbers)
    (2) v_k(β, θ) = v̄_k + S_k β + P_k (R(θ) - I)    only the K = 11 keypoint vertices
    (3) G_j = G_parent(j) R_j,  p_j = Σ_{i on the path root..j} G_parent(i) (J_i - J_parent(i))
                                             forward kinematics (G_parent(root) = I, J_parent(root) = 0)
    (4) v_k' = Σ_j w_kj (G_j (v_k - J_j) + p_j)    skinning of those K vertices only
so a forward and backward pass costs a few hundred multiply-adds per vertex for 11 vertices instead
of 6890. Agreement with the full model is tested. The chain products of (3) are composed by pointer jumping
(:func:`chain_world_rotations`: ⌈log₂ 9⌉ = 4 batched products for SMPL's 9 levels instead of 23 sequential
ones) and the joints are one masked sum: the forward and backward passes are a handful of batched ops, which is
what the per-set fitter's autograd steps pay for.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from scorehmr_ros.body.body_model import (
    KEYPOINT_VERTEX_IDS,
    SMPL_TO_OPENPOSE,
    BodyModel,
)
from scorehmr_ros.body.joint_counts import NUM_SMPL_JOINTS

#: Vertex keypoints the OpenPose-25 map uses (indices >= 24 of SMPL_TO_OPENPOSE minus 24).
_OPENPOSE_VERTEX_SLOTS = sorted({i - NUM_SMPL_JOINTS for i in SMPL_TO_OPENPOSE if i >= NUM_SMPL_JOINTS})


class KeypointBodyInputError(ValueError):
    """Inputs of a wrong shape."""


@dataclass(frozen=True)
class KinematicTree:
    """The 24-joint tree as batched forward kinematics needs it.

    Attributes:
        jumps: (L, 25) long; row k maps joint j to its 2^k-th ancestor (25th row, index 24: the identity above
            the root).
        parents: (24,) long, the root's entry 0 (masked by ``not_root``).
        not_root: (24, 1) 0 for the root, 1 elsewhere.
        below: (24, 24) below[i, j] = 1 where j is i or a descendant of i.
    """

    jumps: torch.Tensor
    parents: torch.Tensor
    not_root: torch.Tensor
    below: torch.Tensor

    @classmethod
    def from_parents(cls, parents: list[int], *, dtype: torch.dtype = torch.float32,
                     device: torch.device | None = None) -> KinematicTree:
        """``parents`` (24,) with each parent before its child (the root's entry is ignored)."""
        below = torch.eye(NUM_SMPL_JOINTS, dtype=dtype)
        for joint in range(1, NUM_SMPL_JOINTS):
            ancestor = joint
            while ancestor != 0:
                ancestor = parents[ancestor]
                below[ancestor, joint] = 1.0
        ancestor_of = [NUM_SMPL_JOINTS] + list(parents[1:]) + [NUM_SMPL_JOINTS]
        jumps = []
        while any(a != NUM_SMPL_JOINTS for a in ancestor_of[:NUM_SMPL_JOINTS]):
            jumps.append(ancestor_of)
            ancestor_of = [ancestor_of[a] for a in ancestor_of]
        not_root = (torch.arange(NUM_SMPL_JOINTS) > 0).to(dtype)[:, None]
        return cls(jumps=torch.tensor(jumps, device=device),
                   parents=torch.tensor([0] + list(parents[1:]), device=device),
                   not_root=not_root.to(device), below=below.to(device))


def chain_world_rotations(rotations: torch.Tensor, tree: KinematicTree) -> torch.Tensor:
    """G of equation (3) above: (B, 24, 3, 3) parent-relative rotations -> (B, 24, 3, 3) world rotations.

    Pointer jumping: after step k, row j holds the product of its 2^(k+1) nearest rotations up the chain.
    """
    eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device).expand(rotations.shape[0], 1, 3, 3)
    world = torch.cat([rotations, eye], dim=1)  # (B, 25, 3, 3), row 24: identity
    for jump in tree.jumps:
        world = world[:, jump] @ world
    return world[:, :NUM_SMPL_JOINTS]


def shape_offsets(shapedirs: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """Σ_s β_s S_s: (N, 3, S_max) shape directions and (B, S) betas (S <= S_max) -> (B, N, 3)."""
    num_betas = betas.shape[1]
    directions = shapedirs[..., :num_betas].reshape(-1, num_betas)  # (N 3, S)
    return (betas @ directions.T).reshape(betas.shape[0], -1, 3)


def chain_joints(world_rotations: torch.Tensor, rest_joints: torch.Tensor, tree: KinematicTree) -> torch.Tensor:
    """p of equation (3) above: world rotations (B, 24, 3, 3) and rest joints (B, 24, 3) -> posed joints (B, 24, 3),
    the root at its rest position."""
    bones = rest_joints - rest_joints[:, tree.parents] * tree.not_root  # the root's "bone" is its rest position
    eye = torch.eye(3, dtype=world_rotations.dtype, device=world_rotations.device)
    parent_world = torch.cat([eye.expand(world_rotations.shape[0], 1, 3, 3),
                              world_rotations[:, tree.parents[1:]]], dim=1)
    rotated_bones = (parent_world @ bones[..., None])[..., 0]  # (B, 24, 3)
    return tree.below.to(rotated_bones.dtype).T @ rotated_bones  # p_j = Σ_{i at or above j} rotated bone i


@dataclass(frozen=True)
class KeypointJoints:
    """Posed joints, world frame when a translation is given.

    Attributes:
        openpose_m: (B, 25, 3) OpenPose-25 joints of the official layout, metres.
        smpl_joints_m: (B, 24, 3) SMPL joints, metres.
    """

    openpose_m: torch.Tensor
    smpl_joints_m: torch.Tensor


class KeypointBody(torch.nn.Module):
    """OpenPose-25 + SMPL-24 joints from rotations and shape, without full-mesh skinning."""

    def __init__(self, body_model: BodyModel) -> None:
        super().__init__()
        vertex_ids = body_model.keypoint_vertex_ids[_OPENPOSE_VERTEX_SLOTS]  # (K,)
        J_regressor = body_model.J_regressor.double()  # (24, N)
        shapedirs = body_model.shapedirs.double()  # (N, 3, S)
        num_vertices = shapedirs.shape[0]
        posedirs = body_model.posedirs.double().reshape(-1, num_vertices, 3)  # (207, N, 3)

        def buffer(value: torch.Tensor) -> torch.Tensor:
            return value.to(torch.float32).contiguous()

        self.num_betas = int(shapedirs.shape[-1])
        self.register_buffer("joint_template", buffer(J_regressor @ body_model.v_template.double()))  # (24, 3)
        self.register_buffer("joint_shapedirs", buffer(torch.einsum("jn,nds->jds", J_regressor, shapedirs)))
        self.register_buffer("vertex_template", buffer(body_model.v_template.double()[vertex_ids]))  # (K, 3)
        self.register_buffer("vertex_shapedirs", buffer(shapedirs[vertex_ids]))  # (K, 3, S)
        self.register_buffer("vertex_posedirs", buffer(posedirs[:, vertex_ids].reshape(posedirs.shape[0], -1)))
        self.register_buffer("vertex_weights", buffer(body_model.lbs_weights.double()[vertex_ids]))  # (K, 24)
        self.register_buffer("parents", body_model.parents.clone())
        tree = KinematicTree.from_parents(body_model.parents.tolist())
        self.register_buffer("tree_jumps", tree.jumps)
        self.register_buffer("tree_parents", tree.parents)
        self.register_buffer("tree_not_root", tree.not_root)
        self.register_buffer("tree_below", tree.below)
        # 45-slot index -> rows of cat([smpl joints (24), keypoint vertices (K)])
        slot_of = {s: NUM_SMPL_JOINTS + k for k, s in enumerate(_OPENPOSE_VERTEX_SLOTS)}
        op_map = [i if i < NUM_SMPL_JOINTS else slot_of[i - NUM_SMPL_JOINTS] for i in SMPL_TO_OPENPOSE]
        self.register_buffer("openpose_map", torch.tensor(op_map, dtype=torch.long))  # (25,)
        self.vertex_names = tuple(KEYPOINT_VERTEX_IDS[s][0] for s in _OPENPOSE_VERTEX_SLOTS)

    @property
    def tree(self) -> KinematicTree:
        """The kinematic tree, on the module's device."""
        return KinematicTree(jumps=self.tree_jumps, parents=self.tree_parents, not_root=self.tree_not_root,
                             below=self.tree_below)

    def rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        """Equation (1) above: (B, S) betas -> (B, 24, 3) rest-pose joints, metres."""
        return self.joint_template + shape_offsets(self.joint_shapedirs, betas)

    def forward(self, *, rotations: torch.Tensor, betas: torch.Tensor,
                transl_m: torch.Tensor | None = None) -> KeypointJoints:
        """Pose the reduced body.

        Args:
            rotations: (B, 24, 3, 3) global orientation then the 23 body joints (parent-relative).
            betas: (B, S) shape, S <= the model's.
            transl_m: (B, 3) translation, metres (None: zero).
        """
        batch = rotations.shape[0]
        if rotations.dim() != 4 or tuple(rotations.shape[1:]) != (NUM_SMPL_JOINTS, 3, 3):
            raise KeypointBodyInputError(f"rotations: expected shape (B, 24, 3, 3), got {tuple(rotations.shape)}")
        if betas.dim() != 2 or betas.shape[0] != batch or not 1 <= betas.shape[1] <= self.num_betas:
            raise KeypointBodyInputError(f"betas: expected shape ({batch}, S<={self.num_betas}), "
                                         f"got {tuple(betas.shape)}")
        if transl_m is not None and tuple(transl_m.shape) != (batch, 3):
            raise KeypointBodyInputError(f"transl_m: expected shape ({batch}, 3), got {tuple(transl_m.shape)}")
        joints_rest = self.rest_joints(betas)  # (B, 24, 3)
        eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
        pose_feature = (rotations[:, 1:] - eye).reshape(batch, -1)  # (B, 207)
        vertices = (self.vertex_template + shape_offsets(self.vertex_shapedirs, betas)
                    + (pose_feature @ self.vertex_posedirs).reshape(batch, -1, 3))  # (B, K, 3), eq. (2)
        tree = self.tree
        world = chain_world_rotations(rotations, tree)  # eq. (3)
        posed_joints = chain_joints(world, joints_rest, tree)
        offsets = posed_joints - (world @ joints_rest[..., None])[..., 0]  # (B, 24, 3): p_j - G_j J_j
        blended_rotation = (self.vertex_weights @ world.reshape(batch, NUM_SMPL_JOINTS, 9)).reshape(batch, -1, 3, 3)
        blended_offset = self.vertex_weights @ offsets  # (B, K, 3, 3) and (B, K, 3), eq. (4)
        vertices = (blended_rotation @ vertices[..., None])[..., 0] + blended_offset
        joints = torch.cat([posed_joints, vertices], dim=1)[:, self.openpose_map]  # (B, 25, 3)
        if transl_m is not None:
            joints = joints + transl_m[:, None]
            posed_joints = posed_joints + transl_m[:, None]
        return KeypointJoints(openpose_m=joints, smpl_joints_m=posed_joints)

