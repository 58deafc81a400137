"""`sft-wizard` and `python -m tui`: the wizard with no command, engine commands otherwise."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sft-wizard` console script."""
    from engine.cli.main import build_parser
    from engine.cli.main import main as engine_main

    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.command is None:
        from tui.launch import launch_wizard

        return launch_wizard(args.preset)
    if args.command == "attach" or (args.command == "train" and not args.headless and sys.stdout.isatty()):
        from tui.launch import launch_monitor

        return launch_monitor(args)
    return engine_main(argv)


if __name__ == "__main__":
    sys.exit(main())
