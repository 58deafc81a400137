"""The wizard's background analyses as plain functions of picklable data.

The TUI runs them in a separate process, so importing torch/transformers and tokenising data
never holds the UI process's GIL (no freeze while typing); the probe, which trains, gets a fresh
process of its own on the chosen GPU (tui.wizard.job_processes.JobProcesses.run_alone), so no CUDA memory outlives it.
"""

from __future__ import annotations

from typing import Any

from engine.errors import UserError


def estimate_for(config: Any, hardware: Any) -> tuple[Any, Any, str | None]:
    """(FitReport, ModelStructure, problem) for a config on the given hardware."""
    from engine.config.resolve import resolve_precision
    from engine.fit.verdicts import default_targets, fit_report
    from engine.models.structure import model_structure

    try:
        structure = model_structure(config.model)
        mixed = resolve_precision(config, hardware)[0].mixed
        return fit_report(config, structure, default_targets(hardware, None), mixed), structure, None
    except UserError as exc:
        return None, None, str(exc)


def preview_for(config: Any) -> Any:
    """The dataset preview (engine.data.preview.DataPreview) of a config."""
    from engine.data.preview import dataset_preview

    return dataset_preview(config)


def check_for(config: Any, hardware: Any) -> tuple[list[str], list[str]]:
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


def optimize_for_wizard(config: Any, hardware: Any) -> tuple[Any, str | None]:
    """(Plan, problem): `sft-wizard optimize` of a config for the local GPU (or this CPU)."""
    from engine.fit.planning import optimize_for

    try:
        return optimize_for(config, config.name, None, hardware=lambda: hardware), None
    except UserError as exc:
        return None, str(exc)


def probe_for(config: Any, steps: int = 2) -> tuple[Any, str | None]:
    """(ProbeResult, problem): a few real training steps, measured (run it in a process of its own)."""
    from engine.run.probe import run_probe, save_probe

    try:
        result = run_probe(config, steps=steps, random_init=False)
        save_probe(config, result)
        return result, None
    except UserError as exc:
        return None, str(exc)
