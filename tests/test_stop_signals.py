"""One stop path: SIGINT, SIGTERM and `sft-wizard stop` end a run the same way in every mode (real processes).

Under the monitor (a real pseudo-terminal), detached from a lost terminal, headless, and sent to one rank of a
launched run: the run stops after its step, saves checkpoint-N and final/, the process exits 130 and the run's
`end` says `stopped` and what stopped it. SIGHUP never stops a run (a dropped SSH session must not).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_cli
from test_terminal_life import Terminal

from engine.record.events import read_events
from engine.run.multi.world import LAUNCHER_ENV

pytestmark = pytest.mark.slow
LONG = ["--set", "training.max_steps=400", "--set", "training.logging_steps=1", "--set", "training.save_strategy=no",
        "--set", "training.eval_strategy=no"]
"""Far more steps than a test waits for: every stop lands mid-run."""
TIMEOUT = 300


def _logs(run_dir: Path) -> int:
    return sum(e["event"] == "log" for e in read_events(run_dir))


def _wait_logs(run_dir: Path, count: int, alive, what: str) -> None:
    """Wait for `count` log events; fail (never hang) if the program ends first or TIMEOUT passes."""
    deadline = time.monotonic() + TIMEOUT
    while _logs(run_dir) < count:
        assert alive(), f"{what} ended before {count} log events: {read_events(run_dir)[-3:]}"
        assert time.monotonic() < deadline, f"no {count} log events within {TIMEOUT} s"
        time.sleep(0.05)


def _assert_stopped_like_headless(run_dir: Path, exit_code: int, cause: str) -> None:
    """Exit 130; the end says stopped by `cause` mid-run; a whole checkpoint at that step and final/ are there."""
    assert exit_code == 130, read_events(run_dir)[-3:]
    events = read_events(run_dir)
    end = events[-1]
    assert end["event"] == "end" and end["status"] == "stopped", events[-3:]
    assert cause in end["message"], end
    total = next(e for e in events if e["event"] == "start")["total_steps"]
    assert 0 < end["global_step"] < total
    checkpoint = run_dir / f"checkpoint-{end['global_step']}"
    assert (checkpoint / "trainer_state.json").is_file() and (checkpoint / "optimizer.pt").is_file()
    assert (run_dir / "final" / "adapter_config.json").is_file()


def _monitor_run(tmp_path: Path) -> tuple[Path, Terminal]:
    """`sft-wizard train demo` on a terminal, training under the monitor, with two log events written."""
    run_dir = tmp_path / "run"
    terminal = Terminal("train", "demo", "--output-dir", str(run_dir), *LONG)
    _wait_logs(run_dir, 2, lambda: terminal.pump(0.05) or terminal.reap() is None, "the monitor")
    return run_dir, terminal


def _exit_code(terminal: Terminal) -> int:
    """Keep reading the terminal until the program exits (TIMEOUT at most); its exit code."""
    deadline = time.monotonic() + TIMEOUT
    while terminal.reap() is None:
        assert time.monotonic() < deadline, f"still running {TIMEOUT} s after the stop: {terminal.output[-400:]!r}"
        terminal.pump(0.05)
    return os.waitstatus_to_exitcode(terminal.status)


@pytest.mark.parametrize("cause", ["SIGTERM", "SIGINT", "stop"])
def test_under_the_monitor_a_signal_or_stop_ends_the_run_as_headless(tmp_path, cause):
    run_dir, terminal = _monitor_run(tmp_path)
    try:
        if cause == "stop":
            result = run_cli("stop", str(run_dir), timeout=120)
            assert result.returncode == 0, result.stderr
        else:
            os.kill(terminal.pid, getattr(signal, cause))
        code = _exit_code(terminal)
    finally:
        terminal.kill_everything()
    _assert_stopped_like_headless(run_dir, code, "sft-wizard stop" if cause == "stop" else cause)


def test_a_run_detached_by_a_lost_terminal_stops_on_sigint(tmp_path):
    run_dir, terminal = _monitor_run(tmp_path)
    try:
        terminal.close()  # SIGHUP: the monitor closes, training goes on in the process
        logs = _logs(run_dir)
        _wait_logs(run_dir, logs + 2, lambda: terminal.reap() is None, "the detached run")
        os.kill(terminal.pid, signal.SIGINT)
        code = _exit_code(terminal)
    finally:
        terminal.kill_everything()
    _assert_stopped_like_headless(run_dir, code, "SIGINT")


def test_headless_ignores_sighup_and_stops_on_sigterm(tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "tui", "train", "demo", "--headless", "--output-dir", str(run_dir),
                                *LONG], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_logs(run_dir, 2, lambda: process.poll() is None, "the headless run")
        process.send_signal(signal.SIGHUP)
        logs = _logs(run_dir)
        _wait_logs(run_dir, logs + 2, lambda: process.poll() is None, "the headless run after SIGHUP")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert "SIGTERM: stopping after this step" in stderr
    _assert_stopped_like_headless(run_dir, process.returncode, "SIGTERM")


def _ranks(root: int) -> dict[int, int]:
    """rank → pid of the `engine.run.multi.worker` processes under root (read from /proc)."""
    ranks = {}
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        rank = [int(v.split(b"=")[1]) for v in environ if v.startswith(b"RANK=")]  # not accelerate's own launcher
        if b"engine.run.multi.worker" in command and f"{LAUNCHER_ENV}={root}".encode() in environ and rank:
            ranks[rank[0]] = int(entry.name)
    return ranks


def test_a_signal_to_one_rank_stops_every_rank_and_sighup_to_a_rank_is_ignored(tmp_path):
    run_dir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "tui", "train", "demo", "--headless", "--processes", "2",
                                "--output-dir", str(run_dir), *LONG], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        _wait_logs(run_dir, 2, lambda: process.poll() is None, "the launched run")
        ranks = _ranks(process.pid)
        assert sorted(ranks) == [0, 1], ranks
        os.kill(ranks[0], signal.SIGHUP)
        logs = _logs(run_dir)
        _wait_logs(run_dir, logs + 2, lambda: process.poll() is None, "the launched run after SIGHUP")
        os.kill(ranks[1], signal.SIGINT)
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    _assert_stopped_like_headless(run_dir, process.returncode, "stopped by a signal to another rank")  # rank 0's words


def test_a_stop_that_comes_when_every_step_has_run_ends_completed(tmp_path):
    run_dir = tmp_path / "run"  # one step: a SIGTERM while the model loads is taken after that step, the last
    process = subprocess.Popen([sys.executable, "-m", "tui", "train", "demo", "--headless", "--output-dir", str(run_dir),
                                *LONG, "--set", "training.max_steps=1"], cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("phase") == "loading model" for e in read_events(run_dir)):
            assert process.poll() is None and time.monotonic() < deadline, "no `loading model` status"
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=TIMEOUT)
    finally:
        process.kill()
    assert "SIGTERM: stopping after this step" in stderr
    end = read_events(run_dir)[-1]
    assert process.returncode == 0 and end["status"] == "completed" and end["global_step"] == 1, (end, stderr[-500:])
    assert (run_dir / "final" / "adapter_config.json").is_file()
