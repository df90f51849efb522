"""sensor_msgs/Image and CompressedImage <-> numpy, both ways, and every bad input."""

import array

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from scorehmr_ros.ros.image_conversions import (
    ENCODINGS,
    ImageConversionError,
    compressed_to_numpy,
    image_to_bgr,
    image_to_numpy,
    numpy_to_compressed,
    numpy_to_image,
)

RNG = np.random.default_rng(0)


def random_pixels(encoding: str, height: int = 7, width: int = 5) -> np.ndarray:
    enc = ENCODINGS[encoding]
    shape = (height, width) if enc.channels == 1 else (height, width, enc.channels)
    if enc.dtype.kind == "f":
        return RNG.standard_normal(shape).astype(enc.dtype)
    return RNG.integers(0, np.iinfo(enc.dtype).max, size=shape, endpoint=True).astype(enc.dtype)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8", "rgba8", "bgra8", "mono16", "16UC1", "32FC1", "8UC3"])
def test_round_trip_every_encoding(encoding):
    pixels = random_pixels(encoding)
    msg = numpy_to_image(pixels, encoding=encoding)
    assert (msg.height, msg.width, msg.encoding) == (7, 5, encoding)
    back = image_to_numpy(msg)
    assert back.dtype == pixels.dtype and back.shape == pixels.shape
    np.testing.assert_array_equal(back, pixels)


def test_decoding_is_zero_copy():
    msg = numpy_to_image(random_pixels("rgb8"), encoding="rgb8")
    view = image_to_numpy(msg)
    assert not view.flags.owndata
    assert np.shares_memory(view, np.frombuffer(msg.data, dtype=np.uint8))


def test_row_padding_is_respected_without_copy():
    pixels = random_pixels("mono16", height=4, width=3)
    padded = np.zeros((4, 8), dtype=np.uint8)  # 6 bytes of pixels + 2 bytes padding per row
    padded[:, :6] = pixels.view(np.uint8).reshape(4, 6)
    msg = Image(height=4, width=3, encoding="mono16", is_bigendian=0, step=8,
                data=array.array("B", padded.tobytes()))
    back = image_to_numpy(msg)
    np.testing.assert_array_equal(back, pixels)
    assert np.shares_memory(back, np.frombuffer(msg.data, dtype=np.uint8))


def test_big_endian_16bit_is_swapped():
    pixels = np.array([[1, 256, 65535]], dtype=np.uint16)
    msg = Image(height=1, width=3, encoding="16UC1", is_bigendian=1, step=6,
                data=array.array("B", pixels.astype(">u2").tobytes()))
    np.testing.assert_array_equal(image_to_numpy(msg), pixels)


def test_to_bgr_channel_orders():
    rgb = random_pixels("rgb8")
    expected_bgr = rgb[:, :, ::-1]
    np.testing.assert_array_equal(image_to_bgr(numpy_to_image(rgb, encoding="rgb8")), expected_bgr)
    np.testing.assert_array_equal(image_to_bgr(numpy_to_image(expected_bgr.copy(), encoding="bgr8")), expected_bgr)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(image_to_bgr(numpy_to_image(rgba, encoding="rgba8")), expected_bgr)
    mono = rgb[:, :, 0].copy()
    assert image_to_bgr(numpy_to_image(mono, encoding="mono8")).shape == rgb.shape


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"encoding": "yuv422"}, "unsupported image encoding 'yuv422'"),
        ({"step": 10}, "step 10 is smaller than"),
        ({"height": 8}, "data has 105 bytes, expected step*height"),
        ({"width": 0}, "image is empty"),
    ],
)
def test_bad_raw_images_are_named(changes, message):
    msg = numpy_to_image(random_pixels("rgb8"), encoding="rgb8")  # 7x5, step 15, 105 bytes
    for key, value in changes.items():
        setattr(msg, key, value)
    with pytest.raises(ImageConversionError, match=message.replace("*", r"\*").replace("(", r"\(")):
        image_to_numpy(msg)


@pytest.mark.parametrize(
    ("pixels", "encoding", "message"),
    [
        (np.zeros((4, 4, 3), np.uint16), "rgb8", "rgb8 needs dtype uint8"),
        (np.zeros((4, 4), np.uint8), "rgb8", r"rgb8 needs shape \(H, W, 3\)"),
        (np.zeros((0, 4), np.uint8), "mono8", "image is empty"),
        (np.zeros((4, 4), np.uint8), "bayer_rggb8", "unsupported image encoding"),
    ],
)
def test_bad_arrays_are_named(pixels, encoding, message):
    with pytest.raises(ImageConversionError, match=message):
        numpy_to_image(pixels, encoding=encoding)


def test_png_is_lossless_and_jpeg_is_close():
    rgb = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 1, 3))
    png = numpy_to_compressed(rgb, encoding="rgb8", fmt="png")
    decoded, encoding = compressed_to_numpy(png)
    assert encoding == "bgr8"
    np.testing.assert_array_equal(decoded, rgb[:, :, ::-1])
    jpeg = numpy_to_compressed(rgb, encoding="rgb8", fmt="jpeg", jpeg_quality=95)
    decoded, _ = compressed_to_numpy(jpeg)
    assert np.abs(decoded.astype(int) - rgb[:, :, ::-1]).max() <= 8
    depth = RNG.integers(0, 65535, size=(5, 6), dtype=np.uint16)
    decoded, encoding = compressed_to_numpy(numpy_to_compressed(depth, encoding="16UC1", fmt="png"))
    assert encoding == "mono16"
    np.testing.assert_array_equal(decoded, depth)


def test_bad_compressed_images_are_named():
    with pytest.raises(ImageConversionError, match="unsupported compressed format 'tiff'"):
        compressed_to_numpy(CompressedImage(format="tiff", data=array.array("B", b"123")))
    with pytest.raises(ImageConversionError, match="no data"):
        compressed_to_numpy(CompressedImage(format="jpeg"))
    with pytest.raises(ImageConversionError, match="could not decode 4 bytes"):
        compressed_to_numpy(CompressedImage(format="jpeg", data=array.array("B", b"\x00\x01\x02\x03")))
    with pytest.raises(ImageConversionError, match="jpeg holds 8-bit images only"):
        numpy_to_compressed(np.zeros((4, 4), np.uint16), encoding="16UC1", fmt="jpeg")


def test_message_to_bgr_for_raw_and_compressed():
    from scorehmr_ros.ros.image_conversions import message_to_bgr

    rgb = random_pixels("rgb8")
    np.testing.assert_array_equal(message_to_bgr(numpy_to_image(rgb, encoding="rgb8")), rgb[:, :, ::-1])
    np.testing.assert_array_equal(message_to_bgr(numpy_to_compressed(rgb, encoding="rgb8", fmt="png")),
                                  rgb[:, :, ::-1])
    mono = random_pixels("mono8")
    assert message_to_bgr(numpy_to_compressed(mono, encoding="mono8", fmt="png")).shape == mono.shape + (3,)
    with pytest.raises(ImageConversionError, match="compressed mono16 images cannot be used as colour input"):
        message_to_bgr(numpy_to_compressed(random_pixels("16UC1"), encoding="16UC1", fmt="png"))
