"""``scorehmr-ros process`` takes the nodes' settings: the rig file's perception/fitting sections and
``--params-file`` files in the nodes' parameter YAML, checked by the same config dataclasses as the nodes."""

from pathlib import Path

import pytest
import yaml

from scorehmr_ros.accel.select import AccelConfig
from scorehmr_ros.geometry.rig_io import rig_to_yaml
from scorehmr_ros.geometry.rigs import ring_rig
from scorehmr_ros.perception.backends.config import DetectorConfig
from scorehmr_ros.pipeline.association import AssociationConfig
from scorehmr_ros.pipeline.streaming import StreamingConfig
from scorehmr_ros.ros.offline_processing import ProcessConfig
from scorehmr_ros.ros.parameter_files import ParameterFileError
from scorehmr_ros.ros.process_settings import resolve_process_settings

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


def _write(path: Path, document) -> str:
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return str(path)


def _params(tmp_path, name="params.yaml", **nodes) -> str:
    return _write(tmp_path / name, {node: {"ros__parameters": parameters} for node, parameters in nodes.items()})


def _rig(tmp_path, **sections) -> str:
    document = yaml.safe_load(rig_to_yaml(ring_rig(num_cameras=2)))
    document.update(sections)
    return _write(tmp_path / "rig.yaml", document)


def test_without_files_every_setting_is_its_dataclass_default():
    config, settings = resolve_process_settings(ProcessConfig())
    assert config == ProcessConfig()
    assert settings.detector == DetectorConfig() and settings.association == AssociationConfig()
    # nested configs keep their enclosing config's defaults (StreamingConfig's IK is Levenberg-Marquardt; a bare
    # IKConfig() would be Adam): process fits exactly as the node does
    assert settings.streaming == StreamingConfig() and settings.streaming.ik.solver == "levenberg_marquardt"
    assert settings.accel == AccelConfig() and settings.accel.backend == "auto"
    assert settings.applied == () and settings.unused == ()


def test_a_params_file_sets_the_nodes_configs_and_the_matching_options(tmp_path):
    path = _params(tmp_path,
                   scorehmr={"tracking": {"prediction_timeout_s": 2.5}, "association.min_common_joints": 6,
                             "streaming": {"lag": 2}, "mesh_rate_hz": 2.0, "publish_skeletons": True,
                             "accel": {"backend": "onnxruntime"}},
                   person_detector={"detector": {"max_people": 1}, "sync": {"slop_s": 0.05, "min_cameras": 0}},
                   keypoint_estimator={"keypoints": {"presence_threshold": 0.7, "landmark_model": "lite"},
                                       "output_layout": "coco17"})
    config, settings = resolve_process_settings(ProcessConfig(params_file=(path,)))
    assert settings.tracking.prediction_timeout_s == 2.5 and settings.association.min_common_joints == 6
    assert settings.streaming.lag == 2 and settings.detector.max_people == 1 and settings.accel.backend == "onnxruntime"
    assert settings.keypoints.presence_threshold == 0.7 and settings.front.output_layout == "coco17"
    assert settings.keypoints.landmark_model == "lite"
    assert config.mesh_rate_hz == 2.0 and config.slop_s == 0.05
    sync = settings.sync_config(["a", "b", "c"], min_cameras=config.min_cameras, slop_s=config.slop_s,
                                deadline_s=config.deadline_s)
    assert sync.min_cameras == 3 and sync.slop_s == 0.05  # the node's 0: all cameras
    assert f"person_detector detector.max_people=1 ({path})" in settings.applied
    assert settings.unused == ("scorehmr publish_skeletons",)


def test_an_option_given_on_the_command_line_wins(tmp_path):
    path = _params(tmp_path, scorehmr={"mesh_rate_hz": 2.0}, person_detector={"sync.slop_s": 0.05})
    config, _ = resolve_process_settings(ProcessConfig(params_file=(path,), slop_s=0.03))
    assert config.slop_s == 0.03 and config.mesh_rate_hz == 2.0


