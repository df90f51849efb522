"""Bag integrity: our MCAP chunks carry CRC-32s, and a corrupt chunk in an input bag is skipped with a warning
while the rest is read (ours, and a compressed bag written by plain ``rosbags``)."""

import logging
import struct
from binascii import crc32

from rosbags.rosbag2 import CompressionFormat, CompressionMode, Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore
from std_msgs.msg import String

from scorehmr_ros.ros.recording import BagWriter, TopicSpec, read_bag

MESSAGES = 12
PAYLOAD = 300_000  # bytes per message: a chunk closes after 1 MiB, so about 4 messages per chunk


def _text(k: int) -> str:
    return f"{k:04d}" + "x" * PAYLOAD


def _chunks(path):
    with Reader(path) as reader:
        (storage,) = reader.storage.storages
        return list(storage.chunks), next(path.glob("*.mcap"))


def _corrupt_middle_chunk(path, *, data_offset: int = 200):
    chunks, mcap = _chunks(path)
    assert len(chunks) >= 3
    middle = chunks[len(chunks) // 2]
    raw = bytearray(mcap.read_bytes())
    raw[middle.chunk_start_offset + 1 + 8 + 40 + len(middle.compression) + data_offset] ^= 0xFF
    mcap.write_bytes(bytes(raw))
    return sum(middle.channel_count.values())


def _our_bag(path):
    with BagWriter(path, topics=[TopicSpec("/text", "std_msgs/msg/String")]) as writer:
        for k in range(MESSAGES):
            writer.write_message("/text", String(data=_text(k)), timestamp_ns=1_000 + k)
    return path


def test_our_chunks_carry_their_crc(tmp_path):
    chunks, mcap = _chunks(_our_bag(tmp_path / "bag"))
    raw = mcap.read_bytes()
    for chunk in chunks:
        start = chunk.chunk_start_offset
        (crc,) = struct.unpack_from("<I", raw, start + 1 + 8 + 24)
        data_start = start + 1 + 8 + 40 + len(chunk.compression)
        assert crc != 0 and crc == crc32(raw[data_start:data_start + chunk.compressed_size])
    assert [m.message.data[:4] for m in read_bag(tmp_path / "bag")] == [f"{k:04d}" for k in range(MESSAGES)]


def test_a_corrupt_chunk_of_our_bag_is_skipped_with_a_warning(tmp_path, caplog):
    path = _our_bag(tmp_path / "bag")
    lost = _corrupt_middle_chunk(path)
    skipped = []
    with caplog.at_level(logging.WARNING):
        texts = [m.message.data for m in read_bag(path, on_skipped_chunk=skipped.append)]
    assert len(texts) == MESSAGES - lost and len(skipped) == 1
    assert all(text == _text(int(text[:4])) for text in texts)  # no damaged message got through
    assert [int(text[:4]) for text in texts] == sorted(int(text[:4]) for text in texts)
    assert "skipped a corrupt chunk" in caplog.text


def test_a_corrupt_chunk_of_a_compressed_rosbags_bag_is_skipped(tmp_path, caplog):
    path = tmp_path / "theirs"
    typestore = get_typestore(Stores.ROS2_KILTED)
    message = typestore.types["std_msgs/msg/String"]
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        connection = writer.add_connection("/text", "std_msgs/msg/String", typestore=typestore)
        for k in range(MESSAGES):  # incompressible-enough payloads so that there are several chunks
            data = f"{k:04d}" + "".join(chr(65 + (k * 7919 + i * i) % 26) for i in range(PAYLOAD))
            writer.write(connection, 1_000 + k, typestore.serialize_cdr(message(data=data), "std_msgs/msg/String"))
    lost = _corrupt_middle_chunk(path, data_offset=0)  # the zstd frame header: that chunk cannot be decoded
    with caplog.at_level(logging.WARNING):
        texts = [m.message.data for m in read_bag(path)]
    assert len(texts) == MESSAGES - lost
    assert "skipped a corrupt chunk" in caplog.text
