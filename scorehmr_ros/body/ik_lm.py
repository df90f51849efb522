"""Levenberg-Marquardt inverse kinematics with analytic Jacobians of the reduced body (torch, no autograd).

Minimises, batched over B bodies, the objective of the Adam solver of :mod:`scorehmr_ros.body.ik`:
    E = Σ_j w_j ρ(‖x_j(R, β) + τ - X_j‖²) + λ_θ Σ_{i≥1} ‖θ_i - θ0_i‖² + λ_β ‖β‖²,   ρ(s) = σ² s / (σ² + s)
over the global orientation R_0, the body joints' axis-angles θ_i (R_i = exp(θ_i), i = 1..23), the translation τ
and optionally the betas β. x_j are the OpenPose-25 points of :class:`~scorehmr_ros.body.keypoint_body.KeypointBody`.

Jacobians. A small rotation of joint i, R_i <- R_i exp([δ_i]×), turns everything below joint i about the world
axis ω = G_i δ_i through the joint's position p_i (G_i its world rotation), so any point y rigidly carried by
joint i's subtree moves by ω × (y - p_i):
    (1) ∂y/∂δ_i = -[y - p_i]× G_i
An SMPL joint p_j is carried by each ancestor i of j. A keypoint vertex v_k = Σ_j w_kj y_kj is a skinning blend of
points y_kj = G_j (ṽ_k - J_j) + p_j, each carried by joint j (ṽ_k the shaped, pose-corrected rest vertex), so
    (2) ∂v_k/∂δ_i = -[Y_ki - W_ki p_i]× G_i + B_k ∂ṽ_k/∂δ_i,  W_ki = Σ_{j under i} w_kj, Y_ki = Σ_{j under i} w_kj y_kj
with B_k = Σ_j w_kj G_j and ∂ṽ_k/∂δ_i the pose-blendshape term P_k vec(R_i [e_a]×). The body joints move by
their axis-angles: exp(θ + dθ) = exp(θ) exp(J_r(θ) dθ), J_r the right Jacobian of SO(3), so
    (3) ∂x/∂θ_i = ∂x/∂δ_i J_r(θ_i)
For fixed rotations the points are linear in β (the bones J_i - J_parent(i) and ṽ_k are):
    (4) ∂p_j/∂β = Σ_{i above j} G_parent(i) (S_i - S_parent(i)),   ∂v_k/∂β = B_k S_k + Σ_j w_kj (∂p_j/∂β - G_j S_j)

Each iteration: iteratively reweighted least squares for the Geman-McClure ρ (weight w_j ρ'(s_j) = w_j σ⁴/(σ²+s_j)²),
normal equations (B, n, n) with n = 75 (+ S for β), one batched Cholesky solve with Marquardt damping μ·diag(H);
each body keeps its step only where it lowers E (then μ shrinks; else μ grows). The world rotations of the chain
compose by pointer jumping (``keypoint_body.chain_world_rotations``, shared with the autograd path), the rest is
batched over bodies, joints and keypoints. The solver works in float64: the normal equations of a 75-parameter
chain lose digits in float32.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass

import torch

from scorehmr_ros.body.joint_counts import NUM_SMPL_JOINTS
from scorehmr_ros.body.keypoint_body import (
    KeypointBody,
    KinematicTree,
    chain_joints,
    chain_world_rotations,
    shape_offsets,
)
from scorehmr_ros.geometry.rotations import matrix_to_axis_angle

#: Marquardt damping: start, floor, and the factors applied after an accepted / refused step.
_DAMPING_START, _DAMPING_MIN, _DAMPING_DOWN, _DAMPING_UP = 1e-3, 1e-9, 1.0 / 3.0, 8.0
#: The solver stops when no body's step exceeds this (radians and metres).
_STEP_TOLERANCE = 1e-7
_DTYPE = torch.float64
_ROT = 3 * NUM_SMPL_JOINTS  # rotation columns: δ_0 (global orientation), then θ_1..θ_23


@dataclass(frozen=True)
class _Tables:
    """Constants of one body model, float64 (K keypoint vertices, S betas)."""

    tree: KinematicTree  # float64 (jumps, parents, not_root, below)
    parents: torch.Tensor  # (24,) long, parents[0] = 0 (masked by not_root where used)
    not_root: torch.Tensor  # (24, 1) 0 for the root
    below: torch.Tensor  # (24, 24) below[i, j] = 1 where j is i or a descendant of i
    joint_template: torch.Tensor  # (24, 3)
    joint_shapedirs: torch.Tensor  # (24, 3, S)
    vertex_template: torch.Tensor  # (K, 3)
    vertex_shapedirs: torch.Tensor  # (K, 3, S)
    vertex_posedirs: torch.Tensor  # (23, 9, K, 3): joint i >= 1, row-major entry of R_i - I, vertex, axis
    vertex_weights: torch.Tensor  # (K, 24)
    openpose_map: torch.Tensor  # (25,) rows of cat([24 joints, K vertices])
    openpose_joints: torch.Tensor  # (J',) the SMPL joints among the 25 points
    point_rows: torch.Tensor  # (25,) rows of cat([those J' joints, K vertices])
    weight_below: torch.Tensor  # (K, 24) W_ki = Σ_{j under i} w_kj
    weights_below: torch.Tensor  # (K, 24, 24) [k, i, j]: w_kj where j is under i, else 0


_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def body_tables(body: KeypointBody, dtype: torch.dtype = _DTYPE) -> _Tables:
    """The body's constants in ``dtype``, cached per body and dtype (rebuilt when a buffer is replaced or changed in
    place)."""
    buffers = (body.joint_template, body.joint_shapedirs, body.vertex_template, body.vertex_shapedirs,
               body.vertex_posedirs, body.vertex_weights, body.parents)
    key = tuple((b.data_ptr(), b._version, str(b.device)) for b in buffers)
    per_dtype = _TABLES.setdefault(body, {})
    cached = per_dtype.get(dtype)
    if cached is not None and cached[0] == key:
        return cached[1]
    device = body.joint_template.device
    tree = KinematicTree.from_parents(body.parents.tolist(), dtype=dtype, device=device)
    below = tree.below
    num_vertices = body.vertex_template.shape[0]
    openpose_map = body.openpose_map.tolist()
    joints_used = sorted({r for r in openpose_map if r < NUM_SMPL_JOINTS})
    row_of = {joint: row for row, joint in enumerate(joints_used)}
    point_rows = [row_of[r] if r < NUM_SMPL_JOINTS else len(joints_used) + r - NUM_SMPL_JOINTS for r in openpose_map]
    weights = body.vertex_weights.to(dtype)
    tables = _Tables(
        tree=tree,
        parents=tree.parents,
        not_root=tree.not_root,
        below=below,
        joint_template=body.joint_template.to(dtype),
        joint_shapedirs=body.joint_shapedirs.to(dtype),
        vertex_template=body.vertex_template.to(dtype),
        vertex_shapedirs=body.vertex_shapedirs.to(dtype),
        vertex_posedirs=body.vertex_posedirs.to(dtype).reshape(NUM_SMPL_JOINTS - 1, 9, num_vertices, 3),
        vertex_weights=weights,
        openpose_map=body.openpose_map,
        openpose_joints=torch.tensor(joints_used, device=device),
        point_rows=torch.tensor(point_rows, device=device),
        weight_below=weights @ below.T,
        weights_below=weights[:, None, :] * below[None],
    )
    per_dtype[dtype] = (key, tables)
    return tables


#: [e_a]× flattened row-major, one row per axis a: [v]× = Σ_a v_a [e_a]× is one product.
_GENERATORS = ((0, 0, 0, 0, 0, -1, 0, 1, 0), (0, 0, 1, 0, 0, 0, -1, 0, 0), (0, -1, 0, 1, 0, 0, 0, 0, 0))


@functools.lru_cache(maxsize=8)
def _generators(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(3, 9) :data:`_GENERATORS`, made once per dtype and device (no host copy per call)."""
    return torch.tensor(_GENERATORS, dtype=dtype, device=device)


def skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) the cross-product matrix [v]×, [v]× u = v × u."""
    return (v @ _generators(v.dtype, v.device)).reshape(*v.shape, 3)


def _angle_terms(v: torch.Tensor, small_at: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(..., 3) -> θ² (..., 1, 1), a mask of the small angles, and θ (1 where small, so √ has a finite gradient)."""
    angle_sq = (v * v).sum(-1)[..., None, None]
    small = angle_sq < small_at
    return angle_sq, small, torch.where(small, torch.ones_like(angle_sq), angle_sq).sqrt()


def exp_so3(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vectors (radians) -> (..., 3, 3), Rodrigues: I + sin θ/θ [v]× + (1 - cos θ)/θ² [v]×²."""
    angle_sq, small, angle = _angle_terms(v, 1e-8)
    a = torch.where(small, 1.0 - angle_sq / 6.0, torch.sin(angle) / angle)
    b = torch.where(small, 0.5 - angle_sq / 24.0, (1.0 - torch.cos(angle)) / angle_sq.clamp_min(1e-8))
    K = skew(v)
    return torch.eye(3, dtype=v.dtype, device=v.device) + a * K + b * (K @ K)


def right_jacobian(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vectors -> (..., 3, 3) J_r(v), exp(v + dv) = exp(v) exp(J_r(v) dv) to first order:
    I - (1 - cos θ)/θ² [v]× + (θ - sin θ)/θ³ [v]×²."""
    angle_sq, small, angle = _angle_terms(v, 1e-6)
    a = torch.where(small, 0.5 - angle_sq / 24.0, (1.0 - torch.cos(angle)) / angle_sq.clamp_min(1e-6))
    b = torch.where(small, 1.0 / 6.0 - angle_sq / 120.0, (angle - torch.sin(angle)) / (angle * angle * angle))
    K = skew(v)
    return torch.eye(3, dtype=v.dtype, device=v.device) - a * K + b * (K @ K)


def place_body(joints_m: torch.Tensor, points_m: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(B, 3) translation minimising Σ_j w_j ‖J_j + τ - X_j‖² (zero where no weight)."""
    w = weights[..., None]
    offset = (w * (torch.nan_to_num(points_m) - joints_m)).sum(dim=1) / w.sum(dim=1).clamp_min(1e-9)
    return torch.where(weights.sum(dim=1, keepdim=True) > 0, offset, torch.zeros_like(offset))


@dataclass(frozen=True)
class PosedChain:
    """Forward kinematics with what the Jacobians need (B bodies, K keypoint vertices, float64).

    Attributes:
        rotations: (B, 24, 3, 3) R_i, parent-relative (global orientation first).
        world_rotations: (B, 24, 3, 3) G_j.
        joints_m: (B, 24, 3) p_j, without the translation.
        carried_m: (B, K, 24, 3) y_kj = G_j (ṽ_k - J_j) + p_j, vertex k as carried by joint j.
        openpose_m: (B, 25, 3) OpenPose-25 points, with the translation.
    """

    rotations: torch.Tensor
    world_rotations: torch.Tensor
    joints_m: torch.Tensor
    carried_m: torch.Tensor
    openpose_m: torch.Tensor


def pose_chain(tables: _Tables, rotations: torch.Tensor, betas: torch.Tensor, transl_m: torch.Tensor) -> PosedChain:
    """The reduced body's equations (as ``KeypointBody.forward``) keeping the chain's intermediates.

    rotations (B, 24, 3, 3), betas (B, S), transl_m (B, 3), float64.
    """
    rest = tables.joint_template + shape_offsets(tables.joint_shapedirs, betas)
    eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
    world = chain_world_rotations(rotations, tables.tree)
    joints = chain_joints(world, rest, tables.tree)  # p_j: its bones, rotated, summed
    pose_feature = (rotations[:, 1:] - eye).flatten(2)
    batch = rotations.shape[0]
    vertices = (tables.vertex_template
                + shape_offsets(tables.vertex_shapedirs, betas)
                + (pose_feature.flatten(1) @ tables.vertex_posedirs.flatten(0, 1).flatten(1)).reshape(batch, -1, 3))
    # (B, K, 24, 3): each vertex carried rigidly by each joint
    carried = ((world[:, None] @ (vertices[:, :, None] - rest[:, None])[..., None])[..., 0] + joints[:, None])
    skinned = (tables.vertex_weights[:, None] @ carried)[:, :, 0]  # (B, K, 3)
    openpose = torch.cat([joints, skinned], dim=1)[:, tables.openpose_map] + transl_m[:, None]
    return PosedChain(rotations=rotations, world_rotations=world, joints_m=joints, carried_m=carried,
                      openpose_m=openpose)


def _levers(tables: _Tables, chain: PosedChain) -> tuple[torch.Tensor, torch.Tensor]:
    """Equations (1), (2): joint i moves every point it carries about p_i, by the lever Σ carried - (carried
    weight) p_i; returns the levers (B, J' + K, 24, 3) of the J' joint and K vertex rows, and the vertices' blended
    world rotations B_k (B, K, 3, 3)."""
    G, p, y = chain.world_rotations, chain.joints_m, chain.carried_m
    joint_rows = tables.openpose_joints
    joint_lever = tables.below.T[joint_rows][None, :, :, None] * (p[:, joint_rows, None] - p[:, None])
    vertex_lever = tables.weights_below @ y - tables.weight_below[None, :, :, None] * p[:, None]  # (B, K, 24, 3)
    blend = (tables.vertex_weights @ G.flatten(2)).reshape(G.shape[0], -1, 3, 3)
    return torch.cat([joint_lever, vertex_lever], dim=1), blend


def chain_vjp(tables: _Tables, chain: PosedChain, point_gradient: torch.Tensor) -> torch.Tensor:
    """gᵀ ∂X/∂(δ_0..δ_23, τ) for g (B, 25, 3) = ∂L/∂X of the OpenPose-25 points: (B, 75), the columns of
    :func:`chain_jacobian` without β contracted with g, without building the Jacobian (a gradient needs only this):
    rotations Σ_k (-[l_ki]ₓ G_i)ᵀ g_k = G_iᵀ Σ_k l_ki × g_k, plus for the vertices' pose blend shapes
    Σ_k (B_k ∂ṽ_k/∂δ_i)ᵀ g_k; translation Σ_k g_k."""
    R, G = chain.rotations, chain.world_rotations
    batch = G.shape[0]
    lever, blend = _levers(tables, chain)
    gradient = point_gradient.to(G.dtype)
    rows = torch.zeros(batch, lever.shape[1], 3, dtype=G.dtype, device=G.device).index_add_(1, tables.point_rows,
                                                                                           gradient)
    moments = torch.linalg.cross(lever, rows[:, :, None].expand_as(lever), dim=-1).sum(dim=1)  # (B, 24, 3)
    rotation = (G.transpose(-1, -2) @ moments[..., None])[..., 0]
    # blend shapes: with h_k = B_kᵀ g_k and the pose feature's derivative d_vec (B, 23, a, 9) of chain_jacobian,
    # Σ_k Σ_d h_kd Σ_f d_vec_iaf P_ifkd = Σ_f d_vec_iaf q_if,  q_if = Σ_kd P_ifkd h_kd
    eye = torch.eye(3, dtype=G.dtype, device=G.device)
    h = (blend.transpose(-1, -2) @ rows[:, tables.openpose_joints.shape[0]:, :, None])[..., 0]  # (B, K, 3)
    q = (tables.vertex_posedirs.flatten(2) @ h.flatten(1).T).permute(2, 0, 1)  # (B, 23, 9)
    d_vec = (R[:, 1:, None] @ skew(eye)[None, None]).flatten(3)  # (B, 23, a, 9)
    blend_term = (d_vec @ q[..., None])[..., 0]  # (B, 23, 3)
    rotation = torch.cat([rotation[:, :1], rotation[:, 1:] + blend_term], dim=1)
    return torch.cat([rotation.flatten(1), gradient.sum(dim=1)], dim=1)


def chain_jacobian(tables: _Tables, chain: PosedChain, num_betas: int,
                   pose: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 25, 3, 72 + 3 + S) ∂(OpenPose-25 points)/∂(rotations, τ, β), S = ``num_betas`` (0: no β columns).

    Rotation columns: δ_0..δ_23 of R_i <- R_i exp([δ_i]×) (equations (1), (2)); with ``pose`` (B, 23, 3), the
    axis-angles θ_1..θ_23 of the body joints instead of δ_1..δ_23 (equation (3)). β columns: equation (4).
    """
    R, G = chain.rotations, chain.world_rotations
    batch = G.shape[0]
    eye = torch.eye(3, dtype=G.dtype, device=G.device)
    w = tables.vertex_weights  # (K, 24)
    frames = G  # (B, 24, 3, 3): ∂/∂δ_i turns about G_i δ_i, ∂/∂θ_i about G_i J_r(θ_i) θ_i
    blend_generators = skew(eye)[None, None]  # (1, 1, a, 3, 3) [e_a]×, for vec(R_i [e_a]×)
    if pose is not None:
        right = right_jacobian(pose)  # (B, 23, 3, 3)
        frames = torch.cat([G[:, :1], G[:, 1:] @ right], dim=1)
        blend_generators = skew(right.transpose(-1, -2))  # (B, 23, c, 3, 3) [J_r e_c]×
    joint_rows = tables.openpose_joints
    lever, blend = _levers(tables, chain)
    # -[l]ₓ F column by column: F[:, c] × l (one cross product instead of a 3 x 3 product per point and joint)
    d_rot = torch.linalg.cross(frames.transpose(-1, -2)[:, None], lever[..., None, :],
                               dim=-1).transpose(-1, -2)  # (B, J' + K, 24, 3, 3)
    d_vec = (R[:, 1:, None] @ blend_generators).flatten(3)  # (B, 23, a, 9)
    num_vertices = tables.vertex_posedirs.shape[2]
    d_rest = (d_vec.transpose(0, 1).flatten(1, 2) @ tables.vertex_posedirs.flatten(2))  # (23, B a, K d)
    d_rest = d_rest.reshape(-1, batch, 3, num_vertices, 3).permute(1, 3, 0, 4, 2)  # (B, K, 23, 3, a)
    d_rot[:, joint_rows.shape[0]:, 1:] += blend[:, :, None] @ d_rest
    d_rot = d_rot[:, tables.point_rows]  # (B, 25, 24, 3, 3)
    columns = [d_rot.permute(0, 1, 3, 2, 4).reshape(batch, 25, 3, _ROT), eye.expand(batch, 25, 3, 3)]
    if num_betas:
        # (4) bones in their parents' world frames, summed down the chain
        shape_dirs = tables.joint_shapedirs[..., :num_betas]  # (24, 3, S)
        bone_dirs = shape_dirs - shape_dirs[tables.parents] * tables.not_root[..., None]
        parent_world = torch.cat([eye.expand(batch, 1, 3, 3), G[:, tables.parents[1:]]], dim=1)
        d_joints_b = torch.einsum("ij,bixy,iys->bjxs", tables.below, parent_world, bone_dirs)  # (B, 24, 3, S)
        d_vertices_b = (blend @ tables.vertex_shapedirs[..., :num_betas]
                        + torch.einsum("kj,bjxs->bkxs", w, d_joints_b - G @ shape_dirs))
        columns.append(torch.cat([d_joints_b, d_vertices_b], dim=1)[:, tables.openpose_map])
    return torch.cat(columns, dim=-1)


def _select(mask: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """(B,) bool mask -> ``new`` in its rows, ``old`` elsewhere."""
    return torch.where(mask.reshape(-1, *[1] * (old.dim() - 1)), new, old)


@dataclass(frozen=True)
class LMResult:
    """rotations (B, 24, 3, 3), betas (B, S), transl_m (B, 3), openpose_m (B, 25, 3) (with the translation), in
    the inputs' dtype; iterations: the iterations run (all bodies together)."""

    rotations: torch.Tensor
    betas: torch.Tensor
    transl_m: torch.Tensor
    openpose_m: torch.Tensor
    iterations: int


def solve_lm(body: KeypointBody, *, points_m: torch.Tensor, weights: torch.Tensor, rotations: torch.Tensor,
             betas: torch.Tensor, transl_m: torch.Tensor | None, iterations: int, sigma_m: float, pose_weight: float,
             betas_weight: float, optimize_betas: bool) -> LMResult:
    """Levenberg-Marquardt on the objective of the module docstring.

    Args:
        body: the reduced body model.
        points_m: (B, 25, 3) world points, finite (any value where the weight is 0), metres.
        weights: (B, 25) >= 0.
        rotations: (B, 24, 3, 3) start; joints 1-23 as axis-angles are also θ0 of the pose prior.
        betas: (B, S) start.
        transl_m: (B, 3) start; None: :func:`place_body` of the start pose.
        iterations: at most this many iterations (fewer once no body's step exceeds 1e-7).
        sigma_m, pose_weight, betas_weight, optimize_betas: as in :class:`~scorehmr_ros.body.ik.IKConfig`.
    """
    out_dtype = rotations.dtype
    tables = body_tables(body)
    points, weights = points_m.to(_DTYPE), weights.to(_DTYPE)
    orient, shape = rotations[:, 0].to(_DTYPE), betas.to(_DTYPE)
    batch, num_betas = shape.shape
    solved_betas = num_betas if optimize_betas else 0
    pose0 = matrix_to_axis_angle(rotations[:, 1:].to(_DTYPE))  # (B, 23, 3)
    pose = pose0
    sigma_sq = sigma_m**2

    def rotations_of(orient: torch.Tensor, orient_step: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        turned = exp_so3(torch.cat([orient_step[:, None], pose], dim=1))  # one batched exp for all 24
        return torch.cat([orient[:, None] @ turned[:, :1], turned[:, 1:]], dim=1)

    def energy(chain: PosedChain, pose: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        dist_sq = ((chain.openpose_m - points) ** 2).sum(-1)
        return ((weights * sigma_sq * dist_sq / (sigma_sq + dist_sq)).sum(-1)
                + pose_weight * ((pose - pose0) ** 2).sum((-1, -2)) + betas_weight * (shape**2).sum(-1))

    zero = torch.zeros(batch, 3, dtype=_DTYPE, device=points.device)
    chain = pose_chain(tables, rotations_of(orient, zero, pose), shape,
                       zero if transl_m is None else transl_m.to(_DTYPE))
    transl = place_body(chain.openpose_m, points, weights) if transl_m is None else transl_m.to(_DTYPE)
    if transl_m is None:
        chain = PosedChain(chain.rotations, chain.world_rotations, chain.joints_m, chain.carried_m,
                           chain.openpose_m + transl[:, None])
    cost = energy(chain, pose, shape)
    damping = torch.full((batch,), _DAMPING_START, dtype=_DTYPE, device=points.device)
    prior_diagonal = torch.zeros(_ROT + 3 + solved_betas, dtype=_DTYPE, device=points.device)
    prior_diagonal[3:_ROT] = pose_weight
    prior_diagonal[_ROT + 3:] = betas_weight
    done = 0
    while done < iterations:
        done += 1
        residual = (chain.openpose_m - points).flatten(1)  # (B, 75)
        dist_sq = (residual.reshape(batch, 25, 3) ** 2).sum(-1)
        irls = (weights * sigma_sq**2 / (sigma_sq + dist_sq) ** 2).repeat_interleave(3, dim=1)  # w_j ρ'(s_j)
        jac = chain_jacobian(tables, chain, solved_betas, pose).flatten(1, 2)  # (B, 75, n)
        weighted = jac.transpose(1, 2) * irls[:, None]
        hessian = weighted @ jac
        torch.diagonal(hessian, dim1=1, dim2=2).add_(prior_diagonal)
        prior_gradient = torch.cat([torch.zeros_like(zero), pose_weight * (pose - pose0).flatten(1), zero,
                                    betas_weight * shape[:, :solved_betas]], dim=1)
        gradient = (weighted @ residual[..., None])[..., 0] + prior_gradient
        diagonal = torch.diagonal(hessian, dim1=1, dim2=2)
        floor = 1e-9 * diagonal.amax(dim=1, keepdim=True).clamp_min(1e-12)
        factor, info = torch.linalg.cholesky_ex(hessian + torch.diag_embed(damping[:, None] * diagonal + floor))
        solvable = info == 0
        step = -torch.cholesky_solve(gradient[..., None], factor)[..., 0]
        step = torch.where(solvable[:, None], torch.nan_to_num(step), torch.zeros_like(step))
        trial_pose = pose + step[:, 3:_ROT].reshape(batch, NUM_SMPL_JOINTS - 1, 3)
        trial_transl = transl + step[:, _ROT:_ROT + 3]
        trial_shape = shape + step[:, _ROT + 3:] if solved_betas else shape
        trial = pose_chain(tables, rotations_of(orient, step[:, :3], trial_pose), trial_shape, trial_transl)
        trial_orient = trial.rotations[:, 0]
        trial_cost = energy(trial, trial_pose, trial_shape)
        accept = solvable & (trial_cost <= cost)
        damping = torch.where(accept, (damping * _DAMPING_DOWN).clamp_min(_DAMPING_MIN), damping * _DAMPING_UP)
        orient, pose, transl, shape, cost = (_select(accept, trial_orient, orient), _select(accept, trial_pose, pose),
                                             _select(accept, trial_transl, transl),
                                             _select(accept, trial_shape, shape), _select(accept, trial_cost, cost))
        chain = PosedChain(*(_select(accept, new, old) for new, old in zip(
            (trial.rotations, trial.world_rotations, trial.joints_m, trial.carried_m, trial.openpose_m),
            (chain.rotations, chain.world_rotations, chain.joints_m, chain.carried_m, chain.openpose_m), strict=True)))
        if bool((step.abs().amax(dim=1) <= _STEP_TOLERANCE).all()):  # one host read per iteration
            break
    return LMResult(rotations=chain.rotations.to(out_dtype), betas=shape.to(out_dtype),
                    transl_m=transl.to(out_dtype), openpose_m=chain.openpose_m.to(out_dtype), iterations=done)
