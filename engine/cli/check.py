"""`sft-wizard check`: config, hardware fit, model modules and data validated; `--sample N` shows a row as trained."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from engine.cli.common import add_preset_arguments, load, print_warnings
from engine.errors import EXIT_OK, UserError

if TYPE_CHECKING:
    from engine.data.preview import Sample


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `check`."""
    check = add_preset_arguments(sub.add_parser("check", help="validate config and data; print the resolved config and warnings"))
    check.add_argument("--sample", type=int, metavar="N",
                       help="print training row N (from 0) as the trainer gets it, the learned part between ⟦ ⟧")
    check.add_argument("--json", action="store_true", help="with --sample: print the sample as JSON segments only")


def run(args: argparse.Namespace) -> int:
    """Validate config, hardware fit, model modules and data; print every problem found."""
    from engine.run.checks import full_check

    if args.json and args.sample is None:
        raise UserError("check --json prints a sample: add --sample N.")
    config = load(args)
    report = full_check(config, sample=args.sample)
    if args.json:
        print_warnings(report.warnings)
        report.raise_problems()
        print(json.dumps({"sample": report.sample.to_dict()}, ensure_ascii=False))
        return EXIT_OK
    print(config.to_yaml(), end="")
    print(f"# precision here: {report.precision}")
    for line in report.facts:
        print(f"# {line}")
    print_warnings(report.warnings)
    report.raise_problems()
    if report.sample is not None:
        _print_sample(report.sample)
    print("check passed", file=sys.stderr)
    return EXIT_OK


def _print_sample(sample: "Sample") -> None:
    """A training row with its learned part between ⟦ ⟧, and its token counts."""
    source = f" from {sample.source}" if sample.source else ""
    print(f"# sample: training row {sample.index}{source}, {sample.tokens} tokens, {sample.learned_tokens} learned "
          "(between ⟦ ⟧; the rest is context the model reads but is not trained to write)")
    print(sample.marked_text())
