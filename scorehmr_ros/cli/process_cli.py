"""``scorehmr-ros process``: a recorded rosbag2 (sqlite3 or MCAP) with camera topics in, the graph's outputs
(detections, keypoints2d, bodies, meshes, TF) in a new bag. No ROS graph and no ROS install needed:
the nodes' processing runs in bag time (``scorehmr_ros/ros/offline_processing.py``)."""

from __future__ import annotations

import argparse

from scorehmr_ros.cli.arg_types import add_config_arguments, config_from_arguments

#: Short flags for some fields (the long form is always there too).
_ALIASES = {"rig_file": ("--rig",)}
_EPILOG = ("Settings as the live graph's nodes take them: the rig file's perception and fitting sections, then each "
           "--params-file (ros__parameters of scorehmr, person_detector, keypoint_estimator, e.g. config/*.yaml), "
           "then the options above that are given a value other than their default. Unknown keys are errors.")


def add_parser(subparsers) -> None:
    from scorehmr_ros.ros.offline_processing import ProcessConfig

    parser = subparsers.add_parser(
        "process", help="run detection, keypoints and body fitting over a recorded bag; write the outputs to a new bag",
        description=__doc__, epilog=_EPILOG, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("input", help="input bag folder (rosbag2, sqlite3 or MCAP) with "
                                      "<camera>/image_raw[/compressed] and <camera>/camera_info topics")
    parser.add_argument("output", help="output bag folder to create (must not exist)")
    add_config_arguments(parser, ProcessConfig, aliases=_ALIASES)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from scorehmr_ros.diffusion.checkpoint import CheckpointError
    from scorehmr_ros.perception.backends.types import PerceptionError
    from scorehmr_ros.ros.offline_processing import ProcessConfig, ProcessError, process_bag
    from scorehmr_ros.ros.recording import BagError

    logger = logging.getLogger("scorehmr_ros.process")
    try:
        config = config_from_arguments(args, ProcessConfig).validate()
        summary = process_bag(args.input, args.output, config=config)
    # every file or setting problem is one line naming it (BagError, ProcessError and ParameterFileError are
    # ValueErrors; a bad checkpoint or detector model file raises RuntimeErrors of their own)
    except (ProcessError, BagError, ValueError, OSError, CheckpointError, PerceptionError) as error:
        logger.error("%s", error)
        return 2
    logger.info("%s", summary.line())
    return 0
