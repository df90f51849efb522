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
