"""Several processes from the UI: picked on the Hardware step with keys, watched in the monitor, stopped with `s`."""

import pytest
from conftest import REPO, settle_wizard, wait_until
from fake_nvml import FakeNvml

from engine.config.presets import load_preset
from engine.machine.hardware import hardware_report
from engine.record.rank_heartbeats import read_heartbeats
from tui.monitor.app import MonitorApp
from tui.shared.dialogs import ConfirmDialog
from tui.wizard.app import make_app

pytestmark = pytest.mark.slow  # the wizard's analyses and the ranks run in other processes
SIZE = (80, 24)


async def test_two_processes_are_picked_with_keys_and_the_fit_is_per_gpu(monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    app = make_app("demo", runs_root=str(tmp_path / "runs"), warm_imports=False,
                   hardware=lambda: hardware_report(FakeNvml([])))  # CPU processes, whatever this machine has
    async with app.run_test(size=SIZE) as pilot:
        await settle_wizard(pilot)
        await pilot.press("ctrl+p", "ctrl+p", "ctrl+p", "ctrl+p")  # Review -> Training -> Dataset -> Method -> Hardware
        assert app.current_step == "hardware"
        processes = app.query_one("#processes")
        processes.focus()
        await pilot.press("enter", "down", "enter")  # open the list, the next count, choose it
        await settle_wizard(pilot)
        assert app.config.distributed.processes == 2 and app.query_one("#strategy").display
        await pilot.press("ctrl+n")
        await settle_wizard(pilot)
        assert "per GPU (2× ddp)" in str(app.query_one("#memory").render())


async def test_the_monitor_follows_two_ranks_with_their_memory_and_s_stops_both(tmp_path):
    config, _, _ = load_preset("demo")
    config.training.update({"output_dir": str(tmp_path / "run"), "num_train_epochs": 2, "logging_steps": 1,
                            "save_strategy": "no", "eval_strategy": "no"})
    config.distributed.processes = 2
    app = MonitorApp.train(config, None, None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app.monitor.state.train_loss) >= 3, 300, "three logged steps")
        await pilot.pause()
        stats = str(app.screen.query_one("#stats").render())
        assert "peak per rank" in stats and " 0: " in stats and " 1: " in stats, stats
        assert [s.name for s in app.monitor.query_one("#memory-chart").series] == ["rank 0", "rank 1"]  # as drawn
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the stop question")
        await pilot.press("y")
        await wait_until(pilot, lambda: app.monitor.state.finished, 300, "the stopped run's end")
        end = app.monitor.state.end
    app.monitor.source.thread.join(120)
    assert end["status"] == "stopped" and app.monitor.source.result.exit_code == 130
    step = end["global_step"]
    assert [h["step"] for h in read_heartbeats(tmp_path / "run")] == [step, step]
    assert (tmp_path / "run" / f"checkpoint-{step}" / "trainer_state.json").is_file()


async def test_review_writes_the_launch_files_with_keys(monkeypatch, tmp_path):
    from tui.wizard.launch_dialog import LaunchFilesDialog

    monkeypatch.chdir(REPO)
    app = make_app("demo", runs_root=str(tmp_path / "runs"), warm_imports=False,
                   hardware=lambda: hardware_report(FakeNvml([])))
    async with app.run_test(size=SIZE) as pilot:
        await settle_wizard(pilot)
        assert app.current_step == "review"
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchFilesDialog), what="the launch dialog")
        await pilot.press("end", "ctrl+u", "3", "tab", "end", "ctrl+u", "4", "tab", "end", "ctrl+u",
                          *list(str(tmp_path / "launch")), "enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, LaunchFilesDialog), what="the files written")
    assert (tmp_path / "launch" / "accelerate-node-2.yaml").is_file()
    assert "#SBATCH --nodes=3" in (tmp_path / "launch" / "train.sbatch").read_text()
    assert "--nproc-per-node 4" in (tmp_path / "launch" / "torchrun.sh").read_text()
