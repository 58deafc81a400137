"""Shared fixtures: an isolated cache and config dir, offline Hugging Face, CLI helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PRESETS = REPO / "presets"
DEMO_DATA = PRESETS / "data" / "demo-alpaca.jsonl"


@pytest.fixture(scope="session", autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """One cache per test session (tiny-demo is built once) and no network."""
    cache = tmp_path_factory.mktemp("cache")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"


@pytest.fixture(autouse=True)
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh user config dir (user presets) for every test."""
    folder = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    return folder / "sft-wizard" / "presets"


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `python -m tui ARGS` in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=timeout, env=os.environ.copy())


def write_preset(folder: Path, text: str, name: str = "p.yaml") -> Path:
    """Write preset YAML text to a file."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


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
