"""Several data-parallel ranks through accelerate, on CPU with gloo: events, agreed stop, resume and NaN stop.

Every launch runs under a timeout: ranks that disagree hang instead of failing.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from engine.record.events import read_events
from engine.record.rank_heartbeats import read_heartbeats
from engine.run.control import send_request
from engine.yamlio import load_yaml

TWO = ["--processes", "2", "--set", "training.num_train_epochs=2"]
QUICK = ["--set", "training.logging_steps=1", "--set", "training.save_strategy=no", "--set", "training.eval_strategy=no"]
LAUNCH_TIMEOUT = 300
pytestmark = pytest.mark.slow  # every test trains, in two ranks plus a launcher
NAN_ON_RANK_1 = Path(__file__).parent / "data" / "nan_on_rank_1"


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "two"
    result = run_cli("train", "demo", "--headless", "--output-dir", str(run_dir), *TWO, timeout=LAUNCH_TIMEOUT)
    return run_dir, result


def test_two_processes_train_to_the_end_with_every_rank_in_every_log(two_ranks):
    run_dir, result = two_ranks
    assert result.returncode == 0, result.stderr + _launcher_log(run_dir)
    events = read_events(run_dir)
    starts = [e for e in events if e["event"] == "start"]
    assert len(starts) == 1 and starts[0]["world_size"] == 2 and starts[0]["strategy"] == "ddp"
    logs = [e for e in events if e["event"] == "log"]
    assert logs and all([r["rank"] for r in e["ranks"]] == [0, 1] for e in logs)
    assert all(r["rss_bytes"] > 50 * 2**20 and r["step"] == e["step"] for e in logs for r in e["ranks"])
    end = events[-1]
    assert end["event"] == "end" and end["status"] == "completed" and end["global_step"] == starts[0]["total_steps"]
    assert (run_dir / "final" / "adapter_model.safetensors").is_file()
    assert [(h["rank"], h["step"]) for h in read_heartbeats(run_dir)] == [(0, end["global_step"]), (1, end["global_step"])]
    assert load_yaml((run_dir / "run.yaml").read_text())["config"]["distributed"]["processes"] == 2
    assert sum(line.startswith("step ") for line in result.stdout.splitlines()) == len(logs)  # the printer followed


def test_the_adapter_of_two_processes_loads_and_generates(two_ranks):
    run_dir, _ = two_ranks
    result = run_cli("chat", str(run_dir), "--prompt", "What color is snow?", "--max-new-tokens", "4")
    assert result.returncode == 0 and "fine-tuned:" in result.stdout, result.stderr


def test_pause_holds_both_ranks_a_stop_reaches_both_at_one_step_and_resume_finishes_the_same_steps(two_ranks, tmp_path):
    run_dir = tmp_path / "run"
    args = ["train", "demo", "--headless", "--output-dir", str(run_dir), *TWO, *QUICK]
    process = subprocess.Popen([sys.executable, "-m", "tui", *args], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        _wait_for_logs(run_dir, 3, process)
        send_request(run_dir, "pause")  # both ranks wait together, ticking the agreement
        _wait_for(run_dir, lambda e: e["event"] == "status" and e["phase"] == "paused", process)
        paused_logs = sum(e["event"] == "log" for e in read_events(run_dir))
        time.sleep(2)
        assert sum(e["event"] == "log" for e in read_events(run_dir)) == paused_logs
        send_request(run_dir, "resume")
        _wait_for_logs(run_dir, paused_logs + 1, process)
        # Paused again before the signal: on a quiet machine the run could otherwise reach its end first.
        send_request(run_dir, "pause")
        _wait_for(run_dir, lambda e: e["event"] == "status" and e["phase"] == "paused", process, count=2)
        for launcher in _children(process.pid):  # as Slurm's --signal does: SIGTERM to accelerate's launcher
            os.kill(launcher, signal.SIGTERM)
        _, stderr = process.communicate(timeout=LAUNCH_TIMEOUT)
    finally:
        process.kill()
    assert process.returncode == 130, stderr + _launcher_log(run_dir)
    events = read_events(run_dir)
    end = events[-1]
    assert end["event"] == "end" and end["status"] == "stopped" and "SIGTERM" in end["message"]
    stopped_at = end["global_step"]
    total = two_ranks_total(two_ranks)
    assert 0 < stopped_at < total
    assert [h["step"] for h in read_heartbeats(run_dir)] == [stopped_at, stopped_at]  # both ranks stopped there
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == [f"checkpoint-{stopped_at}"]

    resumed = run_cli(*args[:3], "--resume", *args[3:], timeout=LAUNCH_TIMEOUT)
    assert resumed.returncode == 0, resumed.stderr + _launcher_log(run_dir)
    events = read_events(run_dir)
    start = [e for e in events if e["event"] == "start"][-1]
    assert start["start_step"] == stopped_at and start["world_size"] == 2
    assert events[-1]["status"] == "completed" and events[-1]["global_step"] == total
    steps = [e["step"] for e in events if e["event"] == "log" and e["time"] >= start["time"]]
    assert steps[0] == stopped_at + 1


def test_a_nan_on_one_rank_stops_every_rank(tmp_path):
    run_dir = tmp_path / "nan"
    env = os.environ | {"PYTHONPATH": os.pathsep.join(p for p in (str(NAN_ON_RANK_1), os.environ.get("PYTHONPATH")) if p)}
    result = subprocess.run([sys.executable, "-m", "tui", "train", "demo", "--headless", "--output-dir", str(run_dir),
                             *TWO, *QUICK], cwd=REPO, capture_output=True, text=True, env=env, timeout=LAUNCH_TIMEOUT)
    assert result.returncode == 1, result.stderr + _launcher_log(run_dir)
    events = read_events(run_dir)
    end = events[-1]
    assert end["event"] == "end" and end["status"] == "failed" and "diverged" in end["message"]
    nan_step = int(end["message"].split("at step ")[1].split(":")[0])
    assert nan_step >= 3 and [h["step"] for h in read_heartbeats(run_dir)] == [nan_step, nan_step]


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (read from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def two_ranks_total(two_ranks) -> int:
    """The steps an uninterrupted two-process run of the same settings took."""
    return next(e for e in read_events(two_ranks[0]) if e["event"] == "start")["total_steps"]


def _wait_for_logs(run_dir: Path, count: int, process: subprocess.Popen) -> None:
    _wait_for(run_dir, lambda e: e["event"] == "log", process, count)


def _wait_for(run_dir: Path, matches, process: subprocess.Popen, count: int = 1) -> None:
    """Wait until `count` events match, failing (never hanging) if the run ends or the timeout passes."""
    deadline = time.monotonic() + LAUNCH_TIMEOUT
    while sum(bool(matches(e)) for e in read_events(run_dir)) < count:
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"not {count} such events (exit {process.poll()}){_launcher_log(run_dir)}")
        time.sleep(0.05)


def _launcher_log(run_dir: Path) -> str:
    log = run_dir / "launch" / "launcher.log"
    return "\n--- launcher.log ---\n" + log.read_text()[-3000:] if log.is_file() else ""
