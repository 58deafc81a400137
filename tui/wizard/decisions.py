"""What a run will train with, in the words the Method and Review steps state: precision and run directory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.machine.hardware import HardwareReport


def precision_text(config: "RunConfig", hardware: "HardwareReport") -> str:
    """The precision training will use on this hardware, as the Hardware step's decision line says it."""
    from engine.config.resolve import resolve_precision

    decision, _ = resolve_precision(config, hardware)
    return decision.summary(hardware.training_gpu is not None)


def run_text(config: "RunConfig", hardware: "HardwareReport") -> Text:
    """Review's lines: the run directory resolved to an absolute path, and the precision."""
    from engine.record.rundir import run_dir_of

    text = Text.assemble(("run directory: ", "bold"), str(run_dir_of(config).resolve()))
    if not Path(config.output_dir).expanduser().is_absolute():
        text.append(f"  (training.output_dir {config.output_dir}, from the working directory)", style="dim")
    text.append("\nprecision: ", style="bold")
    text.append(precision_text(config, hardware))
    return text
