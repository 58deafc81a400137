"""What a run will train with, in the words the Method and Review steps state."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.machine.hardware import HardwareReport


def precision_text(config: "RunConfig", hardware: "HardwareReport") -> str:
    """The precision training will use on this hardware, as the Hardware step's decision line says it."""
    from engine.config.resolve import resolve_precision

    decision, _ = resolve_precision(config, hardware)
    return decision.summary(hardware.training_gpu is not None)

