"""The monitor as a person sees it on an 80x24 terminal: progress figures, chart titles, the footer's keys, the end.

Runs are replayed from events (the recorded demo run, or edited copies of it), never trained here.
"""

import contextlib
import json
import shutil
import time

from checkpoint_files import whole_checkpoint
from conftest import REPO, wait_until
from screen_fit import cut_texts
from screen_text import svg_lines

from engine.record.events import read_events
from tui.monitor.app import MonitorApp
from tui.monitor.finish import TryPromptScreen
from tui.monitor.screen import MonitorScreen
from tui.monitor.sources import RunSource
from tui.wizard.app import WizardApp
from tui.wizard.job_processes import Cancelled, JobProcesses
from tui.wizard.messages import RunOpened

SMALLEST = (80, 24)
RECORDED = REPO / "tests" / "data" / "recorded-run"
TITLE, PROGRESS, CHART_TOP, FOOTER = 0, 1, 2, -1
"""The rows of the monitor's screen that these tests read."""


class Replay(RunSource):
    """A run still training, as far as the given events go: the monitor sees them as a live run's."""

    kind = "training here"
    controllable = True

    def __init__(self, events: list[dict]) -> None:
        self.events = events
        self.run_dir = str(RECORDED)

    def start(self, put) -> None:
        for event in self.events:
            put(event)


class NoJobs(JobProcesses):
    """No analysis process starts: these tests look at the monitor over the wizard, not at the wizard's steps."""

    def pool(self) -> None:
        return None

    def run(self, function, *args):
        raise Cancelled()


def screen_rows(app) -> list[str]:
    """The screen's rows as plain text."""
    return svg_lines(app.export_screenshot())


def recorded_events() -> list[dict]:
    return read_events(RECORDED)


