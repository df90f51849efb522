"""rosbag2 bags (MCAP or sqlite3) written and read without a ROS install.

The container is written by ``rosbags`` (pure Python); the message bytes are ROS's own, from
``rclpy.serialization`` (CDR, exactly what a ROS 2 recorder would store). Every topic's message
definition and RIHS01 type hash go into the bag, so the bags open in Foxglove, ``ros2 bag`` and
RViz (via ``ros2 bag play``). Definitions come from ``rosbags``' Kilted type store; types it does
not know (ours: ``scorehmr_ros/msg/*``) are registered from their ``.msg`` text, found in the
package's ``share/<package>/msg`` directory of the Python prefix or an ament prefix, or in the
``msg/`` folder of a source checkout.

MCAP chunks are written with their CRC-32 (``rosbags`` writes 0, "not computed"), so corruption is detected
on reading; a chunk that fails its check (or does not decompress) is skipped with a warning and the rest of
the bag is read.

QoS kinds (what a recorder subscribes with, and what the bag says was offered):
    sensor_data  best effort, volatile, keep last 5      (camera images and CameraInfo)
    reliable     reliable, volatile, keep last 10        (every output of our nodes)
    static       reliable, transient local, keep last 1  (/tf_static, latched topics)
"""

from __future__ import annotations

import importlib
import logging
import os
import struct
import sys
import threading
from binascii import crc32
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rclpy.serialization import deserialize_message, serialize_message

#: Storage plugins we write and read.
STORAGES = ("mcap", "sqlite3")
#: QoS kinds of recorded topics (module docstring).
QOS_KINDS = ("sensor_data", "reliable", "static")
#: rosbag2 metadata version written (Jazzy and later read 9).
BAG_VERSION = 9
#: History depth of each QoS kind.
QOS_DEPTHS = {"sensor_data": 5, "reliable": 10, "static": 1}
LOGGER = logging.getLogger(__name__)


class BagError(ValueError):
    """A bag that cannot be written or read, or a message type that cannot be resolved."""


@dataclass(frozen=True)
class TopicSpec:
    """One topic to record.

    Attributes:
        topic: the topic name, absolute (``/cam0/image_raw``) or relative to the recorder's namespace.
        msg_type: ROS type name, ``package/msg/Type``.
        qos: one of :data:`QOS_KINDS`.
    """

    topic: str
    msg_type: str
    qos: str = "reliable"

    def validate(self) -> None:
        if not self.topic:
            raise BagError("TopicSpec.topic: must not be empty")
        if self.msg_type.count("/") != 2 or "/msg/" not in self.msg_type:
            raise BagError(f"TopicSpec.msg_type: expected 'package/msg/Type', got {self.msg_type!r}")
        if self.qos not in QOS_KINDS:
            raise BagError(f"TopicSpec.qos of {self.topic}: must be one of {', '.join(QOS_KINDS)}, got {self.qos!r}")


def default_qos_kind(topic: str) -> str:
    """The QoS kind a topic is normally published with: static for ``/tf_static``, sensor data for
    ``.../image_raw`` (and ``.../compressed``) and ``.../camera_info``, reliable otherwise."""
    if topic.rstrip("/").endswith("tf_static"):
        return "static"
    leaf = topic.rstrip("/").rsplit("/", 1)[-1]
    if leaf in ("image_raw", "camera_info", "compressed"):
        return "sensor_data"
    return "reliable"


def parse_topic_spec(text: str) -> TopicSpec:
    """``topic=package/msg/Type`` or ``topic=package/msg/Type@qos`` -> TopicSpec (QoS default by name)."""
    topic, sep, rest = text.partition("=")
    if not sep:
        raise BagError(f"topic spec {text!r}: expected 'topic=package/msg/Type[@qos]'")
    msg_type, _, qos = rest.partition("@")
    spec = TopicSpec(topic=topic.strip(), msg_type=msg_type.strip(), qos=qos.strip() or default_qos_kind(topic))
    spec.validate()
    return spec


# -- message types --------------------------------------------------------------------------
def type_name(msg_class: type) -> str:
    """rclpy message class -> ``package/msg/Type`` (e.g. sensor_msgs.msg.Image -> sensor_msgs/msg/Image)."""
    package = msg_class.__module__.split(".", 1)[0]
    return f"{package}/msg/{msg_class.__name__}"


