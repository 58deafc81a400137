"""`sft-wizard` and `python -m tui`: the wizard with no command, engine commands otherwise."""

from __future__ import annotations

import sys


def wizard_preset(argv: list[str]) -> tuple[bool, str | None]:
    """(True, preset or None) when argv asks for the wizard alone: no arguments, or just `--preset NAME|FILE`.

    The wizard needs none of the commands' parsers, and building them imports every command module
    (tens of milliseconds before the first screen).
    """
    if not argv:
        return True, None
    if len(argv) == 2 and argv[0] == "--preset" and not argv[1].startswith("-"):
        return True, argv[1]
    if len(argv) == 1 and argv[0].startswith("--preset=") and len(argv[0]) > len("--preset="):
        return True, argv[0].removeprefix("--preset=")
    return False, None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `sft-wizard` console script."""
    argv = sys.argv[1:] if argv is None else argv
    wizard_only, preset = wizard_preset(argv)
    if wizard_only:
        from tui.launch import launch_wizard

        return launch_wizard(preset)
    from engine.cli.main import build_parser
    from engine.cli.main import main as engine_main

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