def run_dir_with(tmp_path, events: list[dict]):
    """A run directory holding these events (and the recorded run's run.yaml)."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shutil.copy(RECORDED / "run.yaml", run_dir / "run.yaml")
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return run_dir


def ended(status: str, final_path: str | None) -> list[dict]:
    """The recorded run with another ending."""
    events = recorded_events()
    events[-1] = {**events[-1], "status": status, "final_path": final_path, "message": f"the run {status}"}
    return events


async def replayed(app, pilot) -> list[str]:
    """The screen once every event has been applied and drawn."""
    await wait_until(pilot, lambda: app.screen.state.finished, 20, "the run's end")
    await pilot.pause(0.6)  # one redraw tick
    return screen_rows(app)


async def test_while_training_the_progress_row_shows_step_percent_loss_and_eta():
    events = recorded_events()
    upto = next(i for i, e in enumerate(events) if e.get("event") == "log" and e["step"] == 200)
    live = events[:upto + 1]
    shift = time.time() - live[-1]["time"]  # as if the last log came in just now
    app = MonitorApp(MonitorScreen(Replay([{**e, "time": e["time"] + shift} for e in live])))
    async with app.run_test(size=SMALLEST) as pilot:
        await wait_until(pilot, lambda: app.monitor.state.step == 200, 20, "step 200")
        await pilot.pause(0.6)
        row = screen_rows(app)[PROGRESS]
        assert "step 200/495" in row and "40%" in row, row
        assert f"loss {live[-1]['loss']:.4f}" in row, row  # the latest train loss
        assert "ETA 0:00:0" in row, row  # about 8 s left at the recorded pace
        assert cut_texts(app.screen) == []
        assert "s Stop" in screen_rows(app)[FOOTER]


async def test_a_finished_run_shows_every_figure_and_whole_chart_titles():
    app = MonitorApp.attach(str(RECORDED))
    async with app.run_test(size=SMALLEST) as pilot:
        rows = await replayed(app, pilot)
        assert "elapsed 0:00:12" in rows[TITLE]
        for figure in ("step 495/495", "100%", "loss 0.0750", "ETA 0:00:00", "epoch 15.00"):
            assert figure in rows[PROGRESS], rows[PROGRESS]
        assert "loss train · eval" in rows[CHART_TOP] and "memory GiB" in rows[CHART_TOP]
        assert "…" not in rows[CHART_TOP], rows[CHART_TOP]
        assert cut_texts(app.screen) == []


async def test_over_the_wizard_the_footer_holds_the_monitors_keys_alone(monkeypatch, tmp_path):
    from textual.command import CommandList, CommandPalette

    monkeypatch.chdir(REPO)
    app = WizardApp(runs_root=str(tmp_path / "runs"), warm_imports=False, jobs=NoJobs())
    async with app.run_test(size=SMALLEST) as pilot:
        await pilot.pause()
        assert "^n Next" in screen_rows(app)[FOOTER]
        app.post_message(RunOpened(str(RECORDED)))  # as the Start step's list of recent runs does
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen), 20, "the monitor")
        footer = (await replayed(app, pilot))[FOOTER]
        for wizard_key in ("^n", "^p", "^s", "^t", "^q", "Next", "Train"):
            assert wizard_key not in footer, footer
        assert "q Quit" in footer and "^o palette" in footer, footer
        assert cut_texts(app.screen) == []
        await pilot.press("ctrl+n")  # a wizard key does nothing here
        assert isinstance(app.screen, MonitorScreen) and app.current_step == "start"

        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the command palette")
        commands = app.screen.query_one(CommandList)
        await wait_until(pilot, lambda: commands.option_count > 0, what="the palette's commands")
        offered = [str(commands.get_option_at_index(i).prompt) for i in range(commands.option_count)]
        assert not any("step" in text or "preset" in text or "training" in text for text in offered), offered
        await pilot.press("escape")

        await pilot.press("q")  # back to the wizard, whose keys come back
        await wait_until(pilot, lambda: not isinstance(app.screen, MonitorScreen), what="the wizard")
        await pilot.pause()
        assert "^n Next" in screen_rows(app)[FOOTER]
        app.post_message(RunOpened(str(RECORDED)))
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen), 20, "the monitor again")
        await pilot.press("ctrl+q")  # out of the footer, still the app's quit
        assert app.return_code == 0


async def test_the_epoch_at_the_end_is_the_trainers_last_not_the_last_logs(tmp_path):
    events = [e for e in recorded_events() if not (e["event"] == "log" and e["step"] == 495)]
    events[-1]["epoch"] = 15.0  # the end event carries the trainer's last state
    app = MonitorApp.attach(str(run_dir_with(tmp_path, events)))
    async with app.run_test(size=SMALLEST) as pilot:
        rows = await replayed(app, pilot)
        assert "step 495/495" in rows[PROGRESS] and "epoch 15.00" in rows[PROGRESS], rows[PROGRESS]


async def test_a_failed_run_offers_no_try_merge_or_gguf(tmp_path):
    app = MonitorApp.attach(str(run_dir_with(tmp_path, ended("failed", None))))
    async with app.run_test(size=SMALLEST) as pilot:
        footer = (await replayed(app, pilot))[FOOTER]
        assert "w Wizard" in footer and "q Quit" in footer, footer
        for key in ("t Try", "v Eval", "m Merge", "g GGUF", "r Resume"):  # no final/, and no checkpoint to resume from
            assert key not in footer, footer


async def test_a_stopped_run_with_final_offers_try_merge_gguf_and_resume(tmp_path):
    run_dir = run_dir_with(tmp_path, ended("stopped", "final"))
    whole_checkpoint(run_dir / "checkpoint-200", step=200)
    app = MonitorApp.attach(str(run_dir))
    async with app.run_test(size=SMALLEST) as pilot:
        footer = (await replayed(app, pilot))[FOOTER]
        for key in ("t Try", "v Eval", "m Merge", "g GGUF", "r Resume", "q Quit"):
            assert key in footer, footer
        assert cut_texts(app.screen) == []


async def test_a_completed_run_offers_no_resume():
    app = MonitorApp.attach(str(RECORDED))
    async with app.run_test(size=SMALLEST) as pilot:
        footer = (await replayed(app, pilot))[FOOTER]
        assert "t Try" in footer and "r Resume" not in footer, footer


@contextlib.asynccontextmanager
async def try_dialog():
    """The recorded run replayed at 80x24 with the try dialog open: (app, pilot, the fine-tuned box's text)."""
    app = MonitorApp.attach(str(RECORDED))
    async with app.run_test(size=SMALLEST) as pilot:
        await replayed(app, pilot)
        await app.push_screen(TryPromptScreen(str(RECORDED)))
        yield app, pilot, lambda: str(app.screen.query_one("#tuned-answer").render())


async def test_the_try_dialog_says_why_the_fine_tuned_model_is_not_there(monkeypatch):
    import engine.outputs.generate

    def broken(run_dir):
        raise OSError("final/adapter_model.safetensors is missing")

    monkeypatch.setattr(engine.outputs.generate, "load_generator", broken)
    async with try_dialog() as (app, pilot, answer):
        await wait_until(pilot, lambda: "final/" in answer(), 30, "the load's outcome")
        assert "could not load final/: OSError: final/adapter_model.safetensors is missing" in answer()


async def test_an_empty_answer_is_said_in_words_never_a_blank_box(monkeypatch):
    import engine.outputs.generate

    class EndsAtOnce:
        """A model whose fine-tuned answer decodes to nothing (only special tokens), as a briefly trained one can."""

        is_peft, note = True, ""

        def answer(self, prompt, base=False):
            return "Paris." if base else ""

    monkeypatch.setattr(engine.outputs.generate, "load_generator", lambda run_dir: EndsAtOnce())
    async with try_dialog() as (app, pilot, answer):
        await wait_until(pilot, lambda: "ready" in answer(), 30, "the model")
        await pilot.press(*"hi", "enter")
        await wait_until(pilot, lambda: "fine-tuned" in answer(), 30, "the fine-tuned answer")  # its box's heading
        assert "empty answer" in answer() and "Paris." in str(app.screen.query_one("#base-answer").render())
