"""Which parameters each node declares, by node name (for checking parameter files)."""

from __future__ import annotations

from scorehmr_ros.ros.managed_node import LIFECYCLE_PARAMETERS
from scorehmr_ros.ros.parameters import parameter_names


def declared_parameters() -> dict[str, set[str]]:
    """Node name -> every parameter name that node declares."""
    from scorehmr_ros.ros.nodes import keypoint_estimator_node, person_detector_node, scorehmr_node

    return {
        "person_detector": parameter_names(person_detector_node.PARAMETERS, extra=("cameras",)),
        "keypoint_estimator": parameter_names(keypoint_estimator_node.PARAMETERS, extra=("cameras",)),
        "scorehmr": parameter_names(scorehmr_node.PARAMETERS, extra=("cameras",)),
        "rig_tf": parameter_names((LIFECYCLE_PARAMETERS,), extra=("rig_file",)),
    }
