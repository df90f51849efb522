"""Pinhole projection and the crop-to-full-image camera of the official code (torch).

Conventions (docs/scorehmr-reference.md §7): OpenCV-style camera, x right, y down,
z forward; the single-image mode uses f = 5000 px for the full image whatever its size and
the principal point at the image centre. Image sizes are (W, H).
"""

from __future__ import annotations

import torch

from scorehmr_ros.base.arrays import check_shape

#: Focal length of the official single-image mode, pixels, for the full image.
OFFICIAL_FOCAL_LENGTH_PX = 5000.0
#: Added to b·s in ``cam_crop_to_full`` (official value) so a zero scale does not divide by zero.
CROP_SCALE_EPS = 1e-9


class ProjectionShapeError(ValueError):
    """Projection inputs whose shapes do not agree."""


def perspective_projection(
    points_m: torch.Tensor,
    *,
    translation_m: torch.Tensor,
    focal_length_px: torch.Tensor,
    principal_point_px: torch.Tensor,
    rotation: torch.Tensor | None = None,
) -> torch.Tensor:
    """Project (B, J, 3) points to (B, J, 2) pixels.

    X_cam = rotation @ X + translation; u = fx X_cam_x / X_cam_z + cx, v = fy X_cam_y / X_cam_z + cy.
    No clamping of z: points behind the camera project mirrored, as in the official code.

    Args:
        points_m: (B, J, 3) points in the body/world frame, metres.
        translation_m: (B, 3) camera translation, metres.
        focal_length_px: (B, 2) focal lengths (fx, fy), pixels.
        principal_point_px: (B, 2) principal point (cx, cy), pixels.
        rotation: (B, 3, 3) camera rotation; identity when None.
    Returns:
        (B, J, 2) pixel coordinates.
    """
    check_shape("points_m", points_m.shape, (None, None, 3), error=ProjectionShapeError)
    batch = points_m.shape[0]
    check_shape("translation_m", translation_m.shape, (batch, 3), error=ProjectionShapeError)
    check_shape("focal_length_px", focal_length_px.shape, (batch, 2), error=ProjectionShapeError)
    check_shape("principal_point_px", principal_point_px.shape, (batch, 2), error=ProjectionShapeError)
    if rotation is not None:
        check_shape("rotation", rotation.shape, (batch, 3, 3), error=ProjectionShapeError)
        points_m = torch.einsum("bij,bkj->bki", rotation, points_m)
    points_cam_m = points_m + translation_m[:, None, :]  # (B, J, 3)
    xy_normalized = points_cam_m[..., :2] / points_cam_m[..., 2:3]  # (B, J, 2)
    return xy_normalized * focal_length_px[:, None, :] + principal_point_px[:, None, :]


def cam_crop_to_full(
    cam_crop: torch.Tensor,
    box_center_px: torch.Tensor,
    box_size_px: torch.Tensor,
    image_size_px: torch.Tensor,
    focal_length_px: float = OFFICIAL_FOCAL_LENGTH_PX,
) -> torch.Tensor:
    """Weak-perspective crop camera (s, tx, ty) -> (B, 3) full-image camera translation, metres.

    bs = b s + 1e-9; t = (tx + 2 (cx - W/2) / bs, ty + 2 (cy - H/2) / bs, 2 f / bs).

    Args:
        cam_crop: (B, 3) crop camera [s, tx, ty].
        box_center_px: (B, 2) box centre (cx, cy), pixels.
        box_size_px: (B,) box side b, pixels.
        image_size_px: (B, 2) image size [W, H], pixels.
        focal_length_px: full-image focal length, pixels (official 5000).
    Returns:
        (B, 3) translation [tx, ty, tz] of the body in the full-image camera.
    """
    check_shape("cam_crop", cam_crop.shape, (None, 3), error=ProjectionShapeError)
    batch = cam_crop.shape[0]
    check_shape("box_center_px", box_center_px.shape, (batch, 2), error=ProjectionShapeError)
    check_shape("box_size_px", box_size_px.shape, (batch,), error=ProjectionShapeError)
    check_shape("image_size_px", image_size_px.shape, (batch, 2), error=ProjectionShapeError)
    half_w, half_h = image_size_px[:, 0] / 2.0, image_size_px[:, 1] / 2.0
    bs = box_size_px * cam_crop[:, 0] + CROP_SCALE_EPS
    tz = 2 * focal_length_px / bs
    tx = (2 * (box_center_px[:, 0] - half_w) / bs) + cam_crop[:, 1]
    ty = (2 * (box_center_px[:, 1] - half_h) / bs) + cam_crop[:, 2]
    return torch.stack([tx, ty, tz], dim=-1)
