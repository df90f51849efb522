"""``scorehmr-ros demo``: the whole graph on a simulated rig; writes a bag, an overlay video and a summary."""

from __future__ import annotations

import argparse
import dataclasses

from scorehmr_ros.base.config_fields import setting_info

_FLAG_TYPES = {int: int, float: float, str: str, bool: None}


def add_parser(subparsers) -> None:
    from scorehmr_ros.ros.testbed.demo import DemoConfig

    parser = subparsers.add_parser(
        "demo", help="run the whole graph on a simulated rig (real DDS) and report accuracy and latency",
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for field in dataclasses.fields(DemoConfig):
        info = setting_info(field)
        flag = "--" + field.name.replace("_", "-")
        help_text = info.description + (f" [{info.unit}]" if info.unit else "")
        if field.type in ("bool", bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=field.default, help=help_text)
        elif field.type in ("tuple[str, ...]",):
            parser.add_argument(flag, nargs="+", default=list(field.default), help=help_text)
        else:
            kind = {"int": int, "float": float, "str": str}[str(field.type)]
            parser.add_argument(flag, type=kind, default=field.default, help=help_text)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from scorehmr_ros.ros.testbed.demo import DemoConfig, run_demo
    from scorehmr_ros.ros.testbed.demo_report import summary_markdown

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(DemoConfig)}
    values["clips"] = tuple(values["clips"])
    try:
        config = DemoConfig(**values).validate()
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
