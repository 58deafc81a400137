"""`sft-wizard gpus`: the GPU report through NVML (a CPU report when there is none)."""

from __future__ import annotations

import argparse
import json

from engine.errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `gpus`."""
    gpus = sub.add_parser("gpus", help="GPU report through NVML (a CPU report when there is none)")
    gpus.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    """Print the GPU report (or the CPU report when there is no NVIDIA GPU)."""
    from engine.fit.report import format_hardware
    from engine.machine.hardware import hardware_report

    report = hardware_report()
    if args.json:
        from dataclasses import asdict

        from engine.machine.precision import decide_precision

        print(json.dumps(report.to_dict() | {"precision": asdict(decide_precision(report.training_gpu))}, indent=2))
    else:
        print(format_hardware(report))
    return EXIT_OK
