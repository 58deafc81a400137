"""`sft-wizard eval RUN_DIR`: base against fine-tuned on held-out rows (or a file) and lm-eval tasks."""

from __future__ import annotations

import argparse
import json
import sys

from engine.errors import EXIT_OK, UserError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `eval`."""
    parser = sub.add_parser("eval", help="judge a finished run against its base: loss, answers' scores, lm-eval tasks; "
                                         "written to RUN_DIR/eval/")
    parser.add_argument("run_dir", metavar="RUN_DIR")
    rows = parser.add_mutually_exclusive_group()
    rows.add_argument("--data", metavar="FILE", help="judge on this file's rows (any format the run could train on)")
    rows.add_argument("--split", choices=["eval"], default="eval",
                      help="judge on the rows the run held out for evaluation (the default)")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N rows, and N documents per lm-eval task")
    parser.add_argument("--tasks", metavar="T,...", default="",
                        help="lm-eval tasks: names lm-eval knows (their data from the Hub or its cache) or task YAML files")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON (for scripts)")


def run(args: argparse.Namespace) -> int:
    """Evaluate, write RUN_DIR/eval/, print the table (or the JSON summary)."""
    from engine.evaluation.evaluate import EvalRequest, evaluate_run
    from engine.evaluation.report import text_report, write_eval

    tasks = [task.strip() for task in args.tasks.split(",") if task.strip()]
    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit {args.limit}: give a number of rows, 1 or more.")
    request = EvalRequest(args.run_dir, args.data, args.limit, tasks)
    result = evaluate_run(request, progress=lambda line: print(f"# {line}", file=sys.stderr, flush=True))
    folder = write_eval(args.run_dir, result)
    if args.json:
        print(json.dumps({**result.summary, "written_to": str(folder)}, indent=2, ensure_ascii=False))
    else:
        print(text_report(result))
        print(f"written to {folder}/ (rows.jsonl, summary.json, report.md)")
    return EXIT_OK
