"""Step 7: every problem and warning, the preset as YAML, the equivalent script; save or train."""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import HorizontalScroll, Vertical
from textual.widgets import Button, Label, Static, TabbedContent, TabPane

from tui.wizard.decisions import run_text
from tui.wizard.import_report import show_import_report
from tui.wizard.messages import ConfigEdited, RunOpened, TrainingRequested
from tui.wizard.steps.base import Step

if TYPE_CHECKING:
    from tui.wizard.messages import CheckReady


def optimized_text(config) -> Text:
    """What `optimize` (fit and fast) changed in this config, one line per change; empty when nothing."""
    record = config.optimized or {}
    text = Text()
    if record.get("changes"):
        text.append(f"fit and fast changed {len(record['changes'])} setting(s):\n", style="bold")
        for change in record["changes"]:
            text.append(f"  {change.get('setting')}: {change.get('from')} → {change.get('to')}  ", style="cyan")
            text.append(f"({change.get('reason')})\n", style="dim")
    return text


def _near(path: Path) -> str:
    """A run directory as short as it can be said: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class ReviewStep(Step):
    """The last look before saving (ctrl+s) or training (ctrl+t)."""

    BINDINGS = [Binding("ctrl+l", "launch_files", "Launch files", show=False,
                        tooltip="Write accelerate configs, a Slurm script and a torchrun script for several machines")]

    def compose(self) -> ComposeResult:
        yield Label("Review: ctrl+s saves a preset, ctrl+t starts training", classes="title")
        yield Static("checking…", id="check-result")
        with Vertical(id="run-dir-offers"):  # one per line: a directory's name can be long
            yield Button("", id="use-free-run-dir", compact=True)
            yield Button("", id="resume-run", compact=True)
            yield Button("", id="open-run", compact=True)
        yield Static("", id="review-optimized")
        yield Static("", id="review-import")
        yield Static("", id="review-run")
        with TabbedContent(id="review-tabs"):
            with TabPane("Preset YAML", id="tab-yaml"):
                with HorizontalScroll(classes="code-view"):  # long lines scroll sideways (left/right), never wrap
                    yield Static("", id="review-yaml")
            with TabPane("Python script", id="tab-script"):
                with HorizontalScroll(classes="code-view"):
                    yield Static("", id="review-script")

    def load_values(self, config) -> None:
        changes = self.query_one("#review-optimized", Static)
        changes.update(optimized_text(config))
        changes.display = bool(config.optimized)
        show_import_report(self.query_one("#review-import", Static), self.state.import_report)
        self.query_one("#review-run", Static).update(run_text(config, self.state.hardware()))
        self.query_one("#review-yaml", Static).update(Syntax(config.to_yaml(width=self._text_width()), "yaml", theme="ansi_dark"))
        try:
            from engine.outputs.script import export_script

            script = export_script(config, self.state.hardware())
        except Exception as exc:  # a config the script cannot express yet (e.g. missing model)
            script = f"# not available until the problems above are fixed: {exc}"
        self.query_one("#review-script", Static).update(Syntax(script, "python", theme="ansi_dark"))

    def _text_width(self) -> int:
        """Where the YAML view folds long values (as YAML folds text), so its lines fit the view."""
        return max(40, (self.scrollable_content_region.width or 80) - 12)  # PyYAML folds after the word that passes it

    def focus_first(self) -> None:
        super().focus_first()
        self.call_after_refresh(self.scroll_home, animate=False)

    def show_check(self, message: "CheckReady") -> None:
        """List problems (red) and warnings (yellow), or say all is well."""
        text = Text()
        if not message.problems:
            text.append("✓ no problems: ready to train\n", style="bold green")
        for problem in message.problems:
            text.append(f"✗ {problem}\n", style="red")
        for warning in message.warnings:
            text.append(f"! {warning}\n", style="yellow")
        self.query_one("#check-result", Static).update(text)
        self._offer_for_run_dir(any(p.field == "training.output_dir" for p in message.problems))
        if getattr(self.parent, "current", None) == self.id:
            self.load_values(self.config)

    def _offer_for_run_dir(self, taken: bool) -> None:
        """When the run directory holds an earlier run: a free directory, resuming it, or opening it, as buttons."""
        from engine.record.liveness import read_status
        from engine.record.rundir import free_run_dir, holds_a_run, latest_checkpoint, run_dir_of

        run_dir = run_dir_of(self.config)
        taken = taken and holds_a_run(run_dir)
        self.query_one("#run-dir-offers").display = taken
        if not taken:
            return
        status, checkpoint = read_status(run_dir), latest_checkpoint(run_dir)
        self.query_one("#use-free-run-dir", Button).label = f"Train in {_near(free_run_dir(run_dir))} instead"
        resume = self.query_one("#resume-run", Button)
        resume.display = checkpoint is not None and status in ("stopped", "died", "failed")
        resume.label = f"Resume from {PurePath(checkpoint).name}" if checkpoint else ""
        self.query_one("#open-run", Button).label = f"Open the run in {_near(Path(run_dir))}"

    @on(Button.Pressed, "#use-free-run-dir")
    def use_free_run_dir(self) -> None:
        from engine.record.rundir import free_run_dir, run_dir_of

        self.config.training["output_dir"] = str(free_run_dir(run_dir_of(self.config)))
        self.query_one("#run-dir-offers").display = False
        self.app.set_focus(None)  # the pressed button is hidden now: the focus goes back to the step's first control
        self.call_after_refresh(self.focus_first)
        self.post_message(ConfigEdited("training"))

    @on(Button.Pressed, "#resume-run")
    def resume_run(self) -> None:
        from engine.record.rundir import latest_checkpoint, run_dir_of

        self.post_message(TrainingRequested(resume=latest_checkpoint(run_dir_of(self.config))))

    @on(Button.Pressed, "#open-run")
    def open_run(self) -> None:
        from engine.record.rundir import run_dir_of

        self.post_message(RunOpened(str(run_dir_of(self.config))))

    def action_launch_files(self) -> None:
        from tui.wizard.launch_dialog import LaunchFilesDialog

        self.app.push_screen(LaunchFilesDialog(self.config.copy()))
