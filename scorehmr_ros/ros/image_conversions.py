"""sensor_msgs/Image and CompressedImage <-> numpy.

Decoding a raw Image is zero-copy (a numpy view of the message buffer) whenever the
encoding's byte order matches the host's; row padding (step > width * pixel size) is kept
as a strided view. Encoding copies the array once into the message.
"""

from __future__ import annotations

import array
import sys
from dataclasses import dataclass

import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header


class ImageConversionError(ValueError):
    """An image message or array that cannot be converted; the message says why."""


@dataclass(frozen=True)
class _Encoding:
    dtype: np.dtype
    channels: int


#: Raw encodings we read and write (sensor_msgs/image_encodings names).
ENCODINGS: dict[str, _Encoding] = {
    "rgb8": _Encoding(np.dtype(np.uint8), 3),
    "bgr8": _Encoding(np.dtype(np.uint8), 3),
    "rgba8": _Encoding(np.dtype(np.uint8), 4),
    "bgra8": _Encoding(np.dtype(np.uint8), 4),
    "mono8": _Encoding(np.dtype(np.uint8), 1),
    "8UC1": _Encoding(np.dtype(np.uint8), 1),
    "8UC3": _Encoding(np.dtype(np.uint8), 3),
    "mono16": _Encoding(np.dtype(np.uint16), 1),
    "16UC1": _Encoding(np.dtype(np.uint16), 1),
    "32FC1": _Encoding(np.dtype(np.float32), 1),
}

#: Compressed formats; image_transport writes e.g. "rgb8; jpeg compressed bgr8".
COMPRESSED_FORMATS = ("jpeg", "png")

_HOST_BIG_ENDIAN = sys.byteorder == "big"


def _encoding(name: str) -> _Encoding:
    try:
        return ENCODINGS[name]
    except KeyError:
        raise ImageConversionError(
            f"unsupported image encoding {name!r} (supported: {', '.join(ENCODINGS)})"
        ) from None


def image_to_numpy(msg: Image) -> np.ndarray:
    """sensor_msgs/Image -> (H, W) or (H, W, C) array of the encoding's dtype.

    Zero-copy unless the message's byte order differs from the host's. The channel order
    is the message's (an rgb8 image stays RGB); see ``image_to_bgr`` for OpenCV order.
    """
    enc = _encoding(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(f"image is empty ({width}x{height})")
    row_bytes = width * enc.channels * enc.dtype.itemsize
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width*channels*bytes = {row_bytes} for {width}px {msg.encoding}"
        )
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    if buffer.size != step * height:
        raise ImageConversionError(
            f"data has {buffer.size} bytes, expected step*height = {step}*{height} = {step * height}"
        )
    rows = buffer.reshape(height, step)[:, :row_bytes]
    dtype = enc.dtype.newbyteorder(">" if msg.is_bigendian else "<") if enc.dtype.itemsize > 1 else enc.dtype
    pixels = rows.view(dtype)  # rows are contiguous along x, so this stays a view with padding
    if enc.dtype.itemsize > 1 and bool(msg.is_bigendian) != _HOST_BIG_ENDIAN:
        pixels = pixels.astype(enc.dtype)  # byte swap: the one case that copies
    shape = (height, width) if enc.channels == 1 else (height, width, enc.channels)
    return pixels.reshape(shape)


def numpy_to_image(pixels: np.ndarray, *, encoding: str, header: Header | None = None) -> Image:
    """(H, W) or (H, W, C) array -> sensor_msgs/Image with the given encoding (one copy)."""
    enc = _encoding(encoding)
    pixels = np.asarray(pixels)
    if pixels.dtype != enc.dtype:
        raise ImageConversionError(f"{encoding} needs dtype {enc.dtype}, got {pixels.dtype}")
    expected_ndim = 2 if enc.channels == 1 else 3
    if pixels.ndim == 3 and enc.channels == 1 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim != expected_ndim or (enc.channels > 1 and pixels.shape[2] != enc.channels):
        raise ImageConversionError(
            f"{encoding} needs shape (H, W{', ' + str(enc.channels) if enc.channels > 1 else ''}), got {pixels.shape}"
        )
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ImageConversionError(f"image is empty: shape {pixels.shape}")
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = int(_HOST_BIG_ENDIAN)
    msg.step = int(pixels.shape[1] * enc.channels * enc.dtype.itemsize)
    msg.data = array.array("B", np.ascontiguousarray(pixels).tobytes())
    return msg


