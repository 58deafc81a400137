"""`sft-wizard gpus`: the GPU report (a CPU report when there is none) and the library versions in use."""

from __future__ import annotations

import argparse
import json
import textwrap

from engine.cli.versions import format_versions, versions_in_use
from engine.errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `gpus`."""
    gpus = sub.add_parser("gpus", help="GPU report through NVML (a CPU report when there is none) and library versions")
    gpus.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Print the hardware report and the versions, as text or as JSON (--json)."""
    from engine.fit.report import format_hardware
    from engine.machine.hardware import hardware_report

    report = hardware_report()
    versions = versions_in_use()
    if args.json:
        from dataclasses import asdict

        from engine.machine.precision import decide_precision

        precision = asdict(decide_precision(report.training_gpu))
        print(json.dumps(report.to_dict() | {"precision": precision, "versions": versions}, indent=2))
    else:
        print(format_hardware(report))
        print("\nversions:\n" + textwrap.indent(format_versions(versions), "  "))
    return EXIT_OK
