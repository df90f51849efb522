"""``scorehmr-ros demo``: the whole graph on a simulated rig; writes a bag, an overlay video and a summary."""

from __future__ import annotations

import argparse

from scorehmr_ros.cli.arg_types import add_config_arguments, config_from_arguments


def add_parser(subparsers) -> None:
    from scorehmr_ros.ros.testbed.demo import DemoConfig

    parser = subparsers.add_parser(
        "demo", help="run the whole graph on a simulated rig (real DDS) and report accuracy and latency",
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_config_arguments(parser, DemoConfig)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from scorehmr_ros.ros.testbed.demo import DemoConfig, run_demo
    from scorehmr_ros.ros.testbed.demo_report import summary_markdown

    try:
        config = config_from_arguments(args, DemoConfig).validate()
    except ValueError as error:
        logging.getLogger(__name__).error("%s", error)
        return 2
    try:
        summary = run_demo(config)
    except RuntimeError as error:  # a node of the graph could not start; the message carries its log
        logging.getLogger(__name__).error("demo failed: %s", error)
        return 1
    logging.getLogger(__name__).info("demo outputs in %s:\n%s", config.output_dir, summary_markdown(summary))
    return 0
