"""`sft-wizard import`: tutorial code or another tool's config into a preset, without running it; says what was read."""

from __future__ import annotations

import argparse

from engine.cli.common import print_warnings
from engine.errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `import`."""
    imp = sub.add_parser("import", help="turn tutorial code or another tool's config into a preset, without running it")
    imp.add_argument("file", metavar="FILE", help="a .py script, a marimo app, a .ipynb notebook, or a LLaMA-Factory, "
                                                  "Axolotl or `trl sft --config` YAML")
    imp.add_argument("--output", help="where to write the preset (default: your presets folder)")
    imp.add_argument("--name", help="preset name (default: the file's name)")
    imp.add_argument("--force", action="store_true", help="overwrite an existing preset")


def run(args: argparse.Namespace) -> int:
    """Read tutorial code or another tool's config into a preset file and say what was and was not read."""
    from engine.config.presets import save_preset
    from engine.importing.detect import preset_from_file

    imported = preset_from_file(args.file, args.name)
    result, to_complete = imported.result, imported.to_complete
    path = save_preset(imported.config, args.output or imported.config.name, overwrite=args.force)
    print(f"read ({len(result.read)}):")
    for line in result.read:
        print(f"  {line}")
    if result.not_read:
        print(f"not read ({len(result.not_read)}):")
        for line in result.not_read:
            print(f"  {line}")
    print_warnings(imported.warnings)
    print(f"wrote {path}")
    if to_complete:
        print("to complete before training (edit the file or use --set):")
        for problem in to_complete:
            print(f"  {problem}")
    return EXIT_OK
