"""The body model reduced to what guides: 24 SMPL joints and the OpenPose-25 keypoints, no full mesh.

The OpenPose-25 joints of the official layout are 14 SMPL joints and 11 mesh vertices (nose, eyes, ears,
toes, heels; :data:`~scorehmr_ros.body.body_model.KEYPOINT_VERTEX_IDS`). This module computes exactly
those, with the same equations as :class:`~scorehmr_ros.body.body_model.BodyModel` (smplx LBS), numbered
within this module only:
    (1) J(β) = J̄ + S_J β                    rest joints: the joint regressor applied to template and shape
                                             directions once, at construction (24 x 3 x 10 numbers)
    (2) v_k(β, θ) = v̄_k + S_k β + P_k (R(θ) - I)    only the K = 11 keypoint vertices
    (3) forward kinematics of the 24 joints (smplx ``batch_rigid_transform``)
    (4) v_k' = Σ_j w_kj A_j [v_k; 1]         skinning of those K vertices only
so a forward and backward pass costs a few hundred multiply-adds per vertex for 11 vertices instead
of 6890. Agreement with the full model is tested.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from smplx.lbs import batch_rigid_transform

from scorehmr_ros.body.body_model import (
    KEYPOINT_VERTEX_IDS,
    NUM_SMPL_JOINTS,
    SMPL_TO_OPENPOSE,
    BodyModel,
)

#: Vertex keypoints the OpenPose-25 map uses (indices >= 24 of SMPL_TO_OPENPOSE minus 24).
_OPENPOSE_VERTEX_SLOTS = sorted({i - NUM_SMPL_JOINTS for i in SMPL_TO_OPENPOSE if i >= NUM_SMPL_JOINTS})


class KeypointBodyInputError(ValueError):
    """Inputs of a wrong shape."""


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
        # 45-slot index -> rows of cat([smpl joints (24), keypoint vertices (K)])
        slot_of = {s: NUM_SMPL_JOINTS + k for k, s in enumerate(_OPENPOSE_VERTEX_SLOTS)}
        op_map = [i if i < NUM_SMPL_JOINTS else slot_of[i - NUM_SMPL_JOINTS] for i in SMPL_TO_OPENPOSE]
        self.register_buffer("openpose_map", torch.tensor(op_map, dtype=torch.long))  # (25,)
        self.vertex_names = tuple(KEYPOINT_VERTEX_IDS[s][0] for s in _OPENPOSE_VERTEX_SLOTS)

    def rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        """Equation (1) above: (B, S) betas -> (B, 24, 3) rest-pose joints, metres."""
        return self.joint_template + torch.einsum("jds,bs->bjd", self.joint_shapedirs[..., : betas.shape[1]], betas)

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
        num_betas = betas.shape[1]
        joints_rest = self.rest_joints(betas)  # (B, 24, 3)
        eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
        pose_feature = (rotations[:, 1:] - eye).reshape(batch, -1)  # (B, 207)
        vertices = (self.vertex_template + torch.einsum("kds,bs->bkd", self.vertex_shapedirs[..., :num_betas], betas)
                    + (pose_feature @ self.vertex_posedirs).reshape(batch, -1, 3))  # (B, K, 3), eq. (2)
        posed_joints, transforms = batch_rigid_transform(rotations, joints_rest, self.parents,
                                                         dtype=rotations.dtype)  # eq. (3)
        blended = torch.einsum("kj,bjxy->bkxy", self.vertex_weights, transforms)  # (B, K, 4, 4), eq. (4)
        vertices = (blended[..., :3, :3] @ vertices[..., None])[..., 0] + blended[..., :3, 3]
        joints = torch.cat([posed_joints, vertices], dim=1)[:, self.openpose_map]  # (B, 25, 3)
        if transl_m is not None:
            joints = joints + transl_m[:, None]
            posed_joints = posed_joints + transl_m[:, None]
        return KeypointJoints(openpose_m=joints, smpl_joints_m=posed_joints)

