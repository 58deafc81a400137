"""The live training monitor: progress, loss, memory and log panels over the run's event stream.

Training (in-process, a plain thread) or a followed events.jsonl (attach) puts events on a
queue without ever waiting for the UI; a timer drains the queue a few times a second and redraws.
"""

from __future__ import annotations

import queue
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import RichLog, Static

from engine.record.state import RunState, format_duration
from engine.units import gib
from tui.monitor.after_run import AfterRunActions
from tui.monitor.charts import LineChart, Series, smooth
from tui.monitor.panels import ZOOM_POINTS, log_line, memory_series, stats_text
from tui.monitor.progress import ProgressLine, run_progress
from tui.monitor.sources import AttachedRun, InProcessRun, RunSource
from tui.shared.footer import KeysFooter

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.fit.verdicts import Recommendation

REDRAW_SECONDS = 0.5
"""How often queued events are applied and panels redrawn (2 Hz: live enough, cheap for training)."""


class MonitorScreen(AfterRunActions, Screen[None]):
    """Watches one run: live in this process, live in another (attach), or finished (replay)."""

    CSS_PATH = "monitor.tcss"  # read into the app's styles when the first of the monitor's screens opens

    class Closed(Message):
        """The user left the monitor; `fix` is the out-of-memory change to apply in the wizard, if asked for."""

        def __init__(self, fix: "Recommendation | None" = None, to_wizard: bool = False) -> None:
            self.fix = fix
            self.to_wizard = to_wizard
            super().__init__()

    BINDINGS = [
        Binding("s", "stop", "Stop", id="stop", tooltip="Stop after this step, saving a checkpoint and final/"),
        Binding("c", "checkpoint", "Checkpoint", id="checkpoint", tooltip="Save a checkpoint after this step"),
        Binding("p", "pause", "Pause", id="pause", tooltip="Pause at the next step boundary, or resume"),
        Binding("z", "zoom", "Zoom", id="zoom", tooltip=f"Show only the last {ZOOM_POINTS} points"),
        Binding("e", "smoothing", "Smooth", id="smooth", tooltip="Smooth the train loss curve"),
        Binding("t", "try_prompt", "Try", id="try", tooltip="Generate from base and fine-tuned models"),
        Binding("m", "merge", "Merge", id="merge", tooltip="Merge the adapter into full weights"),
        Binding("g", "export_gguf", "GGUF", id="gguf", tooltip="Export a q8_0 GGUF with an Ollama Modelfile, checked"),
        Binding("v", "eval_view", "Eval", id="eval", tooltip="Base against fine-tuned on the held-out rows, worst rows"),
        Binding("w", "back_to_wizard", "Wizard", id="wizard", tooltip="Back to the wizard (with the fix applied)"),
        Binding("r", "resume", "Resume", id="resume", tooltip="Resume a stopped or died run from its last checkpoint"),
        Binding("q", "quit_monitor", "Quit", id="quit_monitor"),
        # Hides the app's ctrl+q from the footer (the wizard shows it): the footer shows a key's first priority binding
        # along the chain, screen first, while a key press runs the app's first. ctrl+q still quits.
        Binding("ctrl+q", "app.quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, source: RunSource) -> None:
        super().__init__()
        self.source = source
        self.state = RunState()
        self.zoomed = False
        self.smoothing = 0.0
        self.estimate_bytes: int | None = None
        self.fix: "Recommendation | None" = None
        self._shown: dict[str, Text] = {}
        """The text each Static shows, by selector."""
        self.resumable = False
        """Whether the ended run can go on from a checkpoint (stopped, failed or died, with one, and its config)."""

    @classmethod
    def for_training(cls, config: "RunConfig", output_dir: str | None = None, resume: str | None = None,
                     gpu: str | None = None, allow_changes: bool = False) -> "MonitorScreen":
        """A monitor that trains config in this process (on `gpu` when one was picked)."""
        return cls(InProcessRun(config, output_dir, resume, gpu, allow_changes))

    @classmethod
    def for_run_dir(cls, run_dir: str) -> "MonitorScreen":
        """A monitor over an existing run directory (live or finished)."""
        return cls(AttachedRun(run_dir))

    def compose(self) -> ComposeResult:
        with Vertical(id="monitor"):
            yield Static("", id="run-title")
            yield ProgressLine(id="progress-row")
            with Horizontal(id="charts"):
                loss = LineChart(id="loss-chart")
                loss.border_title = "loss [cyan]train[/] · [magenta]eval[/]"  # the colours are the legend
                yield loss
                memory = LineChart(fmt="{:.2f}", id="memory-chart")
                memory.border_title = "memory GiB"
                yield memory
            yield Static("", id="stats")
            yield RichLog(id="log", max_lines=500, wrap=True, markup=False)
        yield KeysFooter(compact=True)

    def on_mount(self) -> None:
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.source.start(self.events.put)
        self.set_interval(REDRAW_SECONDS, self.drain)

    def drain(self) -> None:
        """Apply queued events and redraw once (never per event)."""
        changed = False
        log = self.query_one("#log", RichLog)
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            changed = True
            self.state.apply(event)
            self.estimate_bytes = self.state.estimate_bytes or self.estimate_bytes
            line = log_line(event)
            if line is not None:
                log.write(line)
            if event.get("event") == "end":
                self.finished(event)
        if changed:
            self.redraw()
        elif not self.state.finished:
            self._draw_progress()  # only the clock moved

    def redraw(self) -> None:
        """Draw every panel from the state."""
        state = self.state
        self._draw_progress()
        train, evals = state.train_loss, state.eval_loss
        if self.zoomed:
            train = train[-ZOOM_POINTS:]
            evals = [p for p in evals if train and p[0] >= train[0][0]]
        self.query_one("#loss-chart", LineChart).set_data(
            [Series("train", smooth(train, self.smoothing), "cyan"), Series("eval", evals, "magenta")])
        self.query_one("#memory-chart", LineChart).set_data(*memory_series(self.state, self.estimate_bytes, self.zoomed))
        self._show("#stats", stats_text(self.state, self.estimate_bytes))

    def _show(self, selector: str, text: Text) -> None:
        """Put text in a Static unless it is there already; reflow the screen only when its height changes.

        An update repaints the widget; a reflow lays out every panel again, which training would pay for.
        """
        shown = self._shown.get(selector)
        if shown == text:
            return
        self._shown[selector] = text
        static = self.query_one(selector, Static)
        width = static.content_size.width or self.size.width
        layout = shown is None or len(text.wrap(self.app.console, width)) != len(shown.wrap(self.app.console, width))
        static.update(text, layout=layout)

    def _draw_progress(self) -> None:
        state = self.state
        title = Text.assemble((state.name or self.source.label, "bold"), f"  {self.source.kind}  ",
                              (state.phase, _PHASE_STYLE.get(state.phase, "bold")),
                              f"  elapsed {format_duration(state.elapsed())}  {state.devices} {state.precision}".rstrip())
        self._show("#run-title", title)
        self.query_one("#progress-row", ProgressLine).show(run_progress(state))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The keys that apply now, and only those in the footer: run controls while it trains, the rest after it.

        All of them at once do not fit in 80 columns.
        """
        if action in _WHILE_TRAINING:
            return not self.state.finished and self.source.controllable
        if action in _NEED_FINAL_MODEL:
            return self.has_final_model
        if action == "resume":
            return self.resumable
        if action == "back_to_wizard":
            return self.state.finished
        return True

    def finished(self, event: dict) -> None:
        """React to the end of the run: the keys that apply, summary, and for OOM the fix from the memory-fit engine."""
        from engine.record.rundir import latest_checkpoint

        status = event.get("status")
        self.resumable = (status in ("stopped", "failed", "died") and latest_checkpoint(self.source.run_dir) is not None
                          and self.source.config() is not None)
        self.refresh_bindings()
        if status == "failed" and "out of memory" in str(event.get("message", "")).lower():
            self.fix = self.source.oom_fix(self.state.device_free_bytes or self.state.device_total_bytes,
                                           self.state.precision or None)
            peak = self.state.peak_memory_bytes
            self.query_one("#log", RichLog).write(Text(
                f"out of memory: estimated {gib(self.estimate_bytes or 0)}, last measured "
                f"{gib(peak) if peak else 'n/a'} of {gib(self.state.device_total_bytes or 0)}", style="bold red"))
            if self.fix:
                self.query_one("#log", RichLog).write(Text(
                    f"recommended: {self.fix.description} (predicted {gib(self.fix.total_bytes)}); press w to "
                    "return to the wizard with it applied", style="bold yellow"))
        if self.source.controllable or isinstance(self.source, InProcessRun):  # watched live, not a replay
            self.notify(f"run {status}: {event.get('message')}",
                        severity="information" if status == "completed" else "warning")
        if isinstance(self.source, InProcessRun) and self.source.stopped_from_outside:
            self.app.exit(0)  # a signal or `sft-wizard stop` ends the program as headless: the launcher returns 130

    # actions -------------------------------------------------------------------------------------
    def action_stop(self) -> None:
        if self.state.finished or not self.source.controllable:
            self.notify("The run is not running.")
            return
        from tui.shared.dialogs import ConfirmDialog

        self.app.push_screen(ConfirmDialog("Stop training after this step? A checkpoint and final/ are saved.",
                                           "Stop", "Keep training"),
                             lambda yes: self._stop() if yes else None)

    def _stop(self) -> None:
        self.source.stop()
        self.notify("Stopping after this step…")

    def action_checkpoint(self) -> None:
        if self.source.controllable and not self.state.finished:
            self.source.checkpoint()
            self.notify("A checkpoint will be saved after this step.")

    def action_pause(self) -> None:
        if self.source.controllable and not self.state.finished:
            paused = self.source.toggle_pause()
            self.notify("Pausing at the next step…" if paused else "Resuming.")

    def action_zoom(self) -> None:
        self.zoomed = not self.zoomed
        self.redraw()

    def action_smoothing(self) -> None:
        self.smoothing = 0.0 if self.smoothing else 0.8
        self.redraw()

    def action_resume(self) -> None:
        if not self.resumable:
            self.notify("Resume needs a stopped, failed or died run with a checkpoint.")
            return
        if InProcessRun.training_now() is not None:
            self.notify("A run is already training in this process.", severity="warning")
            return
        self.app.switch_screen(MonitorScreen.for_training(self.source.config(), output_dir=self.source.run_dir,
                                                          resume="latest"))

    def action_back_to_wizard(self) -> None:
        if not self.state.finished:
            self.notify("The wizard is available after the run.")
            return
        self.source.close()
        self.post_message(self.Closed(self.fix, to_wizard=True))

    def action_quit_monitor(self) -> None:
        if self.state.finished or not isinstance(self.source, InProcessRun):
            self._leave()
            return
        from tui.shared.dialogs import ConfirmDialog

        self.app.push_screen(ConfirmDialog("Training is running in this process. Detach (it finishes in the "
                                           "background; `sft-wizard attach` reopens it) or stop it?",
                                           "Detach", "Stop it"),
                             self._quit_answer)

    def _quit_answer(self, detach: bool) -> None:
        if not detach:
            self._stop()
            return
        self.app.exit(0)  # the launcher sees the run still training and detaches it

    def _leave(self) -> None:
        self.source.close()
        self.post_message(self.Closed())


_WHILE_TRAINING = frozenset({"stop", "checkpoint", "pause"})
_NEED_FINAL_MODEL = frozenset({"try_prompt", "eval_view", "merge", "export_gguf"})
_PHASE_STYLE = {"training": "bold green", "done": "bold green", "failed": "bold red", "died": "bold red",
                "stopped": "bold yellow", "stopping": "bold yellow", "paused": "bold yellow"}
