"""Dead runs are known as dead: run.lock and its heartbeat, the one status rule, `runs`, `stop` and `checkpoint`."""

import fcntl
import json
import os
import socket
import subprocess
import sys
import time

import pytest
from checkpoint_files import whole_checkpoint
from conftest import REPO, run_cli

from engine.cli.main import main
from engine.errors import UserError
from engine.record import liveness
from engine.record.events import read_events
from engine.record.liveness import ALIVE, GONE, SILENT, RunLock, read_liveness, read_status, run_status
from engine.record.rundir import checkpoint_to_resume, latest_checkpoint
from engine.record.state import RunState
from engine.run.control import request_file, send_to_live_run
from tui.monitor import sources
from tui.monitor.sources import AttachedRun

HOST = socket.gethostname()


def _write_events(run_dir, *events):
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "events.jsonl", "a", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event) + "\n")


def _started_run(run_dir, step=3):
    """A run directory whose events stop mid-training, at `step` of 90."""
    _write_events(run_dir, {"event": "start", "time": 10.0, "total_steps": 90, "name": "demo"},
                  {"event": "log", "time": 11.0, "step": step, "total_steps": 90, "loss": 1.5})
    return run_dir


def _lock_record(run_dir, host=HOST, since=5.0, heartbeat=None, hold=False):
    """Write run.lock as a training process would; with hold, keep it locked (close the returned fd to let go)."""
    fd = os.open(run_dir / "run.lock", os.O_RDWR | os.O_CREAT)
    if hold:
        fcntl.flock(fd, fcntl.LOCK_EX)
    record = {"pid": 4242, "host": host, "since": since, "heartbeat": heartbeat or time.time(), "lock": True}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(record).encode(), 0)
    if hold:
        return fd
    os.close(fd)
    return None


# the status rule --------------------------------------------------------------------------------
def test_a_held_lock_means_running_and_a_released_one_means_died(tmp_path):
    run_dir = _started_run(tmp_path / "run")
    fd = _lock_record(run_dir, hold=True)
    assert read_liveness(run_dir).state == ALIVE and read_status(run_dir) == "running"
    os.close(fd)  # what the OS does when the process dies
    life = read_liveness(run_dir)
    assert life.state == GONE and life.pid == 4242 and read_status(run_dir) == "died"


def test_another_hosts_heartbeat_decides_when_its_lock_is_not_visible(tmp_path):
    run_dir = _started_run(tmp_path / "run")
    _lock_record(run_dir, host="gpu-node-7", heartbeat=1000.0)
    assert read_liveness(run_dir, now=1010.0).state == ALIVE
    assert read_liveness(run_dir, now=1000.0 + liveness.STALE_SECONDS + 1).state == SILENT
    assert run_status(read_events(run_dir), read_liveness(run_dir, now=5000.0)) == "died?"


def test_the_latest_attempts_end_outranks_liveness(tmp_path):
    run_dir = _started_run(tmp_path / "run")
    _write_events(run_dir, {"event": "end", "time": 12.0, "status": "stopped"})
    _lock_record(run_dir, since=5.0)
    assert read_status(run_dir) == "stopped"
    _lock_record(run_dir, since=20.0)  # a later attempt took the directory and died before its start event
    assert read_status(run_dir) == "died"
    fd = _lock_record(run_dir, since=20.0, hold=True)  # ...or is still loading its model
    assert read_status(run_dir) == "running"
    os.close(fd)


def test_a_run_directory_without_run_lock_goes_by_its_events():
    start, end = {"event": "start", "time": 1.0}, {"event": "end", "time": 2.0, "status": "completed"}
    assert run_status([]) == "not started"
    assert run_status([start]) == "running"
    assert run_status([start, end]) == "completed"
    assert run_status([start, end, {"event": "start", "time": 3.0}]) == "running"


