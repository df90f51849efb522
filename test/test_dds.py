"""The DDS environment every node, the demo and the tests run with."""

import xml.etree.ElementTree as ET

from scorehmr_ros.ros.dds import BUNDLED_FASTDDS_PROFILE, dds_environment

NS = {"dds": "http://www.eprosima.com"}
FULL_HD_RGB8_BYTES = 1920 * 1080 * 3


def test_defaults_are_large_data_and_the_bundled_profile():
    assert dds_environment({}) == {"FASTDDS_BUILTIN_TRANSPORTS": "LARGE_DATA",
                                   "FASTDDS_DEFAULT_PROFILES_FILE": str(BUNDLED_FASTDDS_PROFILE)}


def test_choices_the_user_made_are_kept():
    user = {"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/my_profile.xml", "FASTDDS_BUILTIN_TRANSPORTS": "UDPv4"}
    assert dds_environment(user) == user
    assert dds_environment({"FASTDDS_DEFAULT_PROFILES_FILE": ""})["FASTDDS_DEFAULT_PROFILES_FILE"] == str(
        BUNDLED_FASTDDS_PROFILE)


def test_bundled_profile_is_the_default_participant_with_room_for_full_hd_images():
    root = ET.parse(BUNDLED_FASTDDS_PROFILE).getroot()
    descriptors = {d.findtext("dds:transport_id", namespaces=NS): d
                   for d in root.iterfind(".//dds:transport_descriptor", NS)}
    (participant,) = root.iterfind(".//dds:participant", NS)
    assert participant.get("is_default_profile") == "true"
    used = [t.text for t in participant.iterfind("dds:rtps/dds:userTransports/dds:transport_id", NS)]
    assert set(used) <= set(descriptors)
    kinds = {descriptors[t].findtext("dds:type", namespaces=NS): descriptors[t] for t in used}
    assert set(kinds) == {"SHM", "UDPv4"}  # shared memory on the host, UDP for discovery and other hosts
    assert int(kinds["SHM"].findtext("dds:segment_size", namespaces=NS)) >= 5 * FULL_HD_RGB8_BYTES
    assert participant.findtext("dds:rtps/dds:useBuiltinTransports", namespaces=NS) == "false"


def test_stale_shared_memory_segments_are_removed_and_live_ones_kept(tmp_path):
    import fcntl
    import os
    import time

    from scorehmr_ros.ros.dds import remove_stale_shm_segments

    def segment(name: str, *, age_s: float, size: int = 4096):
        (tmp_path / name).write_bytes(b"\0" * size)
        (tmp_path / f"{name}_el").write_bytes(b"")
        old = time.time() - age_s
        os.utime(tmp_path / f"{name}_el", (old, old))

    segment("fastdds_0123456789abcdef", age_s=60, size=10_000)  # owner gone: removed
    segment("fastdds_fedcba9876543210", age_s=60)  # owner alive (holds the lock): kept
    segment("fastdds_aaaaaaaaaaaaaaaa", age_s=1)  # just created, not locked yet: kept
    (tmp_path / "fastdds_port7411").write_bytes(b"")  # not a segment: kept
    (tmp_path / "sem.fastdds_port7411_mutex").write_bytes(b"")
    with open(tmp_path / "fastdds_fedcba9876543210_el", "ab") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert remove_stale_shm_segments(tmp_path) == (1, 10_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fastdds_aaaaaaaaaaaaaaaa", "fastdds_aaaaaaaaaaaaaaaa_el", "fastdds_fedcba9876543210",
        "fastdds_fedcba9876543210_el", "fastdds_port7411", "sem.fastdds_port7411_mutex"]
    assert remove_stale_shm_segments(tmp_path / "missing") == (0, 0)
