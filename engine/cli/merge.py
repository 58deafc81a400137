"""`sft-wizard merge`: a finished run's adapter merged into full model weights."""

from __future__ import annotations

import argparse

from engine.errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `merge`."""
    merge = sub.add_parser("merge", help="merge a finished run's adapter into full model weights")
    merge.add_argument("run_dir", metavar="RUN_DIR")
    merge.add_argument("--output", help="where to write the merged model (default: RUN_DIR/merged)")


def run(args: argparse.Namespace) -> int:
    """Merge the adapter into full weights, printing progress."""
    from engine.outputs.merge import merge_adapter

    merge_adapter(args.run_dir, args.output, progress=lambda line: print(line, flush=True))
    return EXIT_OK
