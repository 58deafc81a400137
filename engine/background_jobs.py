"""The wizard's background analyses as plain functions of picklable data.

The TUI runs them in a separate process, so importing torch/transformers and tokenising data
never holds the UI process's GIL (no freeze while typing); the probe, which trains, gets a fresh
process of its own on the chosen GPU (tui.wizard.job_processes.JobProcesses.run_alone), so no CUDA memory outlives it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import UserError

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.data.preview import DataPreview
    from engine.fit.optimize import Plan
    from engine.fit.verdicts import FitReport
    from engine.machine.hardware import HardwareReport
    from engine.models.architecture import ModelStructure
    from engine.problems import Problem
    from engine.run.probe import ProbeResult


def estimate_for(config: "RunConfig", hardware: "HardwareReport"
                 ) -> "tuple[FitReport | None, ModelStructure | None, str | None]":
    """(fit report, model structure, problem) for a config on the given hardware."""
    from engine.config.resolve import resolve_precision
    from engine.fit.verdicts import default_targets, fit_report
    from engine.models.structure import model_structure

    try:
        structure = model_structure(config.model)
        mixed = resolve_precision(config, hardware)[0].mixed
        return fit_report(config, structure, default_targets(hardware, None), mixed), structure, None
    except UserError as exc:
        return None, None, str(exc)


def preview_for(config: "RunConfig") -> "DataPreview":
    """The dataset preview of a config: one row as trained, row counts, or the problem."""
    from engine.data.preview import dataset_preview

    return dataset_preview(config)


def check_for(config: "RunConfig", hardware: "HardwareReport") -> "tuple[list[Problem], list[str]]":
    """(problems, warnings) as `sft-wizard check` finds them."""
    from engine.config.parsing import parse_config_collecting
    from engine.run.checks import full_check

    try:
        _, warnings, problems = parse_config_collecting(config.to_dict(), "run")
        if not problems:
            report = full_check(config, hardware)
            problems, warnings = report.problems, warnings + report.warnings
    except UserError as exc:
        problems, warnings = exc.problems, []
    return problems, warnings


def optimize_for_wizard(config: "RunConfig", hardware: "HardwareReport") -> "tuple[Plan | None, str | None]":
    """(plan, problem): `sft-wizard optimize` of a config for the local GPU (or this CPU)."""
    from engine.fit.planning import optimize_for

    try:
        return optimize_for(config, config.name, None, hardware=lambda: hardware), None
    except UserError as exc:
        return None, str(exc)


def probe_for(config: "RunConfig", steps: int = 2) -> "tuple[ProbeResult | None, str | None]":
    """(probe result, problem): a few real training steps, measured (run it in a process of its own)."""
    from engine.run.probe import run_probe, save_probe

    try:
        result = run_probe(config, steps=steps, random_init=False)
        save_probe(config, result)
        return result, None
    except UserError as exc:
        return None, str(exc)