def image_to_bgr(msg: Image) -> np.ndarray:
    """sensor_msgs/Image -> (H, W, 3) uint8 BGR, the order OpenCV and the detectors expect."""
    pixels = image_to_numpy(msg)
    if msg.encoding in ("bgr8", "8UC3"):
        return pixels
    if msg.encoding == "rgb8":
        return pixels[:, :, ::-1]
    if msg.encoding == "rgba8":
        return pixels[:, :, 2::-1]
    if msg.encoding == "bgra8":
        return pixels[:, :, :3]
    if msg.encoding in ("mono8", "8UC1"):
        return np.repeat(pixels[:, :, None], 3, axis=2)
    raise ImageConversionError(f"encoding {msg.encoding!r} is not a colour or 8-bit image; cannot convert to BGR")


def message_to_bgr(msg: Image | CompressedImage) -> np.ndarray:
    """Any supported Image or CompressedImage -> (H, W, 3) uint8 BGR; ImageConversionError otherwise."""
    if not isinstance(msg, CompressedImage):
        return image_to_bgr(msg)
    pixels, encoding = compressed_to_numpy(msg)
    if encoding == "bgr8":
        return pixels
    if encoding == "bgra8":
        return pixels[:, :, :3]
    if encoding == "mono8":
        return np.repeat(pixels[:, :, None], 3, axis=2)
    raise ImageConversionError(f"compressed {encoding} images cannot be used as colour input")


def compressed_to_numpy(msg: CompressedImage) -> tuple[np.ndarray, str]:
    """sensor_msgs/CompressedImage (jpeg/png) -> (pixels, encoding).

    Colour images decode to (H, W, 3) "bgr8", grey ones to (H, W) "mono8", 16-bit PNG to "mono16".
    """
    import cv2

    fmt = msg.format.lower()
    if not any(name in fmt for name in COMPRESSED_FORMATS):
        raise ImageConversionError(f"unsupported compressed format {msg.format!r} (supported: jpeg, png)")
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageConversionError("compressed image has no data")
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ImageConversionError(f"could not decode {data.size} bytes as {msg.format!r}")
    if pixels.ndim == 2:
        return pixels, ("mono16" if pixels.dtype == np.uint16 else "mono8")
    if pixels.shape[2] == 4:
        return pixels, "bgra8"
    return pixels, "bgr8"


def numpy_to_compressed(
    pixels: np.ndarray, *, encoding: str, fmt: str = "jpeg", header: Header | None = None, jpeg_quality: int = 90
) -> CompressedImage:
    """Array in a raw encoding -> sensor_msgs/CompressedImage (jpeg or png)."""
    import cv2

    if fmt not in COMPRESSED_FORMATS:
        raise ImageConversionError(f"unsupported compressed format {fmt!r} (supported: jpeg, png)")
    raw = numpy_to_image(pixels, encoding=encoding)  # validates shape and dtype
    bgr = image_to_bgr(raw) if encoding not in ("mono8", "8UC1", "mono16", "16UC1") else np.asarray(pixels)
    if fmt == "jpeg" and bgr.dtype != np.uint8:
        raise ImageConversionError(f"jpeg holds 8-bit images only; {encoding} needs png")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if fmt == "jpeg" else []
    ok, data = cv2.imencode("." + ("jpg" if fmt == "jpeg" else "png"), np.ascontiguousarray(bgr), params)
    if not ok:
        raise ImageConversionError(f"OpenCV could not encode the image as {fmt}")
    msg = CompressedImage()
    if header is not None:
        msg.header = header
    msg.format = f"{encoding}; {fmt} compressed {'bgr8' if bgr.ndim == 3 else encoding}"
    msg.data = array.array("B", data.tobytes())
    return msg
