"""`sft-wizard estimate`: the estimate for a preset, as text or JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from engine.errors import EXIT_OK

if TYPE_CHECKING:
    from engine.config import RunConfig


def fit_for_config(config: "RunConfig", gpu_memory: str | None = None):
    """The FitReport of a config against --gpu-memory or the local GPUs."""
    from engine.fit import default_targets, fit_report
    from engine.hardware import hardware_report
    from engine.modelinfo import model_structure

    return fit_report(config, model_structure(config.model), default_targets(hardware_report(), gpu_memory))


def run_estimate(config: "RunConfig", gpu_memory: str | None, as_json: bool) -> int:
    """Print the estimate of a config; exit 0."""
    from engine.report import format_fit

    report = fit_for_config(config, gpu_memory)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_fit(report, f"{config.name} ({config.model.name_or_path})"))
    return EXIT_OK
