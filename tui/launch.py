"""Starting the Textual app (imported only when a screen is needed)."""

from __future__ import annotations

import argparse
import sys


def launch_wizard(preset: str | None) -> int:
    """Open the wizard (optionally with a preset loaded)."""
    print("sft-wizard: the interactive wizard is not built yet; use the commands "
          "(`sft-wizard --help`), e.g. `sft-wizard train demo`.", file=sys.stderr)
    return 2


def launch_monitor(args: argparse.Namespace) -> int:
    """Open the live monitor for a training run or a run directory."""
    from engine.cli import cmd_train, guarded

    if args.command == "attach":
        print("sft-wizard: attach needs the live monitor, which is not built yet.", file=sys.stderr)
        return 2
    return guarded(cmd_train, args)
