"""The Review step's dialog that writes multi-node launch files (what `sft-wizard export-launch` writes)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import Number
from textual.widgets import Button, Input, Label, Static

from engine.config.run_config import RunConfig
from engine.errors import UserError


class LaunchFilesDialog(ModalScreen["list[str] | None"]):
    """Nodes, GPUs per node and a folder; then accelerate configs, a Slurm script and a torchrun script in it."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Launch files for several machines ({self.config.distributed.strategy})")
            yield Label("nodes")
            yield Input("2", id="launch-nodes", type="integer", validators=[Number(minimum=1)])
            yield Label("GPUs per node")
            yield Input(str(max(self.config.distributed.processes, 1)), id="launch-gpus", type="integer",
                        validators=[Number(minimum=1)])
            yield Label("folder")
            yield Input(f"launch-{self.config.name}", id="launch-folder")
            yield Static("", id="launch-error")
            with Horizontal(classes="buttons"):
                yield Button("Write (Enter)", id="write", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#write")
    def write(self) -> None:
        from engine.outputs.export_launch import LaunchPlan, export_launch

        try:
            nodes, gpus = (int(self.query_one(f"#launch-{key}", Input).value or 0) for key in ("nodes", "gpus"))
            written = export_launch(self.config, LaunchPlan(nodes, gpus), self.query_one("#launch-folder", Input).value)
        except (UserError, ValueError) as exc:
            self.query_one("#launch-error", Static).update(f"[red]{exc}[/]")
            return
        self.app.notify(f"Wrote {len(written)} files to {written[0].parent}; submit with sbatch train.sbatch")
        self.dismiss([str(path) for path in written])

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
