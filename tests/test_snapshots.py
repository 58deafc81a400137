"""Snapshots of every wizard step and of the monitor at 100x30 (Textual and the plugin are pinned).

The hardware is a fake NVML with an A100 and a T4 so the pictures do not depend on the machine.
Update after a deliberate change with: bash scripts/test.sh tests/test_snapshots.py --snapshot-update
"""

import pytest

from conftest import REPO
from engine.hardware import hardware_report
from engine.presets import load_preset
from fake_nvml import FakeNvml, a100, t4
from tui.app import WizardApp
from tui.monitor_app import MonitorApp

SIZE = (100, 30)
RECORDED = REPO / "tests" / "data" / "recorded-run"


def fake_hardware():
    return hardware_report(FakeNvml([a100(), t4()]))


@pytest.fixture
def wizard(monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)

    def make(step: str) -> WizardApp:
        config, _, _ = load_preset("demo")
        config.dataset.path = "presets/data/demo-alpaca.jsonl"  # the same on every checkout
        return WizardApp(config, start_step=step, runs_root=str(tmp_path / "runs"), warm_imports=False,
                         hardware=fake_hardware)

    return make


async def settle(pilot) -> None:
    """Wait until workers are done, results are drawn and lazily built steps exist."""
    from textual.worker import WorkerCancelled

    from tui.steps.training import TrainingStep

    app = pilot.app
    for _ in range(50):
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:
            pass
        await pilot.pause(0.1)
        ready = app.preview is not None and app.check_result is not None and app.estimate is not None
        if app.current_step == "training":
            ready = ready and app.query_one(TrainingStep).built
        if ready and not any(worker.is_running for worker in app.workers):
            break
    await pilot.pause(0.2)
    app.query_one("#status-line").update("")


@pytest.mark.parametrize("step", ["start", "model", "hardware", "method", "dataset", "training", "review"])
def test_wizard_step_snapshot(step, wizard, snap_compare):
    assert snap_compare(wizard(step), terminal_size=SIZE, run_before=settle)


def test_monitor_renders_every_panel_from_a_recorded_run(snap_compare):
    async def replayed(pilot) -> None:
        for _ in range(20):
            await pilot.pause(0.1)
            if pilot.app.monitor.state.finished:
                break
        await pilot.pause(0.3)

    assert snap_compare(MonitorApp.attach(str(RECORDED)), terminal_size=SIZE, run_before=replayed)
