"""What several commands share: the preset argument with its `--set` overrides, loading it, printing warnings."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig


def add_preset_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give a command the preset it works on (NAME|FILE) and repeatable `--set SECTION.KEY=VALUE` overrides."""
    parser.add_argument("preset", metavar="NAME|FILE", help="a preset name (see `sft-wizard presets`) or a YAML file")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one setting (value read as YAML); repeatable")
    return parser


def print_warnings(warnings: list[str]) -> None:
    """One `warning:` line per warning, on stderr."""
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def load(args: argparse.Namespace) -> "RunConfig":
    """The preset of a command, validated, with its warnings printed."""
    from engine.config.presets import load_preset

    config, warnings, _ = load_preset(args.preset, args.overrides)
    print_warnings(warnings)
    return config