def message_class(msg_type: str) -> type:
    """``package/msg/Type`` -> the rclpy message class (the package's Python interface must be installed)."""
    package, kind, name = (msg_type.split("/") + ["", ""])[:3]
    if kind != "msg" or not package or not name:
        raise BagError(f"message type {msg_type!r}: expected 'package/msg/Type'")
    try:
        module = importlib.import_module(f"{package}.msg")
    except ImportError as error:
        raise BagError(f"message type {msg_type!r}: Python interface {package}.msg is not installed ({error})") \
            from None
    try:
        return getattr(module, name)
    except AttributeError:
        raise BagError(f"message type {msg_type!r}: {package}.msg has no {name}") from None


def message_definition_dirs(package: str) -> list[Path]:
    """Folders that may hold ``<package>``'s ``.msg`` files, most specific first: the source checkout's
    ``msg/`` (for scorehmr_ros), then ``share/<package>/msg`` under the Python prefix and ament prefixes."""
    candidates = []
    if package == "scorehmr_ros":
        candidates.append(Path(__file__).resolve().parents[2] / "msg")
    prefixes = [sys.prefix] + [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    candidates += [Path(prefix) / "share" / package / "msg" for prefix in prefixes]
    return [folder for folder in dict.fromkeys(candidates) if folder.is_dir()]


def build_typestore(msg_types: Iterable[str] = ()):
    """A rosbags Typestore with the ROS 2 Kilted types plus every package of ``msg_types`` it lacks,
    registered from the package's ``.msg`` files (all of them, so nested types resolve)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    typestore = get_typestore(Stores.ROS2_KILTED)
    missing_packages = sorted({t.split("/")[0] for t in msg_types if t not in typestore.types})
    for package in missing_packages:
        folders = message_definition_dirs(package)
        if not folders:
            raise BagError(f"no .msg definitions found for package {package!r} (looked in the source checkout and "
                           f"share/{package}/msg under {sys.prefix} and AMENT_PREFIX_PATH)")
        types = {}
        for path in sorted(folders[0].glob("*.msg")):
            types.update(get_types_from_msg(path.read_text(encoding="utf-8"), f"{package}/msg/{path.stem}"))
        typestore.register(types)
    unknown = [t for t in msg_types if t not in typestore.types]
    if unknown:
        raise BagError(f"message types without a definition: {unknown}")
    return typestore


def _offered_qos(kind: str):
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    never = QosTime(sec=0x7FFFFFFF, nsec=0xFFFFFFFF)
    return Qos(history=QosHistory.KEEP_LAST, depth=QOS_DEPTHS[kind],
               reliability=QosReliability.BEST_EFFORT if kind == "sensor_data" else QosReliability.RELIABLE,
               durability=QosDurability.TRANSIENT_LOCAL if kind == "static" else QosDurability.VOLATILE,
               deadline=never, lifespan=never, liveliness=QosLiveliness.AUTOMATIC,
               liveliness_lease_duration=never, avoid_ros_namespace_conventions=False)


# -- writing --------------------------------------------------------------------------------
#: Byte offset of the CRC in an MCAP chunk record: opcode (1), record length (8), message start and end
#: time (8 + 8), uncompressed size (8), then the uint32 CRC-32 of the uncompressed chunk.
_CHUNK_CRC_OFFSET = 1 + 8 + 8 + 8 + 8


def _checksummed_writer_class():
    """rosbags' Writer whose MCAP storage fills in each chunk's CRC-32 once the chunk record is written."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.rosbag2.storage_mcap import McapWriter

    class ChecksummedMcapWriter(McapWriter):
        def close_chunk(self) -> None:
            uncompressed = self.chunk.bio.getvalue()
            chunk_start = self.bio.tell()
            super().close_chunk()
            end = self.bio.tell()
            try:
                self.bio.seek(chunk_start + _CHUNK_CRC_OFFSET)
                self.bio.write(struct.pack("<I", crc32(uncompressed)))
            finally:  # a Ctrl-C (KeyboardInterrupt) between the seeks must not leave the file position mid-file,
                # or the footer written on close lands inside the data (a CRC left at 0 means "none": still valid)
                self.bio.seek(end)

    class ChecksummedWriter(Writer):
        STORAGE_PLUGINS = {**Writer.STORAGE_PLUGINS, StoragePlugin.MCAP: ChecksummedMcapWriter}

    return ChecksummedWriter


class BagWriter:
    """Writes serialized ROS messages to a new rosbag2 folder (thread-safe; use as a context manager).

    Args:
        path: the bag folder to create (must not exist).
        topics: the topics the bag will hold (more may be added with :meth:`add_topic`).
        storage: ``mcap`` (default) or ``sqlite3``.
    """

    def __init__(self, path: str | Path, *, topics: Iterable[TopicSpec] = (), storage: str = "mcap") -> None:
        from rosbags.rosbag2 import StoragePlugin, WriterError

        if storage not in STORAGES:
            raise BagError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
        self.path = Path(path)
        self.storage = storage
        self._lock = threading.Lock()
        self._connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}
        topics = list(topics)
        self._typestore = build_typestore([spec.msg_type for spec in topics])
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        try:
            self._writer = _checksummed_writer_class()(self.path, version=BAG_VERSION, storage_plugin=plugin)
            self._writer.open()
        except WriterError as error:
            raise BagError(f"cannot create bag {self.path}: {error}") from None
        for spec in topics:
            self.add_topic(spec)

    def add_topic(self, spec: TopicSpec) -> None:
        """Register a topic (its definition and hash go into the bag); a topic may be added once."""
        spec.validate()
        with self._lock:
            if spec.topic in self._connections:
                raise BagError(f"topic {spec.topic} is already in bag {self.path}")
            if spec.msg_type not in self._typestore.types:
                self._typestore = _extended(self._typestore, spec.msg_type)
            self._connections[spec.topic] = self._writer.add_connection(
                spec.topic, spec.msg_type, typestore=self._typestore, offered_qos_profiles=[_offered_qos(spec.qos)])
            self.counts[spec.topic] = 0

    def write(self, topic: str, data: bytes, *, timestamp_ns: int) -> None:
        """Write one CDR-serialized message (as ``rclpy.serialization.serialize_message`` gives) at the
        receive time ``timestamp_ns``."""
        with self._lock:
            connection = self._connections.get(topic)
            if connection is None:
                raise BagError(f"topic {topic} was not added to bag {self.path}; known: {sorted(self._connections)}")
            if self._writer.storage is None:
                raise BagError(f"bag {self.path} is closed")
            self._writer.write(connection, int(timestamp_ns), bytes(data))
            self.counts[topic] += 1

    def write_message(self, topic: str, msg, *, timestamp_ns: int) -> None:
        """Serialize an rclpy message with ROS's serializer and write it."""
        self.write(topic, serialize_message(msg), timestamp_ns=timestamp_ns)

    @property
    def closed(self) -> bool:
        return self._writer.storage is None

    def close(self) -> None:
        """Finish the bag (index, metadata.yaml); closing twice is harmless."""
        with self._lock:
            if self._writer.storage is not None:
                self._writer.close()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _extended(typestore, msg_type: str):
    """``typestore`` plus the package of ``msg_type`` (a fresh store with both)."""
    known = [name for name in typestore.types if "/msg/" in name]
    return build_typestore(known + [msg_type])