def test_the_rig_files_sections_apply_and_a_params_file_overrides_them(tmp_path):
    rig = _rig(tmp_path, perception={"detector": {"max_people": 2, "score_threshold": 0.6}, "sync": {"slop_s": 0.04}},
               fitting={"association": {"epipolar_threshold_px": 25.0}, "tracking": {"prediction_timeout_s": 3.0}})
    config, settings = resolve_process_settings(ProcessConfig(rig_file=rig))
    assert settings.detector.max_people == 2 and settings.association.epipolar_threshold_px == 25.0
    assert settings.tracking.prediction_timeout_s == 3.0 and config.slop_s == 0.04
    path = _params(tmp_path, person_detector={"detector": {"max_people": 4}})
    _, settings = resolve_process_settings(ProcessConfig(rig_file=rig, params_file=(path,)))
    assert settings.detector.max_people == 4 and settings.detector.score_threshold == 0.6


def test_the_shipped_parameter_files_are_accepted():
    files = tuple(str(path) for path in sorted(CONFIG_DIR.glob("*.yaml"))
                  if "ros__parameters" in path.read_text(encoding="utf-8"))
    _, settings = resolve_process_settings(ProcessConfig(params_file=files))
    assert settings.detector.max_people == 6  # config/perception.yaml
    assert settings.tracking.prediction_timeout_s == 1.0  # config/scorehmr.yaml


def test_a_wildcard_section_applies_to_every_node_declaring_the_key(tmp_path):
    path = _write(tmp_path / "all.yaml", {"/**": {"ros__parameters": {"detector": {"max_people": 3},
                                                                       "tracking": {"confirmations": 3}}}})
    _, settings = resolve_process_settings(ProcessConfig(params_file=(path,)))
    assert settings.detector.max_people == 3 and settings.tracking.confirmations == 3


@pytest.mark.parametrize(("nodes", "message"), [
    ({"scorehmr": {"tracking": {"prediction_timeot_s": 2.0}}}, "unknown parameter 'tracking.prediction_timeot_s'"),
    ({"person_detecter": {"detector": {"max_people": 2}}}, "unknown node 'person_detecter'"),
    ({"person_detector": {"detector": {"max_people": "many"}}}, "detector.max_people: expected int, got 'many'"),
    ({"person_detector": {"detector": {"max_people": 0}}}, "detector: max_people: must be >= 1"),
    ({"scorehmr": {"association": {"min_depth_m": 5.0, "max_depth_m": 1.0}}}, "min_depth_m .* must be < max_depth_m"),
    ({"person_detector": {"sync": {"stale_s": 0.01}}}, "stale_s: must be >= deadline_s"),
    ({"scorehmr": {"accel": {"backend": "tensorrt"}}}, "accel.*backend.*tensorrt"),
    ({"keypoint_estimator": {"keypoints": {"landmark_model": "medium"}}}, "landmark_model: must be one of"),
    ({"keypoint_estimator": {"keypoints": {"landmark_model": "lite", "model_path": "/m.tflite"}}},
     "landmark_model: 'lite' .* needs backend blazepose and an empty model_path"),
])
def test_a_bad_key_or_value_is_one_error_naming_file_and_key(tmp_path, nodes, message):
    path = _params(tmp_path, **nodes)
    with pytest.raises(ParameterFileError, match=message) as caught:
        resolve_process_settings(ProcessConfig(params_file=(path,)))
    assert path in str(caught.value) and "\n" not in str(caught.value)


def test_a_bad_key_in_the_rig_files_sections_names_the_file(tmp_path):
    rig = _rig(tmp_path, fitting={"association": {"epipolar_treshold_px": 25.0}})
    with pytest.raises(ParameterFileError, match="rig.yaml.*fitting.association.*epipolar_treshold_px"):
        resolve_process_settings(ProcessConfig(rig_file=rig))


def test_not_a_parameter_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("scorehmr: [1, 2]\n", encoding="utf-8")
    with pytest.raises(ParameterFileError, match="bad.yaml.*ros__parameters"):
        resolve_process_settings(ProcessConfig(params_file=(str(path),)))
    with pytest.raises(ParameterFileError, match="absent.yaml.*cannot read"):
        resolve_process_settings(ProcessConfig(params_file=(str(tmp_path / "absent.yaml"),)))