def test_run_lock_refuses_a_second_holder_beats_and_lets_go(tmp_path, monkeypatch):
    monkeypatch.setattr(liveness, "LOCK_WAIT_SECONDS", 0.1)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lock = RunLock(run_dir, heartbeat_seconds=0.05)
    with lock:
        with pytest.raises(UserError, match=f"being trained by another process \\(pid {os.getpid()}"):
            RunLock(run_dir).acquire()
        first = json.loads((run_dir / "run.lock").read_text())
        assert first["pid"] == os.getpid() and first["host"] == HOST
        deadline = time.monotonic() + 10
        while json.loads((run_dir / "run.lock").read_text())["heartbeat"] == first["heartbeat"]:
            assert time.monotonic() < deadline, "the heartbeat never moved"
            time.sleep(0.02)
        assert read_liveness(run_dir).state == ALIVE
    assert read_liveness(run_dir).state == GONE


# what train, stop, checkpoint, runs and attach make of it ------------------------------------------
def test_train_tells_a_died_run_to_resume_and_refuses_a_live_one(tmp_path):
    run_dir = _started_run(tmp_path / "run", step=7)
    whole_checkpoint(run_dir / "checkpoint-5")
    _lock_record(run_dir)
    with pytest.raises(UserError, match="died at step 7.*continue it from checkpoint-5 with --resume"):
        checkpoint_to_resume(run_dir, None)
    assert checkpoint_to_resume(run_dir, True) == str(run_dir / "checkpoint-5")
    fd = _lock_record(run_dir, hold=True)
    with pytest.raises(UserError, match="being trained right now \\(pid 4242"):
        checkpoint_to_resume(run_dir, True)
    os.close(fd)


def test_a_run_that_died_before_its_first_step_can_start_again(tmp_path):
    run_dir = tmp_path / "run"
    _write_events(run_dir, {"event": "status", "time": 6.0, "phase": "loading model"})
    _lock_record(run_dir)
    assert read_status(run_dir) == "died" and checkpoint_to_resume(run_dir, None) is None


def test_stop_and_checkpoint_reach_only_a_live_run(tmp_path, capsys):
    with pytest.raises(UserError, match="not a run directory"):
        send_to_live_run(tmp_path, "stop")
    run_dir = _started_run(tmp_path / "run")
    _lock_record(run_dir)
    assert main(["stop", str(run_dir)]) == 2
    assert "died at step 3" in capsys.readouterr().err and not request_file(run_dir, "stop").exists()
    fd = _lock_record(run_dir, hold=True)
    assert main(["checkpoint", str(run_dir)]) == 0
    assert "pid 4242" in capsys.readouterr().out and request_file(run_dir, "checkpoint").exists()
    os.close(fd)
    _write_events(run_dir, {"event": "end", "time": time.time(), "status": "completed"})
    with pytest.raises(UserError, match="not alive \\(completed\\)"):
        send_to_live_run(run_dir, "stop")


