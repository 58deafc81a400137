"""`sft-wizard presets`: the bundled and user presets with their source and description."""

from __future__ import annotations

import argparse

from engine.errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `presets`."""
    sub.add_parser("presets", help="list bundled and user presets")


def run(args: argparse.Namespace) -> int:
    """List presets with their source and description."""
    from engine.config.presets import list_presets
    from engine.paths import user_presets_dir

    presets = list_presets()
    width = max((len(p.name) for p in presets), default=10)
    for preset in presets:
        print(f"{preset.name:<{width}}  {preset.source:<7}  {preset.description}")
    print(f"\nuser presets: {user_presets_dir()}")
    return EXIT_OK
