"""Step 1: a new run, a saved preset, a file to import, or a recent run to open."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from engine.errors import UserError
from tui.wizard.import_report import ImportReport, report_text
from tui.wizard.messages import ConfigChosen, RunOpened
from tui.wizard.steps.base import Step

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.record.recent import RunSummary


FINISHED = (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED)
"""A worker's states once it has ended."""


class StartStep(Step):
    """Where a run comes from."""

    draft = None
    """The unsaved config kept from an earlier session (engine.config.draft.Draft), if any."""
    _runs_listing: Worker | None = None
    """The worker reading the recent runs while it reads: only the newest one's answer is listed."""
    shows_config = False

    def compose(self) -> ComposeResult:
        yield Label("Start: pick a preset, start fresh, import tutorial code, or open a recent run", classes="title")
        yield OptionList(id="start-options")

    def open_import(self) -> None:
        """Show the path field under the choices and focus it (made when first chosen: the first screen is lighter)."""
        if not self.query("#import-path"):
            path = Input(compact=True, placeholder="path of a .py, .ipynb or YAML file, then enter (read, never run)",
                         id="import-path")
            report = VerticalScroll(Static("", id="import-result"), id="import-report")  # height-limited, arrows scroll
            self.mount(path, report)
        self.call_after_refresh(lambda: self.query_one("#import-path", Input).focus())

    def load_values(self, config) -> None:
        self._list_options()  # a new run's Start is shown just after the first frame, so that frame never waits for it

    def _list_options(self) -> None:
        """The draft (if any), a new run, an import and every preset; the recent runs follow from a thread."""
        from engine.config.draft import load_draft
        from engine.config.presets import list_presets

        options = self.query_one("#start-options", OptionList)
        options.clear_options()
        self.draft = None if self.state.unsaved else load_draft()  # this session's own edits are not offered back
        if self.draft is not None:
            saved = time.strftime("%b %d %H:%M", time.localtime(self.draft.saved_at))
            options.add_option(Option(Text.assemble(("Restore unsaved draft", "bold yellow"),
                                                    f"  {self.draft.model_name or 'no model yet'}, "
                                                    f"edited {saved}, never saved"), id="draft"))
        options.add_option(Option(Text.assemble(("New run", "bold"), "  tiny-demo on the demo data, change anything"), id="new"))
        options.add_option(Option(Text.assemble(("Import a file", "bold"), "  tutorial code, or a LLaMA-Factory/Axolotl/TRL YAML"),
                                  id="import"))
        options.add_option(None)
        for preset in list_presets():
            options.add_option(Option(Text.assemble(("preset ", "dim"), (preset.name, "bold"), f"  {preset.description}"),
                                      id=f"preset:{preset.path}"))
        options.highlighted = 0
        self._runs_listing = self.find_recent_runs()

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False)
    def find_recent_runs(self) -> list[RunSummary]:
        """The recent runs, newest first: each one's events are read, which a long run makes slow."""
        from engine.record.recent import find_runs

        return find_runs(self.state.runs_root)

    @property
    def listed(self) -> bool:
        """Whether every choice is listed, the recent runs included."""
        return self._runs_listing is None

    @on(Worker.StateChanged)
    def runs_found(self, event: Worker.StateChanged) -> None:
        """List the recent runs under the presets, or say why they could not be read."""
        if event.worker is not self._runs_listing or event.state not in FINISHED:
            return  # an import's worker, or a listing that a newer one replaced
        self._runs_listing = None
        if event.state == WorkerState.CANCELLED:  # the app is quitting
            return
        if event.state == WorkerState.ERROR:
            self.notify(f"recent runs could not be listed: {event.worker.error}", severity="warning", timeout=8)
            return
        runs = event.worker.result
        options = self.query_one("#start-options", OptionList)
        if runs:
            options.add_option(None)
        if len(runs) > 1:
            options.add_option(Option(Text.assemble(("Compare runs", "bold"), "  side by side: settings, losses, scores, curves"),
                                      id="compare"))
        for run in runs:
            loss = f"loss {run.final_loss:.3f}" if run.final_loss is not None else "no loss yet"
            options.add_option(Option(Text.assemble(("run ", "dim"), (run.name, "bold"), f"  {run.status}, {loss}, {run.date}  ",
                                                    (str(run.path), "dim")), id=f"run:{run.path}"))

    @on(OptionList.OptionSelected, "#start-options")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        choice = event.option.id or ""
        if choice == "import":
            self.open_import()
            return
        if self.workers.cancel_group(self, "import"):  # a choice made while a file is read wins: its import is dropped
            self.query_one("#import-result", Static).update(Text("import cancelled: another choice was made", style="dim"))
        if choice == "draft" and self.draft is not None:
            config, not_restored = self.draft.restore()
            for problem in not_restored:
                self.notify(f"not restored: {problem}", severity="warning", timeout=8)
            self.post_message(ConfigChosen(config, "review", unsaved=True))
        elif choice == "new":
            from engine.config.presets import new_run_config
            from engine.record.rundir import free_run_dir

            config = new_run_config()
            config.training["output_dir"] = str(free_run_dir(Path(self.state.runs_root) / config.name))
            self.post_message(ConfigChosen(config, "model"))
        elif choice.startswith("preset:"):
            self._load_preset(choice.split(":", 1)[1])
        elif choice.startswith("run:"):
            self.post_message(RunOpened(choice.split(":", 1)[1]))
        elif choice == "compare":
            from tui.monitor.runs_view import RunsScreen

            self.app.push_screen(RunsScreen(self.state.runs_root))

    def _load_preset(self, path: str) -> None:
        from engine.config.presets import load_preset

        try:
            config, warnings, _ = load_preset(path)
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        for warning in warnings:
            self.notify(warning, severity="warning", timeout=8)
        self.post_message(ConfigChosen(config, "review"))

    @on(Input.Submitted, "#import-path")
    def import_code(self, event: Input.Submitted) -> None:
        """Say which file is being read and read it in a worker (a TRL config's data read imports `datasets`)."""
        path = event.value.strip()
        self.query_one("#import-report", VerticalScroll).display = True
        self.query_one("#import-result", Static).update(Text(f"reading {path}…", style="dim"))
        self.read_import(path)

    @work(thread=True, exclusive=True, group="import", exit_on_error=False)
    def read_import(self, path: str) -> tuple[RunConfig, ImportReport]:
        """The imported config and its report; a UserError is the worker's error, shown by `import_read`."""
        from engine.importing.detect import preset_from_file

        imported = preset_from_file(path)
        return imported.config, ImportReport.of(imported, path)

    @on(Worker.StateChanged)
    def import_read(self, event: Worker.StateChanged) -> None:
        """Show the newest import's report and hand its config to the app, or show why it could not be read."""
        if event.worker.group != "import" or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return  # a newer import cancelled this one: its result is never shown
        result_view = self.query_one("#import-result", Static)
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            said = str(error) if isinstance(error, UserError) else f"the import failed: {type(error).__name__}: {error}"
            result_view.update(Text(said, style="red"))
            return
        config, report = event.worker.result
        result_view.update(report_text(report) + Text("\nctrl+n: each step in turn, ctrl+g: Review", style="dim"))
        self.post_message(ConfigChosen(config, None, unsaved=True, import_report=report))
        self.query_one("#import-report", VerticalScroll).scroll_home(animate=False)
        self.call_after_refresh(self._show_import_report)

    def _show_import_report(self) -> None:
        """Focus the report (arrows and page keys scroll it) and scroll the step to its end: all of it in view at 80x24."""
        self.query_one("#import-report", VerticalScroll).focus(scroll_visible=False)
        self.scroll_end(animate=False)
