"""`sft-wizard stop` and `sft-wizard checkpoint`: ask a live run to stop, or to save a checkpoint, at its next step."""

from __future__ import annotations

import argparse

from engine.errors import EXIT_OK

_REQUESTED = {"stop": "stop after its current step, saving a checkpoint and final/",
              "checkpoint": "save a checkpoint after its current step"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `stop` and `checkpoint`."""
    stop = sub.add_parser("stop", help="ask a live run to stop after its current step, saving a checkpoint and final/")
    stop.add_argument("run_dir", metavar="RUN_DIR")
    checkpoint = sub.add_parser("checkpoint", help="ask a live run to save a checkpoint after its current step")
    checkpoint.add_argument("run_dir", metavar="RUN_DIR")


def run(args: argparse.Namespace) -> int:
    """Ask the live run in RUN_DIR to stop or save a checkpoint at its next step."""
    from engine.run.control import send_to_live_run

    life = send_to_live_run(args.run_dir, args.command)
    print(f"asked the run in {args.run_dir} (pid {life.pid} on {life.host}) to {_REQUESTED[args.command]}")
    return EXIT_OK
