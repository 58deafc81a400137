"""The live monitor: a real demo run under Pilot, the stop key, attach replay, a closed terminal."""

import os
import pty
import select
import subprocess
import sys
import time

import pytest
from conftest import REPO, wait_until

from engine.config.presets import load_preset
from engine.record.events import read_events
from engine.record.state import RunState
from tui.monitor.app import MonitorApp
from tui.shared.dialogs import ConfirmDialog

RECORDED = REPO / "tests" / "data" / "recorded-run"
SIZE = (100, 30)


def stats_text(app) -> str:
    """The monitor's stats panel as text."""
    return str(app.screen.query_one("#stats").render()) if app.screen.query("#stats") else ""


def log_text(app) -> str:
    """The monitor's log panel as text."""
    return "".join(str(line.text) for line in app.screen.query_one("#log").lines) if app.screen.query("#log") else ""


def demo_config(tmp_path, **training):
    config, _, _ = load_preset("demo")
    config.training.update({"output_dir": str(tmp_path / "run"), "num_train_epochs": 2, **training})
    return config


@pytest.mark.slow
async def test_a_real_demo_run_under_the_monitor_completes_and_shows_the_summary(tmp_path):
    app = MonitorApp.train(demo_config(tmp_path), None, None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "final train loss" in stats_text(app), 240, "the run's summary")
        stats = stats_text(app)
        assert app.monitor.state.end["status"] == "completed"
        assert "final train loss" in stats and "final/" in stats
        assert app.monitor.state.train_loss[-1][1] < app.monitor.state.train_loss[0][1]
    app.monitor.source.thread.join(60)
    assert (tmp_path / "run" / "final" / "adapter_config.json").is_file()


@pytest.mark.slow
async def test_the_stop_key_stops_with_a_checkpoint(tmp_path):
    app = MonitorApp.train(demo_config(tmp_path, num_train_epochs=30, logging_steps=1, save_strategy="no",
                                       eval_strategy="no"), None, None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: len(app.monitor.state.train_loss) >= 3)
        await pilot.press("s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the stop question")
        await pilot.press("y")
        await wait_until(pilot, lambda: app.monitor.state.finished)
        end = app.monitor.state.end
    app.monitor.source.thread.join(60)
    assert end["status"] == "stopped"
    step = end["global_step"]
    assert 0 < step < app.monitor.state.total_steps
    assert (tmp_path / "run" / f"checkpoint-{step}" / "trainer_state.json").is_file()


async def test_attach_replays_a_finished_run_with_its_final_loss():
    app = MonitorApp.attach(str(RECORDED))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "final train loss" in stats_text(app), 20, "the replayed summary")
        stats = stats_text(app)
        assert "completed" in stats and "final train loss 0.0750" in stats
        assert "best eval loss 1.0317 at step 231" in stats


def test_run_state_rebuilds_progress_from_events():
    state = RunState()
    for event in read_events(RECORDED):
        state.apply(event)
    assert state.total_steps == state.step == 495 and state.finished
    assert state.best_eval[0] == 231 and state.best_eval[1] == pytest.approx(1.0317, abs=1e-4)
    assert state.peak_memory_bytes > 0 and state.elapsed() > 0


@pytest.mark.slow
def test_a_closed_terminal_does_not_stop_training(tmp_path):
    """`sft-wizard train demo` on a pseudo-terminal; the terminal closes mid-run; the run still completes."""
    run_dir = tmp_path / "run"
    pid, fd = pty.fork()
    if pid == 0:  # child: the program as a user starts it on a terminal
        os.chdir(REPO)
        os.environ["TERM"] = "xterm-256color"
        os.execv(sys.executable, [sys.executable, "-m", "tui", "train", "demo", "--output-dir", str(run_dir),
                                  "--set", "training.num_train_epochs=1"])  # 33 steps: under 2 min even beside a CPU hog
    deadline = time.time() + 240
    while time.time() < deadline:  # let the monitor come up and training start
        if select.select([fd], [], [], 0.2)[0]:
            try:
                os.read(fd, 65536)
            except OSError:
                break
        if any(e["event"] == "log" for e in read_events(run_dir)):
            break
    step_at_close = max((e["step"] for e in read_events(run_dir) if e["event"] == "log"), default=0)
    os.close(fd)  # the terminal goes away (as with a dropped SSH connection): SIGHUP, EIO on writes
    deadline = time.time() + 300
    while True:  # never hang the suite: a child still alive after the deadline fails the test
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.time() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise AssertionError("the run did not finish within 300 s of the terminal closing")
        time.sleep(0.2)
    events = read_events(run_dir)
    assert events[-1]["event"] == "end" and events[-1]["status"] == "completed", events[-3:]
    assert events[-1]["global_step"] > step_at_close > 0  # it trained on after the terminal closed
    assert os.waitstatus_to_exitcode(status) == 0
    assert (run_dir / "final" / "adapter_config.json").is_file()


@pytest.mark.slow
def test_attach_command_rejects_a_folder_without_events(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tui", "attach", str(tmp_path)], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 2 and "no events.jsonl" in result.stderr


@pytest.mark.slow
async def test_out_of_memory_shows_the_estimate_and_a_change_that_keeps_the_effective_batch(tmp_path, monkeypatch):
    import torch
    import trl

    def out_of_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(trl.SFTTrainer, "train", out_of_memory)
    app = MonitorApp.train(demo_config(tmp_path), None, None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "out of memory: estimated" in log_text(app), 240, "the out-of-memory advice")
        log = log_text(app)
        end = app.monitor.state.end
    app.monitor.source.thread.join(60)
    assert end["status"] == "failed" and "out of memory" in end["message"].lower()
    assert "out of memory: estimated" in log
    assert "press w to return to the wizard with it applied" in log  # one change is offered
    # Which change comes first depends on the estimator's fitted constants (recommend() is tested on its
    # own in test_memory.py); whichever it is keeps the effective batch: a batch change says so.
    assert "per_device_train_batch_size to" not in log or "(effective batch stays 8)" in log
    assert (tmp_path / "run" / "error.log").is_file()  # the traceback, never on screen
