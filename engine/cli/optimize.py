"""`sft-wizard optimize`: the same run with the fastest settings that fit, each change printed, written as a preset."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from engine.cli.common import add_preset_arguments, load
from engine.errors import EXIT_OK
from engine.units import gib

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.fit.optimize import Plan


def format_plan(plan: "Plan") -> str:
    """Every change with its reason and predicted memory and speed effect, then what stays the same."""
    machine = plan.machine
    lines = [f"planning for {machine.name}: {gib(machine.capacity_bytes)}; predicted peak "
             f"{gib(plan.before_bytes)} -> {gib(plan.after_bytes)}"]
    if not plan.changes:
        lines.append("no change: these settings are already the fastest that fit")
    for change in plan.changes:
        lines.append(f"- {change.setting}: {change.before} -> {change.after}")
        lines.append(f"    why: {change.reason}")
        lines.append(f"    memory: {change.memory}" + (f"; speed: {change.speed}" if change.speed else ""))
    before, after = plan.effective_batch
    kept = (f"effective batch {after} per process kept (micro-batch x accumulation; x processes when run on several)"
            if before == after else f"about the same tokens per optimizer step ({before} rows -> {after} packed sequences)")
    lines.append(f"unchanged: model, data, learning rate, schedule, epochs; {kept}")
    for note in plan.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `optimize`."""
    optimize = add_preset_arguments(sub.add_parser("optimize", help="the same run with the fastest settings that fit; "
                                                   "same effective batch, each change printed"))
    optimize.add_argument("--gpu-memory", metavar="SIZE|GPU", help="plan for this GPU (24GiB, A100-80G, ...) instead of the local one")
    optimize.add_argument("--output", metavar="FILE", help="where to write the preset (default: your presets folder, NAME-fast)")
    optimize.add_argument("--force", action="store_true", help="overwrite an existing preset")


def run(args: argparse.Namespace) -> int:
    """Print and write the optimized preset."""
    return run_optimize(load(args), args.preset, args.gpu_memory, args.output, args.force)


def run_optimize(config: "RunConfig", source: str, gpu_memory: str | None, output: str | None, force: bool) -> int:
    """Plan, print and write the optimized preset; exit 0."""
    from engine.config.presets import save_preset
    from engine.fit.planning import optimize_for

    plan = optimize_for(config, source, gpu_memory)
    print(format_plan(plan))
    optimized = plan.config
    if not output:
        optimized.name = f"{config.name}-fast"
    path = save_preset(optimized, output or optimized.name, overwrite=force)
    print(f"wrote {path}")
    return EXIT_OK