# -- reading --------------------------------------------------------------------------------
@dataclass(frozen=True)
class BagMessage:
    """One message of a bag: ``topic``, ``msg_type`` (``package/msg/Type``), ``timestamp_ns`` (receive
    time as recorded) and ``message`` (the rclpy message, deserialized by ROS's deserializer)."""

    topic: str
    msg_type: str
    timestamp_ns: int
    message: object


def _open_reader(path: Path):
    from rosbags.rosbag2 import Reader
    from rosbags.rosbag2.errors import ReaderError

    try:
        reader = Reader(path)
        reader.open()
    except (ReaderError, OSError) as error:
        raise BagError(f"cannot read bag {path}: {error}") from None
    return reader


def bag_topics(path: str | Path) -> dict[str, str]:
    """Topic -> ``package/msg/Type`` of every topic in the bag (sqlite3 or MCAP folder)."""
    reader = _open_reader(Path(path))
    try:
        return {connection.topic: connection.msgtype for connection in reader.connections}
    finally:
        reader.close()


def _mcap_storages(reader) -> list:
    from rosbags.rosbag2.storage_mcap import McapReader

    storages = getattr(reader.storage, "storages", [reader.storage])
    return [storage for storage in storages if isinstance(storage, McapReader) and storage.chunks]


def _chunk_errors() -> tuple[type[Exception], ...]:
    """What reading a damaged chunk raises: rosbags' ReaderError (CRC, size, truncation) and the decompressor's."""
    from rosbags.rosbag2 import storage_mcap
    from rosbags.rosbag2.errors import ReaderError

    zstd_error = getattr(getattr(storage_mcap, "zstd", None), "ZstdError", None)
    return (ReaderError, zstd_error) if isinstance(zstd_error, type) else (ReaderError,)


