"""`sft-wizard export-script`: a standalone TRL script that reproduces the run."""

from __future__ import annotations

import argparse

from engine.cli.common import add_preset_arguments, load
from engine.errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `export-script`."""
    add_preset_arguments(sub.add_parser("export-script", help="print a standalone TRL script that reproduces the run"))


def run(args: argparse.Namespace) -> int:
    """Print the standalone TRL script."""
    from engine.machine.hardware import hardware_report
    from engine.outputs.script import export_script

    print(export_script(load(args), hardware_report()))
    return EXIT_OK
