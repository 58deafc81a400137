"""The sft-wizard Textual app: seven wizard steps over one engine RunConfig, and the monitor."""

from __future__ import annotations

import importlib
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Static
from textual.worker import Worker, WorkerState, get_current_worker

from tui.shared.footer import KeysFooter
from tui.wizard.commands import WizardCommands
from tui.wizard.job_processes import JOBS, Cancelled, JobProcesses
from tui.wizard.messages import (
    CheckReady,
    ConfigChosen,
    ConfigEdited,
    EstimateReady,
    LibrariesReady,
    OptimizeReady,
    OptimizeRequested,
    PreviewReady,
    ProbeDone,
    ProbeRequested,
    RunOpened,
    TrainingRequested,
)
from tui.wizard.state import WizardState
from tui.wizard.steps.base import Step
from tui.wizard.steps.shows import AppliesPlan, ShowsCheck, ShowsEstimate, ShowsPreview, ShowsProbe, ShowsProblems
from tui.wizard.widgets import STEP_IDS, StepIndicator

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.machine.hardware import HardwareReport

Shown = TypeVar("Shown")

STEP_CLASSES = {"start": "StartStep", "model": "ModelStep", "hardware": "HardwareStep", "method": "MethodStep",
                "dataset": "DatasetStep", "training": "TrainingStep", "review": "ReviewStep"}
"""The wizard's steps in order: id → class name in tui.wizard.steps.<id> (imported when first needed)."""


def step_class(step_id: str) -> type:
    """The class of a step; only the first step's module is imported before the first screen."""
    module = importlib.import_module(f"tui.wizard.steps.{step_id}")
    return getattr(module, STEP_CLASSES[step_id])


STEPS_CSS = Path(__file__).parent / "steps" / "steps.tcss"
"""The styles of the steps after Start: read with the first screen when it is another step, else right after it."""
FIRST_FRAME_SECONDS = 0.03
"""How long a frame of the first screen has to reach the terminal before more work starts."""
REFRESH_DELAY = 0.3
"""Seconds of quiet after an edit before estimates and checks rerun (typing stays smooth)."""
STEP_ACTIONS = frozenset({"next_step", "previous_step", "go", "save_preset", "start_training"})
"""The wizard's keys that act on its steps: off, and out of the footer, while another screen is on top."""
START_HIDES = frozenset({"previous_step", "save_preset", "start_training"})
"""The step keys that do not apply on Start: hidden there."""


def _this_machine() -> HardwareReport:
    """This machine's GPUs, CPU and memory, read through NVML (its module is imported after the first screen)."""
    from engine.machine.hardware import hardware_report

    return hardware_report()


