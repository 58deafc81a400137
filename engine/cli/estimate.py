"""`sft-wizard estimate`: the estimate for a preset, as text or JSON."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from engine.cli.common import add_preset_arguments, load
from engine.errors import EXIT_OK
from engine.fit.verdicts import fit_for_config

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `estimate`."""
    estimate = add_preset_arguments(sub.add_parser("estimate", help="predicted peak GPU memory, its breakdown and verdicts"))
    estimate.add_argument("--json", action="store_true")
    estimate.add_argument("--gpu-memory", metavar="SIZE|GPU", help="plan for this GPU (24GiB, A100-80G, ...) instead of the local one")
    estimate.add_argument("--logits", choices=("full", "chunked"),
                          help="LM-head memory to assume (default: what the installed TRL does)")


def run(args: argparse.Namespace) -> int:
    """Print the memory estimate, breakdown and verdicts."""
    return run_estimate(load(args), args.gpu_memory, args.json, args.logits)


def run_estimate(config: "RunConfig", gpu_memory: str | None, as_json: bool, logits: str | None = None) -> int:
    """Print the estimate of a config (`logits`: full or chunked, None for the installed TRL's); exit 0."""
    from engine.fit.report import format_fit

    report = fit_for_config(config, gpu_memory, logits)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_fit(report, f"{config.name} ({config.model.name_or_path})"))
    return EXIT_OK
