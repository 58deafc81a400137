"""The Review step's dialog that writes multi-node launch files (what `sft-wizard export-launch` writes)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.validation import Number
from textual.widgets import Button, Input, Label

from engine.config.run_config import RunConfig
from engine.errors import UserError
from tui.shared.dialogs import FormDialog


class LaunchFilesDialog(FormDialog):
    """Nodes, GPUs per node and a folder; then accelerate configs, a Slurm script and a torchrun script in it."""

    SUBMIT = ("Write (Enter)", "write")

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config

    def fields(self) -> ComposeResult:
        yield Label(f"Launch files for several machines ({self.config.distributed.strategy})")
        yield Label("nodes")
        yield Input("2", id="launch-nodes", type="integer", validators=[Number(minimum=1)])
        yield Label("GPUs per node")
        yield Input(str(max(self.config.distributed.processes, 1)), id="launch-gpus", type="integer",
                    validators=[Number(minimum=1)])
        yield Label("folder")
        yield Input(f"launch-{self.config.name}", id="launch-folder")

    @on(Input.Submitted)
    @on(Button.Pressed, "#write")
    def write(self) -> None:
        from engine.outputs.export_launch import LaunchPlan, export_launch

        try:
            nodes, gpus = (int(self.query_one(f"#launch-{key}", Input).value or 0) for key in ("nodes", "gpus"))
            written = export_launch(self.config, LaunchPlan(nodes, gpus), self.query_one("#launch-folder", Input).value)
        except (UserError, ValueError) as exc:
            self.show_error(str(exc))
            return
        self.app.notify(f"Wrote {len(written)} files to {written[0].parent}; submit with sbatch train.sbatch")
        self.dismiss([str(path) for path in written])
