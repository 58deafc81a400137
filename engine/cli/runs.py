"""`sft-wizard runs`: recent run directories with their status, step and final loss; `--compare` lines runs up."""

from __future__ import annotations

import argparse
import json
import sys

from engine.errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `runs`."""
    runs = sub.add_parser("runs", help="recent runs: status (running, completed, stopped, failed, died), step, loss; "
                                       "--compare A B ... lines runs up side by side")
    runs.add_argument("root", nargs="?", metavar="ROOT",
                      help="list only the runs under ROOT (default: every run started here, from the run index, "
                           "and those under ./runs)")
    runs.add_argument("--compare", nargs="+", metavar="RUN_DIR",
                      help="compare these runs: settings that differ, final losses, eval scores, loss curves")
    runs.add_argument("--json", action="store_true", help="with --compare: print the comparison as JSON")


def run(args: argparse.Namespace) -> int:
    """List the recent runs, or compare the runs named with --compare."""
    if args.compare:
        return _compare(args)
    from engine.record.recent import find_runs
    from engine.record.run_index import index_path

    runs = find_runs(args.root or "runs", indexed=args.root is None)
    if not runs:
        print(f"no runs under {args.root}" if args.root else f"no runs yet (none in {index_path()}, none under ./runs)")
        return EXIT_OK
    print(f"{'STATUS':<11}  {'STEP':>11}  {'LOSS':>8}  {'STARTED':<16}  PATH")
    for found in runs:
        step = f"{found.step}/{found.total_steps}" if found.total_steps else str(found.step)
        loss = f"{found.final_loss:.4f}" if found.final_loss is not None else "-"
        print(f"{found.status:<11}  {step:>11}  {loss:>8}  {found.date:<16}  {found.path}")
    for found in runs:
        if found.note:
            print(f"note: {found.note}", file=sys.stderr)
    return EXIT_OK


def _compare(args: argparse.Namespace) -> int:
    """Print the comparison of the runs (text, or JSON with --json)."""
    from engine.evaluation.compare import compare_runs
    from engine.evaluation.compare_text import comparison_text

    comparison = compare_runs(([args.root] if args.root else []) + args.compare)
    print(json.dumps(comparison.as_dict(), indent=2) if args.json else comparison_text(comparison))
    return EXIT_OK
