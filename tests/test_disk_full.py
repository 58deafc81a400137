"""A full disk, for real: a small tmpfs holds the run directory (mounting one needs root; skipped otherwise).

Mid-run, the disk fills while a checkpoint is written: the run ends `failed` (not `died`) with a message naming
the path and what was kept, a real error.log, and resumes once there is room. Before the run directory could be
written: exit 2 naming it, and nothing left behind (no empty run.lock).
"""

import subprocess

import pytest
from conftest import run_cli

from engine.record.events import read_events
from engine.record.liveness import read_status

pytestmark = pytest.mark.slow
STEPS = ["--set", "training.max_steps=6", "--set", "training.save_strategy=steps", "--set", "training.save_steps=2",
         "--set", "training.logging_steps=1", "--set", "training.eval_strategy=no", "--set", "training.save_total_limit=null"]
CHECKPOINT_MIB = 5
"""About what one demo checkpoint takes (adapter with embeddings 1.5 MiB, optimizer 3 MiB)."""


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs mounted at tmp_path/disk; yields a function that resizes it."""
    disk = tmp_path / "disk"
    disk.mkdir()

    def mount(options: str) -> None:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(disk)], capture_output=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.decode().strip()}")

    mount(f"size={2 * CHECKPOINT_MIB - 1}m")  # room for one checkpoint, not two
    yield disk, lambda mib: mount(f"remount,size={mib}m")
    subprocess.run(["umount", str(disk)], check=False)


def test_a_disk_that_fills_while_a_checkpoint_is_written_fails_the_run_naming_what_was_kept(small_disk):
    disk, resize = small_disk
    run_dir = disk / "run"
    result = run_cli("train", "demo", "--headless", "--output-dir", str(run_dir), *STEPS)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"the disk is full: writing {run_dir}/tmp-checkpoint-4" in result.stderr, result.stderr
    assert "Kept: checkpoint-2, run.yaml, events.jsonl; the unfinished tmp-checkpoint-4 was removed" in result.stderr
    assert "--resume` (from checkpoint-2)" in result.stderr
    end = read_events(run_dir)[-1]
    assert end["event"] == "end" and end["status"] == "failed" and "the disk is full" in end["message"]
    assert read_status(run_dir) == "failed"
    error_log = (run_dir / "error.log").read_text()
    assert error_log.startswith("the disk is full: writing") and "Traceback (most recent call last)" in error_log
    assert not (run_dir / "tmp-checkpoint-4").exists() and not (run_dir / ".space-reserve").exists()

    resize(64)
    resumed = run_cli("train", "demo", "--headless", "--resume", "--output-dir", str(run_dir), *STEPS)
    assert resumed.returncode == 0, resumed.stderr
    start = [e for e in read_events(run_dir) if e["event"] == "start"][-1]
    assert start["start_step"] == 2 and read_events(run_dir)[-1]["status"] == "completed"


def test_a_full_disk_before_the_run_directory_is_written_leaves_nothing_behind(small_disk):
    disk, _ = small_disk
    subprocess.run(["dd", "if=/dev/zero", f"of={disk / 'filler'}", "bs=64k"], capture_output=True)  # until ENOSPC
    run_dir = disk / "run"
    result = run_cli("train", "demo", "--headless", "--output-dir", str(run_dir), *STEPS)
    assert result.returncode == 2, result.stderr
    assert f"cannot write the run directory {run_dir}" in result.stderr
    assert "No space left on device" in result.stderr and "Free space on its disk" in result.stderr
    assert not run_dir.exists()  # no run directory with an empty run.lock in it