class WizardApp(App[int]):
    """Model → hardware → method → dataset → training → review, then the live monitor."""

    CSS_PATH = "../sft_wizard.tcss"
    TITLE = "sft-wizard"
    COMMANDS = App.COMMANDS | {WizardCommands}
    COMMAND_PALETTE_BINDING = "ctrl+o"  # ctrl+k/ctrl+p are taken (Input editing, Back)
    BINDINGS = [
        Binding("ctrl+n", "next_step", "Next", id="next", tooltip="Go to the next step"),
        Binding("ctrl+p", "previous_step", "Back", id="back", tooltip="Go to the previous step"),
        # Not in the footer, so Method's extra keys fit 80 columns; the step bar and the palette show the way.
        Binding("ctrl+g", "go('review')", "Review", id="review", tooltip="Jump to Review", show=False),
        Binding("ctrl+s", "save_preset", "Save", id="save", tooltip="Save the run as a preset"),
        Binding("ctrl+t", "start_training", "Train", id="train", tooltip="Start training this run"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    def __init__(self, config: RunConfig | None = None, start_step: str = "start", runs_root: str = "runs",
                 warm_imports: bool = True, hardware: Callable[[], HardwareReport] | None = None,
                 jobs: JobProcesses = JOBS) -> None:
        super().__init__(css_path=None if start_step == "start" else [self.CSS_PATH, STEPS_CSS])
        self.state = WizardState(config, hardware or _this_machine, runs_root)
        """The config the steps edit and the newest analysis results."""
        self.first_step = start_step
        self.warm_imports = warm_imports
        self._refresh_timer: Timer | None = None
        self._edited_sections: set[str] = set()
        """The config sections edited since the analyses last ran."""
        self._analysis_started = time.perf_counter()
        self._train_when_checked: tuple[str | None] | None = None
        """Training asked for (with its resume checkpoint) while the analyses were still running."""
        self.started_at = time.perf_counter()
        self._requests: dict[str, int] = {}
        self._answered: dict[str, int] = {}
        self._requested_from: dict[str, dict] = {}
        """The config (as data) each kind's newest request was made from."""
        self.jobs = jobs
        """The processes the background analyses and the probe run in (the UI process never imports torch)."""
        self.jobs.open_pool()
        self.first_paint_seconds: float | None = None

    def compose(self) -> ComposeResult:
        yield StepIndicator(self.first_step, id="steps")
        with ContentSwitcher(id="switcher", initial=self.first_step):
            # Only the first step before the first paint; the others are mounted right after it.
            yield step_class(self.first_step)(self.state, id=self.first_step)
        yield Static("", id="status-line")
        yield KeysFooter(compact=True)

    def on_mount(self) -> None:
        from tui.hangup import exit_on_hangup

        exit_on_hangup(self)
        # A new run's config is made after the first screen (it imports the config code), so its step loads then.
        new_run = self.state.made_config is None
        if not new_run:
            self.show_step(self.first_step)
        self.call_after_refresh(self._first_paint, new_run)

    def _first_paint(self, new_run: bool) -> None:
        self.first_paint_seconds = time.perf_counter() - self.started_at
        self._after_frame(self._show_first_step if new_run else self._build_other_steps)

    def _after_frame(self, callback: Callable[[], object]) -> None:
        """Call back once the frame just drawn has had a moment to reach the terminal.

        Textual's output thread writes the frame and needs the GIL to do it: work started at once would hold the GIL,
        and with it the frame, for up to a switch interval (5 ms) at each of the thread's writes.
        """
        self.set_timer(FIRST_FRAME_SECONDS, callback)

    def _show_first_step(self) -> None:
        """A new run's Start step, its choices listed: drawn before the other steps are built."""
        self.show_step(self.first_step)
        self.call_after_refresh(self._after_frame, self._build_other_steps)

    async def _build_other_steps(self) -> None:
        """Mount the steps not shown yet and start the background work: the first screen never waits for them."""
        self._read_steps_styles()
        switcher = self.query_one("#switcher", ContentSwitcher)
        with self.batch_update():
            for step_id in STEP_CLASSES:
                if not switcher.is_attached:  # a quit just after the first screen: the app is closing its screens
                    return
                if step_id != self.first_step:
                    await switcher.add_content(step_class(step_id)(self.state, id=step_id))
        if not switcher.is_attached:
            return
        self.jobs.pool()  # made here, on the UI thread, before the analyses' threads ask for it (JobProcesses.pool)
        if self.warm_imports:
            self.import_libraries()
        self.refresh_analysis()

    def _read_steps_styles(self) -> None:
        """Add the other steps' styles to the app's, as Textual does for a screen's CSS_PATH (once)."""
        if self.stylesheet.has_source(str(STEPS_CSS), ""):
            return
        self.css_path.append(STEPS_CSS)
        self.stylesheet.read(STEPS_CSS)
        self.stylesheet.parse()  # the sources read before come from the parse cache
        self.stylesheet.update(self)

    @property
    def config(self) -> RunConfig:
        """The run config being edited."""
        return self.state.config

    # steps -----------------------------------------------------------------------------------
    @property
    def current_step(self) -> str:
        """The id of the visible step."""
        return self.query_one("#switcher", ContentSwitcher).current or "start"

    def show_step(self, step_id: str) -> None:
        """Make a step visible, reload its values from the config and focus it."""
        if not self.query(f"#{step_id}"):  # asked for before the other steps are mounted (a key right at start)
            self.call_after_refresh(self.show_step, step_id)
            return
        self.query_one("#switcher", ContentSwitcher).current = step_id
        self.query_one(StepIndicator).show(step_id)
        self.refresh_bindings()  # the footer offers the keys that apply on this step
        step = self.query_one(f"#{step_id}", Step)
        step.load(self.config if step.shows_config else None)  # a new run's config is made once a step shows it
        self.call_after_refresh(step.focus_first)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The step keys apply to the wizard's steps alone: not over the monitor, its try dialog or any other screen.

        On Start nothing is chosen yet: there is no step back, and no run to save or train.
        """
        if action in STEP_ACTIONS and self.screen is not self.screen_stack[0]:
            return False
        if action in START_HIDES:
            with suppress(NoMatches):  # asked before the steps are composed
                return self.current_step != "start"
        return True

    def is_monitor(self, screen: Screen) -> bool:
        """Whether screen is the monitor (its module is imported once a screen is pushed, not at start)."""
        if screen is self.screen_stack[0]:
            return False
        from tui.monitor.screen import MonitorScreen

        return isinstance(screen, MonitorScreen)

    def action_next_step(self) -> None:
        index = STEP_IDS.index(self.current_step)
        if index + 1 < len(STEP_IDS):
            self.show_step(STEP_IDS[index + 1])

    def action_previous_step(self) -> None:
        index = STEP_IDS.index(self.current_step)
        if index > 0:
            self.show_step(STEP_IDS[index - 1])

    def action_go(self, step_id: str) -> None:
        self.show_step(step_id)

    def set_status(self, text: str) -> None:
        """One line under the steps for what the app is doing (nothing once the app is closing: results arrive late)."""
        with suppress(NoMatches):
            self.query_one("#status-line", Static).update(text)

    # config changes and background analysis --------------------------------------------------
    @on(ConfigEdited)
    def config_edited(self, message: ConfigEdited) -> None:
        self.state.unsaved = True
        self._edited_sections.add(message.section)
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
        self._refresh_timer = self.set_timer(REFRESH_DELAY, self._refresh_after_edit)

    def _refresh_after_edit(self) -> None:
        """Rerun what every section edited since the last run needs (a later edit must not hide an earlier one's)."""
        sections, self._edited_sections = self._edited_sections, set()
        self._refresh_timer = None
        self.keep_draft(self.config.copy())
        self.refresh_analysis(*sections)

    @work(thread=True, exclusive=True, group="draft", exit_on_error=False)
    def keep_draft(self, config: RunConfig) -> None:
        """Keep the unsaved config on disk (off the UI thread: it syncs a file)."""
        from engine.config.draft import save_draft

        save_draft(config)

    def forget_draft(self) -> None:
        """The config was saved or became a run: there is nothing unsaved any more."""
        from engine.config.draft import discard_draft

        self.state.unsaved = False
        discard_draft()

    @property
    def analysis_settled(self) -> bool:
        """Whether every edit has been analysed and every newest result is shown (tests wait on this)."""
        return (bool(self._requests) and self._refresh_timer is None and self._answered == self._requests
                and self._requested_from.get("check") == self.config.to_dict()  # an edit still on its way is not settled
                and self._start_listed())

    def _start_listed(self) -> bool:
        """Whether the Start step lists every choice (it reads the recent runs in a thread)."""
        from tui.wizard.steps.start import StartStep

        return all(step.listed for step in self.query(StartStep))

    def refresh_analysis(self, *sections: str) -> None:
        """Rerun the estimate, the checks and (when a section it reads changed, or all) the data preview in workers."""
        self._analysis_started = time.perf_counter()
        self.set_status("[dim]checking the latest edit…[/]")
        self.run_estimate(self.config.copy(), self._next("estimate"))
        if not sections or {"dataset", "model", "training"} & set(sections):
            self.run_preview(self.config.copy(), self._next("preview"))
        self.run_check(self.config.copy(), self._next("check"))

    @on(ConfigChosen)
    def config_chosen(self, message: ConfigChosen) -> None:
        """Replace the edited config (a new run, a loaded preset, imported code) and show a step."""
        self.state.config = message.config
        self.state.unsaved = message.unsaved
        self.state.import_report = message.import_report
        if message.unsaved:
            self.keep_draft(message.config.copy())
        if message.step is not None:
            self.show_step(message.step)
        self.refresh_analysis()

    @on(ProbeRequested)
    def probe_requested(self, message: ProbeRequested) -> None:
        self.run_probe(message.config, self.state.cuda_device)

    @on(OptimizeRequested)
    def optimize_requested(self, message: OptimizeRequested) -> None:
        self.run_optimize(message.config)

    @work(thread=True, exclusive=True, group="optimize", exit_on_error=False)
    def run_optimize(self, config: RunConfig) -> None:
        from engine.background_jobs import optimize_for_wizard

        try:
            plan, problem = self.jobs.run(optimize_for_wizard, config, self.state.hardware())
        except Cancelled:
            return
        self.post_message(OptimizeReady(plan, problem))

    @on(OptimizeReady)
    def optimize_ready(self, message: OptimizeReady) -> None:
        with suppress(NoMatches):
            for step in self._steps(AppliesPlan):
                step.apply_optimized(message)

    @on(RunOpened)
    def run_opened(self, message: RunOpened) -> None:
        from tui.monitor.screen import MonitorScreen

        self.push_screen(MonitorScreen.for_run_dir(message.run_dir))

    def _next(self, kind: str) -> int:
        """A new request number of a kind, made from the config as it is now (UI thread only)."""
        self._requests[kind] = self._requests.get(kind, 0) + 1
        self._requested_from[kind] = self.config.to_dict()
        return self._requests[kind]

    def _current(self, kind: str, number: int) -> bool:
        """Whether a result answers the newest request of its kind (older ones are dropped)."""
        if self._requests.get(kind) != number:
            return False
        self._answered[kind] = number
        self.state.analysed_from[kind] = self._requested_from[kind]
        if self._answered == self._requests:
            seconds = time.perf_counter() - self._analysis_started
            self.call_after_refresh(self.set_status, f"[dim]memory, data and checks up to date ({seconds:.1f} s)[/]")
            if self._train_when_checked is not None:
                self.call_after_refresh(self._start_asked_training)
        return True

    def _start_asked_training(self) -> None:
        """ctrl+t came while the checks were running: now that they answered, train (or show what stops it)."""
        if self._train_when_checked is not None and self.analysis_settled:
            self.start_training(*self._train_when_checked)

    @work(thread=True, group="estimate", exit_on_error=False)
    def run_estimate(self, config: RunConfig, number: int) -> None:
        from engine.background_jobs import estimate_for

        report, structure, problem = self.jobs.run(estimate_for, config, self.state.hardware())
        self.post_message(EstimateReady(report, structure, problem, number))

    @work(thread=True, group="preview", exit_on_error=False)
    def run_preview(self, config: RunConfig, number: int) -> None:
        from engine.background_jobs import preview_for

        self.post_message(PreviewReady(self.jobs.run(preview_for, config), number))

    @work(thread=True, group="check", exit_on_error=False)
    def run_check(self, config: RunConfig, number: int) -> None:
        from engine.background_jobs import check_for

        problems, warnings = self.jobs.run(check_for, config, self.state.hardware())
        self.post_message(CheckReady(problems, warnings, number))

    @work(thread=True, group="imports", exit_on_error=False)
    def import_libraries(self) -> None:
        start = time.perf_counter()
        try:
            self.jobs.run(time.sleep, 0)  # starts the pool, whose processes import the libraries
        except Exception as exc:  # a broken install is shown, not raised
            self.post_message(LibrariesReady(time.perf_counter() - start, str(exc)))
            return
        self.post_message(LibrariesReady(time.perf_counter() - start, None))

    @work(thread=True, exclusive=True, group="probe", exit_on_error=False)
    def run_probe(self, config: RunConfig, cuda_device: str | None) -> None:
        """Probe in a process of its own on the chosen GPU; a newer probe or quitting stops it."""
        from engine.background_jobs import probe_for

        worker = get_current_worker()
        try:
            result, problem = self.jobs.run_alone(probe_for, config, cuda_device=cuda_device,
                                                 cancelled=lambda: worker.is_cancelled)
        except Cancelled:
            return
        except Exception as exc:  # the probe crashed: say so instead of waiting forever
            result, problem = None, f"the probe failed: {type(exc).__name__}: {exc}"
        self.post_message(ProbeDone(result, problem))

    @on(EstimateReady)
    def estimate_ready(self, message: EstimateReady) -> None:
        if not self._current("estimate", message.number):
            return
        self.state.estimate, self.state.structure = message.report, message.structure
        with suppress(NoMatches):  # a late result while the app shuts down
            for step in self._steps(ShowsEstimate):
                step.show_estimate(message)

    @on(PreviewReady)
    def preview_ready(self, message: PreviewReady) -> None:
        if not self._current("preview", message.number):
            return
        self.state.preview = message.preview
        with suppress(NoMatches):
            for step in self._steps(ShowsPreview):
                step.show_preview(message.preview)

    @on(CheckReady)
    def check_ready(self, message: CheckReady) -> None:
        if not self._current("check", message.number):
            return
        self.state.check_result = message
        with suppress(NoMatches):
            for step in self._steps(ShowsCheck):
                step.show_check(message)
            for step in self._steps(ShowsProblems):
                step.show_problems(message.problems)

    @on(ProbeDone)
    def probe_done(self, message: ProbeDone) -> None:
        with suppress(NoMatches):
            for step in self._steps(ShowsProbe):
                step.show_probe(message)

    def _steps(self, shows: type[Shown]) -> list[Shown]:
        """The mounted steps that show this kind of result (none while the app shuts down; results may arrive late)."""
        switchers = self.screen_stack[0].query("#switcher") if self.screen_stack else []
        if not switchers:
            return []
        return [step for step in switchers.first().children if isinstance(step, shows)]

    @on(LibrariesReady)
    def libraries_ready(self, message: LibrariesReady) -> None:
        if message.problem:
            self.set_status(f"[red]could not import the training libraries: {message.problem}[/]")

    @on(Worker.StateChanged)
    def worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            if event.worker.group in self._requests:  # the failure is the answer: nothing more will come
                self._answered[event.worker.group] = self._requests[event.worker.group]
            with suppress(NoMatches):  # workers cut short by quitting fail while the screen goes
                self.set_status(f"[red]{event.worker.group} failed: {event.worker.error}[/]")

    def exit(self, *args, **kwargs) -> None:
        """Quit at once: end the analysis processes, so the workers waiting on them return instead of the app waiting.

        Unsaved edits are kept as the draft first (a quick local write), also when the terminal went away.
        """
        if self.state.unsaved:
            from engine.config.draft import save_draft

            with suppress(OSError):  # a full or read-only disk must not stop the quit
                save_draft(self.config)
        self.jobs.terminate(reap=False)  # reaped after the app has closed (tui.launch)
        super().exit(*args, **kwargs)

    # actions ---------------------------------------------------------------------------------
    def action_save_preset(self) -> None:
        from tui.shared.dialogs import SavePresetDialog

        self.push_screen(SavePresetDialog(self.config), lambda path: self.forget_draft() if path else None)

    def action_start_training(self) -> None:
        self.start_training()

    @on(TrainingRequested)
    def training_requested(self, message: TrainingRequested) -> None:
        self.start_training(message.resume)

    def start_training(self, resume: str | None = None) -> None:
        """Train the config in the monitor (resuming a checkpoint of its run directory), once Review has no problems.

        Resuming, the run directory's earlier run is the point, not a problem.
        """
        if not self.analysis_settled:  # train what the checks have seen: start once they answer the latest edit
            self._train_when_checked = (resume,)
            if self._refresh_timer is None and self._requested_from.get("check") != self.config.to_dict():
                self.refresh_analysis()  # a change no step announced: check it now
            self.set_status("[dim]checking the latest edits before training…[/]")
            return
        self._train_when_checked = None
        problems = [p for p in (self.state.check_result.problems if self.state.check_result else [])
                    if not (resume and p.field == "training.output_dir")]
        if problems:
            self.show_step("review")
            self.notify("Fix the problems listed on Review before training.", severity="error")
            return
        from tui.monitor.screen import MonitorScreen
        from tui.monitor.sources import InProcessRun

        if InProcessRun.training_now() is not None:
            self.notify("A run is already training in this process.", severity="warning")
            return
        self.forget_draft()  # the run directory's run.yaml holds the config from now on
        # the engine makes the picked GPU the only visible one (engine.machine.gpu_choice), as for `train`
        self.push_screen(MonitorScreen.for_training(self.config.copy(), resume=resume, gpu=self.state.cuda_device))

    def on_monitor_screen_closed(self, message) -> None:
        """Back from the monitor to the wizard, at Method with the out-of-memory fix applied when asked for."""
        self.pop_screen()
        if message.to_wizard and message.fix is not None:
            from engine.config.parsing import parse_config

            self.state.config, _ = parse_config(self.config.to_dict(), "fix", message.fix.overrides)
            self.notify(f"Applied: {message.fix.description}")
        self.refresh_analysis()  # the run may have filled the run directory: Review must say so before the next ctrl+t
        if message.to_wizard:
            self.show_step("method")


def make_app(preset: str | None = None, runs_root: str = "runs", warm_imports: bool = True,
             hardware: Callable[[], HardwareReport] | None = None) -> WizardApp:
    """The app, with a preset loaded at Review when one is named (UserError when it is bad)."""
    if preset is None:
        return WizardApp(runs_root=runs_root, warm_imports=warm_imports, hardware=hardware)
    from engine.config.presets import load_preset

    config, _, _ = load_preset(preset)
    return WizardApp(config, start_step="review", runs_root=runs_root, warm_imports=warm_imports, hardware=hardware)