def test_runs_lists_status_step_loss_and_path(tmp_path, capsys):
    died = _started_run(tmp_path / "runs" / "a", step=3)
    _lock_record(died)
    done = _started_run(tmp_path / "runs" / "b", step=90)
    _write_events(done, {"event": "end", "time": 20.0, "status": "completed"})
    assert main(["runs", str(tmp_path / "runs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["STATUS", "STEP", "LOSS", "STARTED", "PATH"]
    rows = {line.split()[-1]: line.split() for line in lines[1:]}
    assert rows[str(died)][:3] == ["died", "3/90", "1.5000"] and rows[str(done)][:2] == ["completed", "90/90"]
    assert main(["runs", str(tmp_path / "nowhere")]) == 0 and "no runs under" in capsys.readouterr().out


def _wait_for_end(events, seconds=15.0):
    deadline = time.monotonic() + seconds
    while not any(e.get("event") == "end" for e in events):
        assert time.monotonic() < deadline, f"no end event; got {events}"
        time.sleep(0.02)
    return events


def test_attach_shows_a_run_that_died(tmp_path):
    run_dir = _started_run(tmp_path / "run")
    whole_checkpoint(run_dir / "checkpoint-2")
    _lock_record(run_dir)
    source = AttachedRun(str(run_dir))
    assert not source.controllable
    events = []
    source.start(events.append)
    end = _wait_for_end(events)[-1]
    source.close()
    assert end["status"] == "died" and "died at step 3" in end["message"] and "checkpoint-2" in end["message"]
    state = RunState.from_events(events)
    assert state.phase == "died" and state.step == 3 and state.elapsed() > 0


def test_attach_sees_a_run_die_while_it_watches(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "LIVENESS_SECONDS", 0.05)
    run_dir = _started_run(tmp_path / "run")
    fd = _lock_record(run_dir, hold=True)
    source = AttachedRun(str(run_dir))
    assert source.controllable
    events = []
    source.start(events.append)
    deadline = time.monotonic() + 15
    while len(events) < 2 and time.monotonic() < deadline:  # the follower thread reads the two recorded events
        time.sleep(0.02)
    assert [e["event"] for e in events] == ["start", "log"] and source.controllable
    os.close(fd)
    assert _wait_for_end(events)[-1]["status"] == "died" and not source.controllable
    source.close()


# real processes -----------------------------------------------------------------------------------
def _train(run_dir, *settings):
    args = ["train", "demo", "--headless", "--output-dir", str(run_dir), "--set", "training.logging_steps=1",
            "--set", "training.eval_strategy=no", *[part for s in settings for part in ("--set", s)]]
    return subprocess.Popen([sys.executable, "-m", "tui", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def _wait_for_event(run_dir, kind, process, seconds=120):
    deadline = time.monotonic() + seconds
    while True:
        found = [e for e in read_events(run_dir) if e["event"] == kind]
        if found:
            return found[-1]
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no {kind} event (exit {process.poll()}): {process.communicate()[1][-2000:]}")
        time.sleep(0.05)


@pytest.mark.slow
def test_a_killed_run_is_known_as_dead_and_resumes(tmp_path):
    run_dir = tmp_path / "runs" / "demo"
    process = _train(run_dir, "training.num_train_epochs=30", "training.save_strategy=steps", "training.save_steps=6")
    try:
        _wait_for_event(run_dir, "checkpoint", process)
        assert read_status(run_dir) == "running"
        process.kill()  # SIGKILL: no end event, no cleanup
        process.communicate(timeout=60)
    finally:
        process.kill()
    step = RunState.from_events(read_events(run_dir)).step
    checkpoint_step = int(latest_checkpoint(run_dir).rsplit("-", 1)[1])

    listed = run_cli("runs", str(tmp_path / "runs"), timeout=60)
    assert listed.returncode == 0 and "died " in listed.stdout and str(run_dir) in listed.stdout, listed.stdout
    refused = run_cli("train", "demo", "--headless", "--output-dir", str(run_dir), timeout=120)
    assert refused.returncode == 2 and f"died at step {step}" in refused.stderr and "--resume" in refused.stderr
    stop = run_cli("stop", str(run_dir), timeout=60)
    assert stop.returncode == 2 and "died" in stop.stderr
    assert read_status(run_dir) == "died" and not AttachedRun(str(run_dir)).controllable

    resumed = run_cli("train", "demo", "--headless", "--output-dir", str(run_dir), "--resume", "--allow-changes",
                      "--set", f"training.max_steps={checkpoint_step + 2}", "--set", "training.save_strategy=no", timeout=120)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert read_status(run_dir) == "completed"
    assert read_events(run_dir)[-1]["global_step"] == checkpoint_step + 2


@pytest.mark.slow
def test_stop_and_checkpoint_from_another_shell_reach_a_live_run(tmp_path):
    run_dir = tmp_path / "run"
    process = _train(run_dir, "training.num_train_epochs=30", "training.save_strategy=no")
    try:
        _wait_for_event(run_dir, "log", process)
        asked = run_cli("checkpoint", str(run_dir), timeout=60)
        assert asked.returncode == 0 and "save a checkpoint" in asked.stdout, asked.stderr
        saved = _wait_for_event(run_dir, "checkpoint", process)
        assert (run_dir / f"checkpoint-{saved['step']}").is_dir()
        asked = run_cli("stop", str(run_dir), timeout=60)
        assert asked.returncode == 0, asked.stderr
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stderr[-2000:]
    assert read_events(run_dir)[-1]["status"] == "stopped" and read_status(run_dir) == "stopped"
    again = run_cli("stop", str(run_dir), timeout=60)
    assert again.returncode == 2 and "not alive (stopped)" in again.stderr
