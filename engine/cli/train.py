"""`sft-wizard train` without a terminal (or with --headless): one line per log step; SIGINT/SIGTERM stop at a step."""

from __future__ import annotations

import argparse
import sys

from engine.cli.common import add_preset_arguments, load
from engine.errors import EXIT_OK, EXIT_STOPPED


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `train`."""
    train = add_preset_arguments(sub.add_parser("train", help="train a preset (live monitor on a terminal, lines otherwise)"))
    train.add_argument("--output-dir", help="run directory (default: training.output_dir)")
    train.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CHECKPOINT",
                       help="continue from the latest checkpoint of the run directory, or from CHECKPOINT")
    train.add_argument("--allow-changes", action="store_true",
                       help="with --resume: train on although settings that shape training (data, learning rate and "
                            "schedule, batch, accumulation, seed, LoRA shape) differ from run.yaml; each is recorded")
    train.add_argument("--headless", action="store_true", help="print one line per log step even on a terminal")
    ranks = train.add_mutually_exclusive_group()
    ranks.add_argument("--processes", type=int, metavar="N",
                       help="N data-parallel processes through accelerate (GPUs, or CPU processes without one)")
    ranks.add_argument("--gpus", metavar="N|all", help="N GPUs (or all visible), one data-parallel process each")


def run(args: argparse.Namespace) -> int:
    """Train headless: one line per log step, SIGINT/SIGTERM stop at a step boundary with a checkpoint."""
    from engine.cli.printer import LinePrinter
    from engine.run.control import RunControl
    from engine.run.stop_signals import install_stop_signals
    from engine.run.multi.launcher import train_or_launch
    from engine.run.multi.process_count import set_process_count
    from engine.run.train import RunRequest

    config = load(args)
    set_process_count(config, args.gpus, args.processes)
    control = RunControl()
    install_stop_signals(control.request_stop)
    result = train_or_launch(RunRequest(config, args.output_dir, args.resume, [LinePrinter()], control,
                                          allow_changes=args.allow_changes))
    if result.exit_code not in (EXIT_OK, EXIT_STOPPED):
        print(f"sft-wizard: run failed: {result.message}", file=sys.stderr)
    return result.exit_code
