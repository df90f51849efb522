"""Calibrated multi-view guidance: one world-frame body reprojected into V calibrated cameras (torch).

"Multi-view" in this module's name means calibrated reprojection (known intrinsics and camera poses), not the
paper's uncalibrated multi-view consistency mode (E13 of docs/scorehmr-reference.md: pose agreement between views,
no cameras; ``FitConfig.multiview_guidance`` and :func:`~scorehmr_ros.fitting.guidance.multiview_consistency_loss`).

Equations, numbered within this module only (one function each):
    (1) x_c = R_v X + t_v;  x_n = (x_c / z_c) distorted by plumb-bob;  u = K_v [x_n; 1]         projection
    (2) L_b = Σ_v Σ_j (1000 / max(W_v, H_v))² c_bvj² Σ_{x,y} ρ_σ(u_bvj - û_bvj)                  robust reprojection
        (the official keypoint loss E12 of docs/scorehmr-reference.md, summed over calibrated views; c = 0 for missing
        joints, views that do not see the person, and points behind a camera)
    (3) A_p = Σ_t ‖X_{t-1} - 2 X_t + X_{t+1}‖²  over a person's window frames                     joint acceleration
    (4) image-conditioned score across views: the network sees the global orientation in camera v,
        G_v = R_v G. The 6D vector holds G's first two columns, which rotate linearly, so
        x_v = M_v x with M_v = diag(R_v, R_v, I); its noise prediction maps back as ε_v ↦ M_vᵀ ε_v and
        the views' predictions are averaged with the view weights: ε̂ = Σ_v w_v M_vᵀ f(M_v x, t, c_v).
A moving rig (cameras on a mobile base) gives each body row its own extrinsics: R_v, t_v of (1) above become
R_bv, t_bv, the cameras as they were at that row's stamp (:meth:`RigTensors.with_extrinsics`).
Shape letters: B bodies (people x frames), V views, J joints (see ``scorehmr_ros.core``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from scorehmr_ros.diffusion.denoiser import Denoiser
from scorehmr_ros.fitting.guidance import geman_mcclure
from scorehmr_ros.geometry.camera import PLUMB_BOB_SIZE, Camera

#: Depth below which a point counts as behind a camera (no guidance from that view), metres.
MIN_DEPTH_M = 0.05


class RigInputError(ValueError):
    """Camera arrays or keypoints of the wrong shape."""


@dataclass(frozen=True)
class RigTensors:
    """V calibrated cameras as float32 tensors.

    Attributes:
        K: (V, 3, 3) intrinsics, pixels.
        distortion: (V, 5) plumb-bob (k1, k2, p1, p2, k3); zeros for none.
        R_cam_world: (V, 3, 3) world -> camera rotations; (B, V, 3, 3) when every body row has its own camera
            poses (a moving rig, :meth:`with_extrinsics`).
        t_cam_world_m: (V, 3) world -> camera translations, metres; (B, V, 3) with per-row rotations.
        image_size_px: (V, 2) image sizes (W, H), pixels.
    """

    K: torch.Tensor
    distortion: torch.Tensor
    R_cam_world: torch.Tensor
    t_cam_world_m: torch.Tensor
    image_size_px: torch.Tensor
    #: row -> :meth:`cameras` (the tensors are never modified in place, so the Camera objects stay valid)
    _cameras: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    @functools.cached_property
    def has_distortion(self) -> bool:
        """Whether any camera has a non-zero plumb-bob coefficient (else the projection skips the distortion)."""
        return bool(self.distortion.any())

    @property
    def num_views(self) -> int:
        return int(self.K.shape[0])

    @property
    def per_row(self) -> bool:
        """True when the extrinsics are per body row, (B, V, ...)."""
        return self.R_cam_world.dim() == 4

    def with_extrinsics(self, *, R_cam_world, t_cam_world_m) -> RigTensors:
        """The same intrinsics with other camera poses: (V, 3, 3) and (V, 3) (one pose per camera), or
        (B, V, 3, 3) and (B, V, 3) (per body row, e.g. each window frame's cameras at its stamp); float32 on the
        intrinsics' device. Raises RigInputError naming a bad array."""
        views = self.num_views
        R = torch.as_tensor(R_cam_world, dtype=torch.float32, device=self.K.device)
        t = torch.as_tensor(t_cam_world_m, dtype=torch.float32, device=self.K.device)
        rows = tuple(R.shape[:-3]) if R.dim() in (3, 4) else None
        if rows is None or tuple(R.shape[-3:]) != (views, 3, 3) or tuple(t.shape) != (*rows, views, 3):
            raise RigInputError(f"R_cam_world, t_cam_world_m: expected ([B,] {views}, 3, 3) and ([B,] {views}, 3) "
                                f"with the V of K, got {tuple(R.shape)} and {tuple(t.shape)}")
        if not (torch.isfinite(R).all() and torch.isfinite(t).all()):
            raise RigInputError("R_cam_world, t_cam_world_m: contain NaN or infinite values")
        return RigTensors(K=self.K, distortion=self.distortion, R_cam_world=R, t_cam_world_m=t,
                          image_size_px=self.image_size_px)

    @classmethod
    def from_cameras(cls, cameras: Sequence[Camera], *, device: torch.device | str = "cpu") -> RigTensors:
        """From core cameras (``distortion_model`` none gives zero coefficients)."""
        if not cameras:
            raise RigInputError("cameras: need at least one camera")
        distortion = np.stack([c.distortion if c.distortion.size else np.zeros(PLUMB_BOB_SIZE) for c in cameras])
        return cls.from_arrays(K=np.stack([c.K for c in cameras]), distortion=distortion,
                               R_cam_world=np.stack([c.R_cam_world for c in cameras]),
                               t_cam_world_m=np.stack([c.t_cam_world_m for c in cameras]),
                               image_size_px=np.array([[c.width_px, c.height_px] for c in cameras]), device=device)

    @classmethod
    def from_arrays(cls, *, K, distortion, R_cam_world, t_cam_world_m, image_size_px,
                    device: torch.device | str = "cpu") -> RigTensors:
        """From arrays (V, 3, 3), (V, 5), (V, 3, 3), (V, 3), (V, 2); raises RigInputError naming a bad one."""
        arrays = {"K": K, "distortion": distortion, "R_cam_world": R_cam_world, "t_cam_world_m": t_cam_world_m,
                  "image_size_px": image_size_px}
        num_views = int(np.shape(K)[0]) if np.ndim(K) == 3 else -1
        tails = {"K": (3, 3), "distortion": (PLUMB_BOB_SIZE,), "R_cam_world": (3, 3), "t_cam_world_m": (3,),
                 "image_size_px": (2,)}
        tensors = {}
        for name, value in arrays.items():
            array = np.asarray(value, dtype=np.float64)
            if num_views < 1 or array.shape != (num_views, *tails[name]):
                raise RigInputError(f"{name}: expected shape (V, {', '.join(map(str, tails[name]))}) with the V of K, "
                                    f"got {array.shape}")
            if not np.all(np.isfinite(array)):
                raise RigInputError(f"{name}: contains NaN or infinite values")
            tensors[name] = torch.from_numpy(array).to(device=device, dtype=torch.float32)
        return cls(**tensors)

    def cameras(self, row: int | None = None) -> tuple[Camera, ...]:
        """The same rig as core :class:`Camera` objects (e.g. for triangulation); ``row``: the cameras of that
        body row (required with per-row extrinsics)."""
        if self.per_row == (row is None):
            raise RigInputError("cameras: give the body row exactly when the extrinsics are per row")
        if row not in self._cameras:
            self._cameras[row] = self._make_cameras(row)
        return self._cameras[row]

    def _make_cameras(self, row: int | None) -> tuple[Camera, ...]:
        R_cam_world = self.R_cam_world if row is None else self.R_cam_world[row]
        t_cam_world_m = self.t_cam_world_m if row is None else self.t_cam_world_m[row]
        out = []
        for v in range(self.num_views):
            dist = self.distortion[v].double().cpu().numpy()
            out.append(Camera(name=f"view{v}", K=self.K[v].double().cpu().numpy(),
                              width_px=int(round(float(self.image_size_px[v, 0]))),
                              height_px=int(round(float(self.image_size_px[v, 1]))),
                              R_cam_world=R_cam_world[v].double().cpu().numpy(),
                              t_cam_world_m=t_cam_world_m[v].double().cpu().numpy(),
                              distortion_model="plumb_bob" if np.any(dist) else "none",
                              distortion=dist if np.any(dist) else np.zeros(0)))
        return tuple(out)


def plumb_bob(xy: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """Plumb-bob distortion of (B, V, J, 2) normalized points with (V, 5) coefficients (Camera's equation)."""
    k1, k2, p1, p2, k3 = (coeffs[:, i].reshape(1, -1, 1) for i in range(PLUMB_BOB_SIZE))
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    return torch.stack([x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x),
                        y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y], dim=-1)


def world_to_cameras(points_world_m: torch.Tensor, rig: RigTensors) -> torch.Tensor:
    """x_c of equation (1) above: (B, J, 3) world points -> (B, V, J, 3) in every camera (each row's own cameras when
    the rig's extrinsics are per row)."""
    if rig.per_row:
        return points_world_m[:, None] @ rig.R_cam_world.transpose(-1, -2) + rig.t_cam_world_m[:, :, None]
    return points_world_m[:, None] @ rig.R_cam_world.transpose(-1, -2)[None] + rig.t_cam_world_m[None, :, None]


def row_rotations(rig: RigTensors) -> torch.Tensor:
    """R_cam_world broadcastable against (B, V, J, 3, 3): (1, V, 1, 3, 3), or (B, V, 1, 3, 3) per row."""
    return rig.R_cam_world[:, :, None] if rig.per_row else rig.R_cam_world[None, :, None]


def project_to_views(points_world_m: torch.Tensor, rig: RigTensors) -> tuple[torch.Tensor, torch.Tensor]:
    """Equation (1) above: (B, J, 3) world points -> pixels (B, V, J, 2) and camera depth (B, V, J), metres.

    Depth is clamped at MIN_DEPTH_M before the division, so points behind a camera give finite pixels;
    mask them with the returned depth.
    """
    pixels, depth, _ = _projection(points_world_m, rig)
    return pixels, depth


def _focal_px(rig: RigTensors) -> torch.Tensor:
    """(1, V, 1, 2) focal lengths (f_x, f_y), broadcastable against (B, V, J, 2)."""
    return torch.stack([rig.K[:, 0, 0], rig.K[:, 1, 1]], dim=-1)[None, :, None]


def _projection(points_world_m: torch.Tensor, rig: RigTensors) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Equation (1) above: pixels (B, V, J, 2), raw camera depth (B, V, J) and the undistorted normalized points
    x_n (B, V, J, 2) (depth clamped at MIN_DEPTH_M for the division)."""
    cam = world_to_cameras(points_world_m, rig)
    depth = cam[..., 2]
    normalized = cam[..., :2] / depth.clamp_min(MIN_DEPTH_M)[..., None]
    distorted = plumb_bob(normalized, rig.distortion) if rig.has_distortion else normalized
    return distorted * _focal_px(rig) + rig.K[:, :2, 2][None, :, None], depth, normalized


def reprojection_loss(points_world_m: torch.Tensor, keypoints_px: torch.Tensor, rig: RigTensors, *,
                      sigma_px: float, data_weight_px: float = 1000.0) -> torch.Tensor:
    """Equation (2) above: per-body robust reprojection loss over all views, (B,).

    Args:
        points_world_m: (B, J, 3) body joints, world frame, metres.
        keypoints_px: (B, V, J, 3) observed (x, y, confidence), pixels; confidence 0 = missing.
        rig: the V cameras.
        sigma_px: Geman-McClure scale, pixels.
        data_weight_px: numerator of the resolution weight (1000 / max(W, H))².
    """
    projected_px, depth = project_to_views(points_world_m, rig)
    conf = keypoints_px[..., 2] * (depth > MIN_DEPTH_M)  # (B, V, J)
    weight = (data_weight_px / rig.image_size_px.max(dim=-1).values) ** 2  # (V,)
    robust = geman_mcclure(projected_px - keypoints_px[..., :2], sigma=sigma_px).sum(dim=-1)  # (B, V, J)
    return (weight[None, :, None] * conf**2 * robust).sum(dim=(1, 2))


def acceleration_loss(joints_m: torch.Tensor, *, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Equation (3) above: (P, W, J, 3) joints over a window -> (P,) summed squared second differences, m².

    frame_mask: (P, W) bool; a second difference counts only where its three frames are all True.
    """
    if joints_m.shape[1] < 3:
        return joints_m.new_zeros(joints_m.shape[0])
    second = ((joints_m[:, :-2] - 2.0 * joints_m[:, 1:-1] + joints_m[:, 2:]) ** 2).sum(dim=(2, 3))  # (P, W-2)
    if frame_mask is not None:
        second = second * (frame_mask[:, :-2] & frame_mask[:, 1:-1] & frame_mask[:, 2:])
    return second.sum(dim=1)


def rotate_global_orient_6d(pose_6d: torch.Tensor, rotation: torch.Tensor) -> torch.Tensor:
    """M x of equation (4) above: (B, D) 6D poses with the first two 3-vectors (global orientation columns)
    premultiplied by (B, 3, 3) ``rotation``; the body joints are unchanged."""
    columns = pose_6d[:, :6].reshape(-1, 2, 3)  # (B, 2, 3): column 0, column 1 of G
    rotated = (columns @ rotation.transpose(-1, -2)).reshape(-1, 6)
    return torch.cat([rotated, pose_6d[:, 6:]], dim=1)


def view_combined_noise(denoiser: Denoiser, x_t: torch.Tensor, t_batch: torch.Tensor, *,
                        cond: torch.Tensor | None, view_weight: torch.Tensor | None,
                        R_cam_world: torch.Tensor | None) -> torch.Tensor:
    """ε̂ for world-frame x_t (B, D) at steps t_batch (B,).

    Unconditional denoiser (cond None): one call, ε̂ = f(x_t, t) (no view dependence).
    Image-conditioned: equation (4) above with cond (B, V, C) per view, view_weight (B, V) >= 0 (rows summing
    to 0 fall back to equal weights) and R_cam_world (V, 3, 3) or (B, V, 3, 3) (per row); one batched call over
    B x V rows.
    """
    if cond is None:
        return denoiser(x_t, t_batch, None)
    batch, num_views = cond.shape[:2]
    if R_cam_world is None or view_weight is None or tuple(view_weight.shape) != (batch, num_views):
        raise RigInputError("view_combined_noise: an image-conditioned denoiser needs view_weight (B, V) and "
                            "R_cam_world (V, 3, 3) or (B, V, 3, 3)")
    rotations = (R_cam_world if R_cam_world.dim() == 4 else R_cam_world[None]).expand(batch, -1, -1, -1)
    rotations = rotations.reshape(-1, 3, 3)  # (B V, 3, 3)
    x_views = rotate_global_orient_6d(x_t.repeat_interleave(num_views, dim=0), rotations)
    noise_views = denoiser(x_views, t_batch.repeat_interleave(num_views), cond.reshape(batch * num_views, -1))
    noise_world = rotate_global_orient_6d(noise_views, rotations.transpose(-1, -2)).reshape(batch, num_views, -1)
    total = view_weight.sum(dim=1, keepdim=True)
    weights = torch.where(total > 0, view_weight / total.clamp_min(1e-12), torch.full_like(view_weight, 1 / num_views))
    return (weights[..., None] * noise_world).sum(dim=1)


@dataclass(frozen=True)
class ReprojectionTerms:
    """Equation (2) above linearised at the current points, in one projection (no autograd).

    Attributes:
        jacobian: (B, V, J, 2, 3) ∂u/∂X: the pixel Jacobian of equation (1), plumb-bob distortion included,
            diag(f) ∂d/∂x_n ∂x_n/∂x_c R_v.
        scale: (B, V, J, 2) s = (1000 / max(W_v, H_v))² c² 2σ⁴ / (σ² + r²)², the IRLS weight of each pixel
            coordinate (r its residual), so that H = Σ_{v,j,r} s (J ∂X/∂ξ)ᵀ (J ∂X/∂ξ) is the Gauss-Newton Hessian
            for any parameters ξ of the points.
        gradient: (B, J, 3) the exact ∂L/∂X = Σ_{v,r} s r Jᵀ (ρ'(r) = 2σ⁴ r / (σ² + r²)²).
    """

    jacobian: torch.Tensor
    scale: torch.Tensor
    gradient: torch.Tensor


def plumb_bob_jacobian(xy: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """∂(plumb_bob)/∂(x, y) of (B, V, J, 2) normalized points with (V, 5) coefficients: (B, V, J, 2, 2)."""
    k1, k2, p1, p2, k3 = (coeffs[:, i].reshape(1, -1, 1) for i in range(PLUMB_BOB_SIZE))
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    d_radial = k1 + r2 * (2.0 * k2 + 3.0 * r2 * k3)  # ∂radial/∂r2
    cross = 2.0 * x * y * d_radial + 2.0 * p1 * x + 2.0 * p2 * y
    return torch.stack([torch.stack([radial + 2.0 * x * x * d_radial + 2.0 * p1 * y + 6.0 * p2 * x, cross], -1),
                        torch.stack([cross, radial + 2.0 * y * y * d_radial + 6.0 * p1 * y + 2.0 * p2 * x], -1)],
                       -2)


def reprojection_terms(points_world_m: torch.Tensor, keypoints_px: torch.Tensor, rig: RigTensors, *,
                       sigma_px: float, data_weight_px: float = 1000.0) -> ReprojectionTerms:
    """:class:`ReprojectionTerms` of equation (2) above for (B, J, 3) world points and (B, V, J, 3) keypoints."""
    with torch.no_grad():
        projected, depth_raw, normalized = _projection(points_world_m, rig)
        inverse = 1 / depth_raw.clamp_min(MIN_DEPTH_M)
        zeros = torch.zeros_like(inverse)
        d_normalized = torch.stack([torch.stack([inverse, zeros, -normalized[..., 0] * inverse], dim=-1),
                                    torch.stack([zeros, inverse, -normalized[..., 1] * inverse], dim=-1)], dim=-2)
        if rig.has_distortion:
            d_normalized = plumb_bob_jacobian(normalized, rig.distortion) @ d_normalized
        d_pixels = _focal_px(rig)[..., None] * d_normalized
        jacobian = d_pixels @ row_rotations(rig)  # (B, V, J, 2, 3)
        residual = projected - keypoints_px[..., :2]  # (B, V, J, 2)
        irls = 2 * sigma_px**4 / (sigma_px**2 + residual**2) ** 2
        conf = keypoints_px[..., 2] * (depth_raw > MIN_DEPTH_M)
        weight = (data_weight_px / rig.image_size_px.max(dim=-1).values) ** 2
        scale = weight[None, :, None, None] * conf[..., None] ** 2 * irls
        gradient = ((scale * residual)[..., None] * jacobian).sum(dim=(1, 3))  # (B, J, 3)
        return ReprojectionTerms(jacobian=jacobian, scale=scale, gradient=gradient)


def translation_hessian(points_world_m: torch.Tensor, keypoints_px: torch.Tensor, rig: RigTensors, *,
                        sigma_px: float, data_weight_px: float = 1000.0) -> torch.Tensor:
    """Gauss-Newton Hessian of equation (2) above with respect to the body translation, (B, 3, 3)
    (:func:`reprojection_terms` with ∂X/∂τ = I)."""
    terms = reprojection_terms(points_world_m, keypoints_px, rig, sigma_px=sigma_px, data_weight_px=data_weight_px)
    return gauss_newton_hessian(terms.scale, terms.jacobian)


def gauss_newton_hessian(scale: torch.Tensor, jacobian: torch.Tensor) -> torch.Tensor:
    """H = Σ_{v,j,r} s J_rᵀ J_r: (B, V, J, 2) weights and (B, V, J, 2, K) Jacobians -> (B, K, K)."""
    rows = jacobian.reshape(jacobian.shape[0], -1, jacobian.shape[-1])  # (B, V J 2, K)
    return (rows * scale.reshape(scale.shape[0], -1, 1)).transpose(1, 2) @ rows


def point_information(scale: torch.Tensor, jacobian: torch.Tensor) -> torch.Tensor:
    """A_j = Σ_{v,r} s J_rᵀ J_r per point: (B, V, J, 2) weights and (B, V, J, 2, 3) pixel Jacobians -> (B, J, 3, 3).
    Parameters that move point j by ∂X_j/∂ξ (3, K) then have H = Σ_j (∂X_j/∂ξ)ᵀ A_j ∂X_j/∂ξ, without the V
    per-view (2, K) blocks :func:`gauss_newton_hessian` would need."""
    return ((jacobian * scale[..., None]).transpose(-1, -2) @ jacobian).sum(dim=1)


def second_difference_gram(window: int, frame_mask: torch.Tensor | None) -> torch.Tensor:
    """(P, W, W) DᵀD of the masked second-difference operator of equation (3) above (zeros for W < 3)."""
    num = 1 if frame_mask is None else frame_mask.shape[0]
    if window < 3:
        return torch.zeros(num, window, window)
    D = torch.zeros(window - 2, window)
    for i in range(window - 2):
        D[i, i:i + 3] = torch.tensor([1.0, -2.0, 1.0])
    D = D.expand(num, -1, -1)
    if frame_mask is not None:
        keep = (frame_mask[:, :-2] & frame_mask[:, 1:-1] & frame_mask[:, 2:]).float()
        D = D * keep[..., None]
    return D.transpose(1, 2) @ D
