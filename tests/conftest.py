"""Shared fixtures: an isolated cache, config and state dir, offline Hugging Face, CLI helpers."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

# One compute thread per torch process, set before anything imports torch: the suite runs two test processes,
# each often beside a training subprocess, on a machine of two cores, and torch's default of a thread per core
# then has OpenMP threads spin-waiting on each other (a 2-epoch demo run: 11 s with one thread, 56-124 s with two).
os.environ.setdefault("OMP_NUM_THREADS", "1")

LONGEST_FILES = ("test_distributed.py", "test_stop_signals.py", "test_journeys.py", "test_wizard.py",
                 "test_gguf_export.py", "test_train.py", "test_eval.py", "test_disk_full.py", "test_snapshots.py",
                 "test_run_liveness.py", "test_export_script.py", "test_crash_safe.py", "test_distributed_ui.py",
                 "test_gpu_runtime.py", "test_tmux_journey.py", "test_resume_changes.py", "test_monitor.py",
                 "test_probe.py")
"""The test files that take longest (25-125 s each, per-test wall times summed over a full run), longest first."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the longest files first, so the two test processes finish together, not one waiting on the last long file.

    scripts/test.sh hands out whole files in this order (--dist loadfile --no-loadscope-reorder); the others follow
    in their usual order.
    """
    rank = {name: position for position, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


REPO = Path(__file__).resolve().parent.parent
PRESETS = REPO / "presets"
DEMO_DATA = PRESETS / "data" / "demo-alpaca.jsonl"


@pytest.fixture(scope="session", autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One cache per test session (tiny-demo is built once), a state dir for module fixtures' runs, and no network."""
    cache = tmp_path_factory.mktemp("cache")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("state"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


@pytest.fixture(scope="session", autouse=True)
def analysis_processes_kept_between_apps():
    """One set of wizard analysis processes for the whole session.

    Quitting a wizard ends its analysis processes (what a user needs, and what tests/test_terminal_life.py
    checks in real terminals); each spawned process then spends seconds importing torch and transformers
    again for the next test's app. Here quitting ends only one-off processes (a probe) and keeps the pool;
    the session's end terminates it. Every test's edits still go through the real processes.
    """
    from tui.wizard.job_processes import JOBS, JobProcesses

    def end_one_offs_keep_pool(reap: bool = True) -> None:
        for process in list(JOBS._one_off):
            process.kill()

    JOBS.terminate = end_one_offs_keep_pool  # this instance only; JobProcesses.terminate(JOBS) still ends it all
    yield
    del JOBS.terminate
    JobProcesses.terminate(JOBS)


@pytest.fixture(autouse=True)
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh user config dir (user presets) for every test."""
    folder = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    return folder / "sft-wizard" / "presets"


@pytest.fixture(autouse=True)
def user_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh user state dir (the run index) for every test."""
    folder = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    return folder / "sft-wizard"


@pytest.fixture(autouse=True)
def visible_devices_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """CUDA_VISIBLE_DEVICES as it was, after every test: choosing the training GPU sets it in os.environ.

    monkeypatch.delenv of an unset variable records nothing to undo; this first record is undone last.
    """
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", before or "")
    if before is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES")


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `python -m tui ARGS` in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=timeout, env=os.environ.copy())


def run_command(*args: str) -> subprocess.CompletedProcess:
    """Run a headless command in this process, as `sft-wizard ARGS` would, capturing its output and exit code.

    For commands that read, check and write files: a subprocess would spend seconds importing the libraries
    this process has already imported. Training, probing, launching and signals go through run_cli.
    """
    from engine.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    os.chdir(REPO)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse: --help exits 0, usage errors 2; as the interpreter maps them
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(["sft-wizard", *args], code, out.getvalue(), err.getvalue())


def write_preset(folder: Path, text: str, name: str = "p.yaml") -> Path:
    """Write preset YAML text to a file."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def force_fp16_amp(accelerator, monkeypatch: pytest.MonkeyPatch) -> set:
    """Turn accelerate's fp16 AMP on as on a GPU; the returned set collects the gradient dtypes GradScaler unscales.

    accelerate leaves fp16 AMP off on a CPU; forced on, it autocasts the forward to float16 and scales,
    unscales (clipping) and steps through its GradScaler as on CUDA. GradScaler.unscale_ refuses float16
    gradients on any device ("Attempting to unscale FP16 gradients"); on CUDA its kernel has no bfloat16
    version either. Only float32 may reach it.
    """
    import torch

    seen: set = set()
    unscale = torch.amp.GradScaler.unscale_

    def recording(scaler, optimizer):
        seen.update(p.grad.dtype for group in optimizer.param_groups for p in group["params"] if p.grad is not None)
        return unscale(scaler, optimizer)

    monkeypatch.setattr(torch.amp.GradScaler, "unscale_", recording)
    assert accelerator.scaler is None  # what accelerate does on a CPU
    accelerator.native_amp = True
    accelerator.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**4)
    return seen


MINIMAL = f"""
name: t
model: {{name_or_path: tiny-demo}}
dataset: {{path: {DEMO_DATA}}}
training: {{num_train_epochs: 1}}
"""


async def wait_until(pilot, condition, seconds: float = 60, what: str = "the condition") -> None:
    """Let the app run until condition() holds; fail (never hang) after `seconds`."""
    import asyncio
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        await pilot.pause()
        await asyncio.sleep(0.02)


async def settle_wizard(pilot, seconds: float = 120) -> None:
    """Wait until the wizard has analysed every edit and shown every newest result."""
    await wait_until(pilot, lambda: pilot.app.analysis_settled, seconds, "the wizard's analyses")
    await pilot.pause()
