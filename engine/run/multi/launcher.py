"""Launching a run's ranks through accelerate in a child process group, and following them through the run directory.

This process checks everything first (run directory, GPUs, data, tiny-demo built), holds run.lock,
turns stop/pause/checkpoint into request files that rank 0 reads, delivers rank 0's events to the
listeners as `attach` would, and judges the outcome by the `end` event, not by the launcher's exit code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import engine
from engine.atomic import write_text_atomic
from engine.config.presets import save_preset
from engine.errors import EXIT_FAILURE, EXIT_OK, EXIT_STOPPED
from engine.record.events import EVENTS_FILE, EventWriter, Listener, follow_events, read_events
from engine.record.rank_heartbeats import RANKS_DIR
from engine.run.control import RunControl, discard_requests, send_request
from engine.run.disk_space import hold_run_dir
from engine.run.multi.accelerate_config import accelerate_command, accelerate_config, worker_arguments
from engine.run.multi.world import LAUNCHER_ENV
from engine.run.train import RunPlan, RunRequest, RunResult, finish_trained_run, plan_run, run_training
from engine.yamlio import dump_yaml

LAUNCH_DIR = "launch"
LOG_FILE = "launcher.log"
BRIDGE_SECONDS = 0.2
SHUTDOWN_SECONDS = 300
EXIT_CODES = {"completed": EXIT_OK, "stopped": EXIT_STOPPED}


def train_or_launch(request: RunRequest) -> RunResult:
    """Train in this process, or launch distributed.processes ranks and follow them: what `train` and the UI call."""
    if request.config.distributed.active:
        return launch_run(request)
    return run_training(request)


def launch_run(request: RunRequest) -> RunResult:
    """Check, launch distributed.processes ranks, follow them to their end; UserError for anything to fix first."""
    plan = plan_run(request)
    if plan.trained_to:
        return finish_trained_run(plan, request)
    control = request.control or RunControl()
    with hold_run_dir(plan.run_dir):  # this process holds the run directory for its ranks
        discard_requests(plan.run_dir)
        command = write_launch_files(plan)
        return _run_ranks(plan, request.listeners, control, command)


def write_launch_files(plan: RunPlan) -> list[str]:
    """launch/preset.yaml and launch/accelerate.yaml in the run directory; returns the command that starts the ranks."""
    folder = plan.run_dir / LAUNCH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    ranks_config = plan.config.copy()  # every rank loads with the launcher's kernels decision, none asks the Hub again
    ranks_config.model.use_kernels = "true" if plan.kernels.enabled else "false"
    preset = save_preset(ranks_config, str(folder / "preset.yaml"), overwrite=True)
    distributed = plan.config.distributed
    config = accelerate_config(distributed, plan.precision.mixed, distributed.processes,
                               quantized=bool(plan.config.quantization))
    config_file = folder / "accelerate.yaml"
    write_text_atomic(config_file, dump_yaml(config))
    for old in (plan.run_dir / RANKS_DIR).glob("rank-*.json"):  # an earlier attempt's ranks
        old.unlink(missing_ok=True)
    worker = worker_arguments(str(preset.resolve()), str(plan.run_dir.resolve()), plan.checkpoint)
    return accelerate_command(str(config_file), worker)


def _rank_environment() -> dict[str, str]:
    """The ranks' environment: this package first on the path, unbuffered output, the launcher's pid."""
    root = str(Path(engine.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    # torch elastic SIGKILLs its workers this long after forwarding a SIGTERM: time to save a checkpoint
    patience = os.environ.get("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", str(SHUTDOWN_SECONDS))
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", LAUNCHER_ENV: str(os.getpid()),
            "TORCH_ELASTIC_SHUTDOWN_TIMEOUT": patience}


def _run_ranks(plan: RunPlan, listeners: list[Listener], control: RunControl, command: list[str]) -> RunResult:
    """Start the ranks, bridge the control to request files, deliver events, and read the outcome."""
    events = plan.run_dir / EVENTS_FILE
    offset = events.stat().st_size if events.exists() else 0
    since = time.time()
    writer = EventWriter(plan.run_dir)  # only before the ranks start and after they are gone
    distributed = plan.config.distributed
    writer.emit("status", phase="launching", message=f"{distributed.processes} processes ({distributed.strategy}) "
                                                     "through accelerate")
    delivered = threading.Event()
    follower = threading.Thread(target=_deliver, args=(plan.run_dir, offset, listeners, delivered), name="follow-ranks",
                                daemon=True)
    log_path = plan.run_dir / LAUNCH_DIR / LOG_FILE
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=_rank_environment())
    follower.start()
    aborted = False
    try:
        _bridge_control(process, control, plan.run_dir)
    except KeyboardInterrupt:  # a second Ctrl-C: abort without saving
        aborted = True
        _kill_group(process)
    finally:
        returncode = process.wait()
        end = _latest_end(plan.run_dir, since)
        if end is None:
            message = "interrupted without saving" if aborted else _crash_message(returncode, log_path)
            end = writer.emit("end", status="failed", final_path=None, message=message)
        writer.close()
        delivered.set()
        follower.join()
    status = "stopped" if aborted else str(end.get("status"))
    return RunResult(status, EXIT_STOPPED if aborted else EXIT_CODES.get(status, EXIT_FAILURE), str(plan.run_dir),
                     end.get("final_path"), str(end.get("message") or ""))


def _bridge_control(process: subprocess.Popen, control: RunControl, run_dir: Path) -> None:
    """Until the ranks exit, turn this process's stop/pause/checkpoint requests into files that rank 0 reads."""
    stop_sent = paused = False
    while process.poll() is None:
        if control.stop_requested.is_set() and not stop_sent:
            send_request(run_dir, "stop", control.stop_reason or None)
            stop_sent = True
        if control.checkpoint_requested.is_set():
            control.checkpoint_requested.clear()
            send_request(run_dir, "checkpoint")
        if control.paused.is_set() != paused:
            paused = not paused
            send_request(run_dir, "pause" if paused else "resume")
        time.sleep(BRIDGE_SECONDS)


def _kill_group(process: subprocess.Popen) -> None:
    """End the launcher and every rank at once (they run in their own process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _deliver(run_dir: Path, offset: int, listeners: list[Listener], delivered: threading.Event) -> None:
    """Pass every new event of the run directory to the listeners, until the outcome is written and read."""
    for event in follow_events(run_dir, threading.Event(), poll_seconds=0.1, idle=delivered.is_set, start_at=offset):
        for listener in list(listeners):
            try:
                listener(event)
            except Exception:  # a broken view (closed terminal) must not stop the run
                listeners.remove(listener)


def _latest_end(run_dir: Path, since: float) -> dict | None:
    """The `end` event the ranks wrote for this attempt, if any."""
    ends = [e for e in read_events(run_dir) if e.get("event") == "end" and float(e.get("time") or 0) >= since]
    return ends[-1] if ends else None


def _crash_message(returncode: int, log_path: Path) -> str:
    """Why the ranks ended without an `end` event: the launcher's exit code and the last error line of its log."""
    try:
        lines = [line.strip() for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    errors = [line for line in lines if "error" in line.lower()]
    last = (errors or lines or ["(no output)"])[-1][:300]
    return f"the ranks exited (code {returncode}) without finishing the run: {last} (full output: {log_path})"
