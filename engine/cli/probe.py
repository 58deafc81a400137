"""`sft-wizard probe`: measured peak memory beside the estimate."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from engine.cli.common import add_preset_arguments, load
from engine.errors import EXIT_DOES_NOT_FIT, EXIT_OK, UserError
from engine.units import gib

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `probe`."""
    probe = add_preset_arguments(sub.add_parser("probe", help="run a few real steps and measure peak memory against the estimate"))
    probe.add_argument("--steps", type=int, default=3)
    probe.add_argument("--random-init", action="store_true", help="random weights from the config (no download)")
    probe.add_argument("--logits", choices=("full", "chunked"),
                       help="LM-head memory the estimate assumes (default: the installed TRL's)")


def run(args: argparse.Namespace) -> int:
    """Run the pre-flight probe."""
    return run_probe_command(load(args), args.steps, args.random_init, args.logits)


def run_probe_command(config: "RunConfig", steps: int, random_init: bool, logits: str | None = None) -> int:
    """`sft-wizard probe`: print measured beside estimated (`logits`: the LM head assumed); exit 0 fits, 3 does not."""
    from engine.fit.report import format_fit
    from engine.fit.verdicts import fit_for_config
    from engine.run.probe import run_probe, save_probe

    if steps < 1:
        raise UserError(f"--steps {steps}: run at least one step.")
    result = run_probe(config, steps, random_init, logits)
    save_probe(config, result)
    if result.gpu_note:
        print(f"probe: {result.gpu_note}")
    if result.kernels_note:
        print(f"probe: {result.kernels_note}")
    print(f"probe: {result.steps} steps at batch {config.training_value('per_device_train_batch_size')} × "
          f"{config.training_value('max_length')} tokens on {result.device}: {result.message}")
    if result.device == "cpu":
        print(f"  peak RSS {gib(result.peak_rss_bytes)} (CPU run; the estimate below is for a GPU)")
    else:
        own = gib(result.process_used_bytes) if result.process_used_bytes else "not listed"
        print(f"  measured: max reserved {gib(result.peak_reserved_bytes)}, max allocated "
              f"{gib(result.peak_allocated_bytes)}; NVML: this process {own}, "
              f"whole device {gib(result.nvml_used_bytes or 0)}")
        measured = result.measured_bytes
        if measured:
            error = (result.estimate_bytes - measured) / measured
            print(f"  estimated {gib(result.estimate_bytes)} ({error:+.1%} against {result.measured_source}), "
                  f"assuming {result.estimate_assumes}")
    if not result.fits:
        print(format_fit(fit_for_config(config, logits=logits), "estimate"))
        return EXIT_DOES_NOT_FIT
    return EXIT_OK
