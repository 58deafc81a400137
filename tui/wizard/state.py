"""What the wizard's steps read and edit: the run config and the newest analysis results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.data.preview import DataPreview
    from engine.fit.verdicts import FitReport
    from engine.machine.hardware import HardwareReport
    from engine.models.architecture import ModelStructure
    from tui.wizard.import_report import ImportReport
    from tui.wizard.messages import CheckReady


@dataclass
class WizardState:
    """One wizard session's shared state; the app owns it and each step holds a reference."""

    made_config: "RunConfig | None"
    """The run config every step edits, as given; None for a new run's, which `config` makes when first asked for."""
    hardware: "Callable[[], HardwareReport]"
    """Where the hardware report comes from (NVML; a fake in tests)."""
    runs_root: str = "runs"
    """Where recent runs are looked for."""
    estimate: "FitReport | None" = None
    """The newest FitReport, or None before the first estimate."""
    structure: "ModelStructure | None" = None
    """The model's ModelStructure from the newest estimate."""
    preview: "DataPreview | None" = None
    """The newest DataPreview."""
    check_result: "CheckReady | None" = None
    """The newest problems and warnings."""
    analysed_from: dict[str, dict] = field(default_factory=dict)
    """Per analysis (estimate, preview, check): the config, as data, that the shown result was computed from."""
    cuda_device: str | None = None
    """UUID of the GPU chosen on the Hardware step (None: CUDA's device 0)."""
    unsaved: bool = False
    """Whether the config holds edits that are neither a saved preset nor a run (kept as the draft)."""
    import_report: "ImportReport | None" = None
    """What importing the config's file said (Review repeats it); None when the config was not imported."""

    @property
    def config(self) -> "RunConfig":
        """The run config every step edits (a new run's is made when first asked for: it imports the config code)."""
        if self.made_config is None:
            from engine.config.presets import new_run_config

            self.made_config = new_run_config()
        return self.made_config

    @config.setter
    def config(self, config: "RunConfig") -> None:
        self.made_config = config
