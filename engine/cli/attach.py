"""`sft-wizard attach`: the live monitor over a run directory; the UI runs it, the command line only parses it."""

from __future__ import annotations

import argparse

from engine.errors import UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `attach`."""
    attach = sub.add_parser("attach", help="watch a run directory live (or replay a finished run)")
    attach.add_argument("run_dir", metavar="RUN_DIR")


def run(args: argparse.Namespace) -> int:
    """Refuse: attaching draws the monitor, which only `sft-wizard` (the UI's entry point) can open."""
    raise UserError(f"attach opens the live monitor: run `sft-wizard attach {args.run_dir}` in a terminal.")