def _drop_corrupt_chunk(reader, *, after_ns: int | None) -> str | None:
    """Find the chunk that failed (the first, by start time, of those not read before ``after_ns`` that does not
    decode), remove it from its file's chunk index and describe it; None when no chunk is at fault."""

    for storage in _mcap_storages(reader):
        chunks = list(storage.chunks)
        candidates = sorted((c for c in chunks if after_ns is None or c.message_end_time >= after_ns),
                            key=lambda c: c.message_start_time)
        for chunk in candidates:
            storage.chunks = [chunk]
            try:
                for _ in storage.messages(storage.connections):
                    pass
            except _chunk_errors() as error:
                storage.chunks = [c for c in chunks if c is not chunk]
                return (f"{Path(storage.path).name}: chunk at byte {chunk.chunk_start_offset} "
                        f"({sum(chunk.channel_count.values())} messages, {chunk.message_start_time}.."
                        f"{chunk.message_end_time} ns): {error}")
            finally:
                if storage.chunks == [chunk]:
                    storage.chunks = chunks
    return None


def _raw_messages(reader, connections, path: Path, on_skipped: Callable[[str], None] | None):
    """(connection, timestamp_ns, bytes) in timestamp order; a corrupt chunk is dropped and reading resumes
    after the last message given (a chunk is only decoded when the merge reaches its first message)."""
    last_ns, given_at_last = None, 0
    while True:
        start_ns, to_skip = last_ns, given_at_last
        try:
            for connection, timestamp_ns, data in reader.messages(connections=connections, start=start_ns):
                if to_skip and timestamp_ns == start_ns:  # given before the chunk failed
                    to_skip -= 1
                    continue
                given_at_last = given_at_last + 1 if timestamp_ns == last_ns else 1
                last_ns = timestamp_ns
                yield connection, timestamp_ns, data
            return
        except _chunk_errors() as error:
            skipped = _drop_corrupt_chunk(reader, after_ns=last_ns)
            if skipped is None:
                raise BagError(f"{path}: cannot read the bag ({error})") from None
            LOGGER.warning("%s: skipped a corrupt chunk, %s", path, skipped)
            if on_skipped is not None:
                on_skipped(skipped)


def read_bag(path: str | Path, *, topics: Iterable[str] | None = None,
             on_skipped_chunk: Callable[[str], None] | None = None) -> Iterator[BagMessage]:
    """Every message of the bag (or of ``topics``) in timestamp order, deserialized into rclpy messages.

    A corrupt MCAP chunk (CRC mismatch, undecodable) is skipped with a warning, and ``on_skipped_chunk`` gets
    its description; the other chunks are read.

    Raises:
        BagError: the bag cannot be opened or read, a requested topic is not in it, or a type is not installed.
    """
    reader = _open_reader(Path(path))
    try:
        connections = reader.connections
        if topics is not None:
            wanted = set(topics)
            absent = wanted - {c.topic for c in connections}
            if absent:
                present = sorted(c.topic for c in connections)
                raise BagError(f"bag {path} has no topics {sorted(absent)}; it has {present}")
            connections = [c for c in connections if c.topic in wanted]
        classes = {c.msgtype: message_class(c.msgtype) for c in connections}
        for connection, timestamp_ns, data in _raw_messages(reader, connections, Path(path), on_skipped_chunk):
            yield BagMessage(topic=connection.topic, msg_type=connection.msgtype, timestamp_ns=int(timestamp_ns),
                             message=deserialize_message(bytes(data), classes[connection.msgtype]))
    finally:
        reader.close()
