"""The headless command line: a parser made of each command's own arguments, and a dispatcher to its module.

User mistakes exit 2 with one message on stderr; unexpected failures exit 1 with a short
message and the traceback in a file.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Callable

from engine.cli import (
    attach,
    chat,
    check,
    estimate,
    evaluate,
    export,
    export_launch,
    export_script,
    gpus,
    import_file,
    merge,
    optimize,
    presets,
    probe,
    run_requests,
    runs,
    train,
)
from engine.cli.versions import VersionAction
from engine.errors import EXIT_FAILURE, EXIT_STOPPED, EXIT_USER_ERROR, UserError
from engine.paths import cache_dir

COMMAND_MODULES: tuple[ModuleType, ...] = (
    train, check, presets, import_file, export_script, export_launch, gpus, estimate, optimize, probe,
    chat, merge, export, evaluate, attach, runs, run_requests,
)
"""Each module registers its command(s) with `add_parser` and carries them out with `run(args)`."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `sft-wizard` (no command: the wizard)."""
    parser = argparse.ArgumentParser(prog="sft-wizard", description="Set up, check and watch LoRA/QLoRA fine-tuning from a terminal.")
    parser.add_argument("--version", action=VersionAction, help="print the versions of sft-wizard and its libraries")
    parser.add_argument("--preset", metavar="NAME|FILE", help="open the wizard with this preset loaded, at Review")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        before = set(sub.choices)
        module.add_parser(sub)
        for name in set(sub.choices) - before:
            sub.choices[name].set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one headless command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USER_ERROR
    return guarded(handler, args)


def guarded(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command, turning user errors into exit 2 and crashes into exit 1 with a saved traceback."""
    try:
        return handler(args)
    except UserError as exc:
        print(f"sft-wizard: error: {exc}" if len(exc.problems) == 1 else f"sft-wizard: {len(exc.problems)} problems:\n{exc}",
              file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("sft-wizard: interrupted", file=sys.stderr)
        return EXIT_STOPPED
    except Exception as exc:  # unexpected: short message, traceback to a file
        log = cache_dir() / "last-error.log"
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(traceback.format_exc(), encoding="utf-8")
        except OSError:
            log = Path("(not written)")
        print(f"sft-wizard: unexpected failure: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}\n"
              f"  traceback: {log}", file=sys.stderr)
        return EXIT_FAILURE
