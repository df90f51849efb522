"""The ``scorehmr-ros`` command: a thin front over the core.

Each subcommand lives in its own module, which exposes ``add_parser(subparsers)`` (flags
only, no heavy imports) and is listed in ``SUBCOMMAND_MODULES``; the module's heavy
imports happen only when its subcommand runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: Modules that register a subcommand, in the order ``--help`` lists them.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "scorehmr_ros.cli.fit_cli",
    "scorehmr_ros.cli.bench_cli",
    "scorehmr_ros.cli.models_cli",
    "scorehmr_ros.cli.sim_cli",
    "scorehmr_ros.cli.train_cli",
    "scorehmr_ros.cli.demo_cli",
    "scorehmr_ros.cli.process_cli",
    "scorehmr_ros.cli.engines_cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scorehmr-ros",
        description="Multi-camera 3D human body fitting with ScoreHMR: tools, benchmarks and demo.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="logging verbosity")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s")
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
