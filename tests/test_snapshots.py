"""Snapshots of every wizard step and of the monitor at 100x30, and of every step at 80x24 with no text cut
(Textual and the plugin are pinned).

The hardware is a fake NVML with an A100 and a T4 so the pictures do not depend on the machine.
Update after a deliberate change with: bash scripts/test.sh tests/test_snapshots.py --snapshot-update
"""


import pytest
from conftest import REPO, settle_wizard, wait_until
from fake_nvml import FakeNvml, a100, t4
from screen_fit import cut_texts
from screen_text import text_difference
from textual.widgets import Input

from engine.config.presets import load_preset
from engine.machine.hardware import hardware_report
from tui.monitor.app import MonitorApp
from tui.wizard.app import WizardApp

pytestmark = pytest.mark.slow  # every test starts the wizard, whose analyses run in spawned processes

SIZE = (100, 30)
SMALLEST = (80, 24)
"""The smallest terminal the wizard supports."""
STEPS = ["start", "model", "hardware", "method", "dataset", "training", "review"]
RECORDED = REPO / "tests" / "data" / "recorded-run"
STORED = REPO / "tests" / "__snapshots__" / "test_snapshots"
seen: dict[str, str] = {}  # the last screenshot taken by settle(), for the failure message


def fake_hardware():
    return hardware_report(FakeNvml([a100(), t4()]))


@pytest.fixture
def wizard(monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def make(step: str) -> WizardApp:
        config, _, _ = load_preset("demo")
        config.dataset.path = "presets/data/demo-alpaca.jsonl"  # the same on every checkout
        config.training["output_dir"] = "/runs/demo"  # Review shows the run directory resolved: absolute, the same
        app = WizardApp(config, start_step=step, runs_root=str(tmp_path / "runs"), warm_imports=False,
                        hardware=fake_hardware)
        app.animation_level = "none"  # an animation half-way at capture time must not decide the picture
        return app

    return make


async def settle(pilot) -> None:
    """Wait until every analysis is shown, lazily built steps exist and the step has its focus."""
    app = pilot.app
    await settle_wizard(pilot)
    wanted = "in-num_train_epochs" if app.current_step == "training" else None  # built on first show
    await wait_until(pilot, lambda: app.focused is not None and wanted in (None, app.focused.id), what="the step's focus")
    if app.current_step == "review":
        await wait_until(pilot, lambda: "checking" not in str(app.query_one("#check-result").render()),
                         what="the review's check line")
    app.query_one("#status-line").update("")
    for field in app.screen.query(Input):
        field.cursor_blink = False  # the blink phase at capture time must not decide the picture
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    seen["wizard"] = app.export_screenshot()


@pytest.mark.parametrize("step", STEPS)
def test_wizard_step_snapshot(step, wizard, snap_compare):
    matches = snap_compare(wizard(step), terminal_size=SIZE, run_before=settle)
    assert matches, text_difference(STORED / f"test_wizard_step_snapshot[{step}].svg", seen["wizard"])


@pytest.mark.parametrize("step", STEPS)
def test_every_text_of_a_step_fits_80x24(step, wizard, snap_compare):
    """Labels, placeholders, buttons and footer keys fit their width (or wrap at a word) at 80x24."""
    cuts: list[str] = []

    async def settle_and_look(pilot) -> None:
        await settle(pilot)
        cuts.extend(cut_texts(pilot.app.screen))

    matches = snap_compare(wizard(step), terminal_size=SMALLEST, run_before=settle_and_look)
    assert cuts == [], "\n".join(cuts)
    assert matches, text_difference(STORED / f"test_every_text_of_a_step_fits_80x24[{step}].svg", seen["wizard"])


def test_monitor_renders_every_panel_from_a_recorded_run(snap_compare):
    async def replayed(pilot) -> None:
        await wait_until(pilot, lambda: "finished" in str(pilot.app.screen.query_one("#stats").render()), 30,
                         "the replayed run's summary")
        await pilot.pause()

    app = MonitorApp.attach(str(RECORDED))
    app.animation_level = "none"
    assert snap_compare(app, terminal_size=SIZE, run_before=replayed)


async def test_the_cut_check_names_a_text_past_the_edge_and_passes_over_hidden_widgets():
    """The check the snapshots and journeys rely on: it can fail, and a hidden step's widgets are not on screen."""
    from textual.app import App
    from textual.containers import Vertical
    from textual.widgets import Static

    class Cut(App):
        CSS = "#wide, .wide { width: 100; } #hidden { display: none; }"

        def compose(self):
            yield Static("x" * 100, id="wide")
            with Vertical(id="hidden"):
                yield Static("y" * 100, classes="wide")

    app = Cut()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert cut_texts(app.screen) == [f"Static#wide runs 20 columns past its container: {'x' * 90!r}"]
