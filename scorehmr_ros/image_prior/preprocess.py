"""PARE input crops, as ScoreHMR's demo makes them (docs/scorehmr-reference.md §5, "Input crop").

For a tight person box (x0, y0, x1, y1) in pixels of a BGR uint8 image:
  1. centre c = ((x0 + x1) / 2, (y0 + y1) / 2) and side b = max(x1 - x0, y1 - y0), in float32 like the official
     code (no padding, no blur);
  2. affine warp of the square of side b around c onto 224 x 224 px: u = s (x - c) + 112 with s = 224 / b
     (see crop_affine for how the matrix is computed),
     bilinear (OpenCV INTER_LINEAR on uint8), constant 0 outside the image;
  3. BGR -> RGB, HWC -> CHW, v' = (v - 255 mean) / (255 std) per channel with ImageNet mean/std, computed in
     float64 and stored as float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from scorehmr_ros.image_prior.model import PARE_INPUT_SIZE_PX

#: ImageNet statistics in RGB order, on the 0-255 scale.
IMAGENET_MEAN_RGB = 255.0 * np.array([0.485, 0.456, 0.406])
IMAGENET_STD_RGB = 255.0 * np.array([0.229, 0.224, 0.225])


class PareCropError(ValueError):
    """An image or box that cannot be cropped (wrong shape or dtype, empty or non-finite box)."""


@dataclass(frozen=True)
class PareCrops:
    """PARE inputs for P boxes of one image.

    Attributes:
        images: (P, 3, 224, 224) float32 normalised RGB crops (the PARE input).
        box_center_px: (P, 2) box centres (x, y) in image pixels, float32.
        box_size_px: (P,) crop side b = max(w, h) in image pixels, float32.
        image_size_px: (2,) image (W, H) in pixels.
    """

    images: torch.Tensor
    box_center_px: np.ndarray
    box_size_px: np.ndarray
    image_size_px: np.ndarray


def square_box_from_xyxy(boxes_xyxy_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, 4) boxes (x0, y0, x1, y1) -> ((P, 2) centres, (P,) sides max(w, h)), float32 arithmetic."""
    boxes = np.asarray(boxes_xyxy_px, dtype=np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise PareCropError(f"boxes_xyxy_px: expected shape (P, 4), got {boxes.shape}")
    if not np.all(np.isfinite(boxes)):
        raise PareCropError("boxes_xyxy_px: contains NaN or infinite values")
    centers = (boxes[:, 2:4] + boxes[:, 0:2]) / np.float32(2.0)
    sizes = (boxes[:, 2:4] - boxes[:, 0:2]).max(axis=1)
    if np.any(sizes <= 0):
        bad = int(np.flatnonzero(sizes <= 0)[0])
        raise PareCropError(f"boxes_xyxy_px[{bad}] = {boxes[bad].tolist()} has no positive side")
    return centers, sizes


def crop_affine(*, center_px: np.ndarray, size_px: float, out_size_px: int = PARE_INPUT_SIZE_PX) -> np.ndarray:
    """(2, 3) affine matrix taking image pixels to crop pixels: u = s (x - c) + out/2, s = out / size.

    Solved, as the official code does, from three float32 point pairs (the centre and the centre moved by half the
    side down and right) with ``cv2.getAffineTransform``: the matrix then matches the official one to the last bit,
    and so do the warped pixels (the closed form differs by float32 rounding, which flips a few pixels by one
    intensity level).
    """
    center = np.asarray(center_px, dtype=np.float32)
    half_src = np.float32(size_px) * np.float32(0.5)
    half_dst = np.float32(out_size_px) * np.float32(0.5)
    src = np.stack([center, center + np.array([0, half_src], np.float32), center + np.array([half_src, 0], np.float32)])
    dst = np.array([[half_dst, half_dst], [half_dst, 2 * half_dst], [2 * half_dst, half_dst]], dtype=np.float32)
    return cv2.getAffineTransform(src.astype(np.float32), dst)


def crop_bgr(image_bgr: np.ndarray, *, center_px: np.ndarray, size_px: float,
             out_size_px: int = PARE_INPUT_SIZE_PX) -> np.ndarray:
    """(H, W, 3) uint8 BGR image -> (out, out, 3) uint8 BGR crop (bilinear, constant-0 border)."""
    return cv2.warpAffine(
        image_bgr,
        crop_affine(center_px=center_px, size_px=size_px, out_size_px=out_size_px),
        (out_size_px, out_size_px),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def normalize_crop_bgr(crop_bgr_u8: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 BGR crop -> (3, S, S) float32 RGB, (v - 255 mean) / (255 std) per channel."""
    rgb_chw = np.transpose(crop_bgr_u8[:, :, ::-1], (2, 0, 1)).astype(np.float64)
    normalized = (rgb_chw - IMAGENET_MEAN_RGB[:, None, None]) / IMAGENET_STD_RGB[:, None, None]
    return normalized.astype(np.float32)


def _checked_image(image_bgr: np.ndarray) -> np.ndarray:
    image = np.asarray(image_bgr)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise PareCropError(f"image_bgr: expected a (H, W, 3) uint8 BGR image, got {image.shape} {image.dtype}")
    return image


def make_pare_crops(image_bgr: np.ndarray, boxes_xyxy_px: np.ndarray) -> PareCrops:
    """Crop and normalise every box of one BGR uint8 image for PARE."""
    image = _checked_image(image_bgr)
    centers, sizes = square_box_from_xyxy(boxes_xyxy_px)
    crops = [
        normalize_crop_bgr(crop_bgr(image, center_px=center, size_px=float(size)))
        for center, size in zip(centers, sizes, strict=True)
    ]
    images = np.stack(crops) if crops else np.zeros((0, 3, PARE_INPUT_SIZE_PX, PARE_INPUT_SIZE_PX), np.float32)
    return PareCrops(
        images=torch.from_numpy(images),
        box_center_px=centers,
        box_size_px=sizes,
        image_size_px=np.array([image.shape[1], image.shape[0]], dtype=np.float64),
    )
