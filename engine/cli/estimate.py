"""`sft-wizard estimate`: the estimate for a preset, as text or JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from engine.errors import EXIT_OK
from engine.fit.verdicts import fit_for_config

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig


def run_estimate(config: "RunConfig", gpu_memory: str | None, as_json: bool, logits: str | None = None) -> int:
    """Print the estimate of a config (`logits`: full or chunked, None for the installed TRL's); exit 0."""
    from engine.fit.report import format_fit

    report = fit_for_config(config, gpu_memory, logits)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_fit(report, f"{config.name} ({config.model.name_or_path})"))
    return EXIT_OK
