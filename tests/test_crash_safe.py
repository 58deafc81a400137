"""Crashes during a run: a torn or half-written checkpoint is never resumed from, and resume reaches the same loss.

One uninterrupted demo run (8 steps, a checkpoint every 2) is the reference; each test copies its run
directory, damages the copy as a kill, a second Ctrl-C or a full disk would, and resumes it.
"""

import json
import shutil
import subprocess
import sys

import pytest
from checkpoint_files import cut_short, whole_checkpoint
from conftest import REPO, run_cli, run_command
from fault_points import KILL_DURING_SAVE, died_after

from engine.record.events import read_events
from engine.record.rundir import checkpoint_to_resume, latest_checkpoint

STEPS = ["--set", "training.max_steps=8", "--set", "training.save_strategy=steps", "--set", "training.save_steps=2",
         "--set", "training.logging_steps=1", "--set", "training.eval_strategy=no",
         "--set", "training.save_total_limit=null"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("crash") / "whole"
    result = run_cli("train", "demo", "--headless", "--output-dir", str(run_dir), *STEPS)
    assert result.returncode == 0, result.stderr
    return run_dir


def _final_loss(run_dir):
    return [e for e in read_events(run_dir) if e["event"] == "log"][-1]["loss"]


def _died_after(uninterrupted, tmp_path, step):
    """A copy of the reference run as if its process died after step `step`'s checkpoint."""
    return died_after(uninterrupted, tmp_path / "died", step)


@pytest.mark.slow
def test_resume_passes_over_torn_checkpoints_and_reaches_the_uninterrupted_loss(uninterrupted, tmp_path):
    run_dir = _died_after(uninterrupted, tmp_path, 8)
    (run_dir / "checkpoint-8" / "trainer_state.json").unlink()  # killed before the state was written
    cut_short(run_dir / "checkpoint-6" / "optimizer.pt")  # a full disk while writing the optimizer
    cut_short(run_dir / "checkpoint-4" / "adapter_model.safetensors")  # killed while writing the adapter
    assert latest_checkpoint(run_dir) == str(run_dir / "checkpoint-2")
    (run_dir / "run.yaml").rename(tmp_path / "run.yaml.damaged")  # moved aside, as a damaged run.yaml's message says

    result = run_cli("train", "demo", "--headless", "--resume", "--output-dir", str(run_dir), *STEPS)
    assert result.returncode == 0, result.stderr
    assert (run_dir / "run.yaml").is_file()  # written again from the preset
    for step, why in ((8, "no trainer_state.json"), (6, "optimizer.pt is cut short"),
                      (4, "adapter_model.safetensors is cut short")):
        assert f"checkpoint-{step} is incomplete ({why}" in result.stdout
        assert (run_dir / f"incomplete-checkpoint-{step}").is_dir()
    warnings = [e["message"] for e in read_events(run_dir) if e.get("phase") == "warning"]
    assert sum("is incomplete" in w for w in warnings) == 3
    start = [e for e in read_events(run_dir) if e["event"] == "start"][-1]
    assert start["resumed_from"] == str(run_dir / "checkpoint-2") and start["start_step"] == 2
    assert _final_loss(run_dir) == pytest.approx(_final_loss(uninterrupted), abs=1e-6)
    assert latest_checkpoint(run_dir) == str(run_dir / "checkpoint-8")


@pytest.mark.slow
def test_a_kill_during_a_save_leaves_no_checkpoint_that_resume_would_take(uninterrupted, tmp_path):
    run_dir = _died_after(uninterrupted, tmp_path, 4)
    killed = subprocess.run([sys.executable, "-c", KILL_DURING_SAVE, "6", "train", "demo", "--headless", "--resume",
                             "--output-dir", str(run_dir), *STEPS], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr
    assert any(e["event"] == "log" and e["step"] == 6 for e in read_events(run_dir))  # it died saving step 6
    assert not (run_dir / "checkpoint-6").exists()
    assert (run_dir / "tmp-checkpoint-6" / "checkpoint-6" / "adapter_model.safetensors").is_file()
    assert latest_checkpoint(run_dir) == str(run_dir / "checkpoint-4")
    assert checkpoint_to_resume(run_dir, True) == str(run_dir / "checkpoint-4")


def test_resume_of_a_run_whose_every_checkpoint_is_incomplete_names_them(uninterrupted, tmp_path):
    run_dir = _died_after(uninterrupted, tmp_path, 4)
    (run_dir / "checkpoint-4" / "trainer_state.json").unlink()
    cut_short(run_dir / "checkpoint-2" / "scheduler.pt")
    result = run_command("train", "demo", "--headless", "--resume", "--output-dir", str(run_dir), *STEPS)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no whole checkpoint to resume from" in result.stderr
    assert "checkpoint-4: no trainer_state.json" in result.stderr and "checkpoint-2: scheduler.pt is cut short" in result.stderr
    fresh = run_command("train", "demo", "--headless", "--output-dir", str(run_dir), *STEPS)
    assert fresh.returncode == 2 and "no checkpoint of it is whole" in fresh.stderr


@pytest.mark.parametrize("tear", ["no state", "state cut", "optimizer cut", "scheduler cut", "adapter cut",
                                  "adapter missing", "rng cut"])
def test_each_tear_is_told_as_the_libraries_would_fail_to_load_it(uninterrupted, tmp_path, tear):
    import safetensors.torch
    import torch

    from engine.record.checkpoints import checkpoint_problem

    folder = tmp_path / "checkpoint-2"
    shutil.copytree(uninterrupted / "checkpoint-2", folder)
    assert checkpoint_problem(folder) is None
    name, damage = {"no state": ("trainer_state.json", "unlink"), "state cut": ("trainer_state.json", "cut"),
                    "optimizer cut": ("optimizer.pt", "cut"), "scheduler cut": ("scheduler.pt", "cut"),
                    "adapter cut": ("adapter_model.safetensors", "cut"),
                    "adapter missing": ("adapter_model.safetensors", "unlink"), "rng cut": ("rng_state.pth", "cut")}[tear]
    path = folder / name
    if damage == "unlink":
        path.unlink()
    else:
        cut_short(path, 0.7)
    problem = checkpoint_problem(folder)
    assert problem is not None and (name in problem or "weights" in problem), problem
    loaders = {".pt": lambda p: torch.load(p, weights_only=True), ".pth": lambda p: torch.load(p, weights_only=False),
               ".safetensors": safetensors.torch.load_file, ".json": lambda p: json.loads(p.read_text())}
    with pytest.raises(Exception):  # the ground truth: the library's own reader fails on what was passed over
        loaders[path.suffix](path)


@pytest.mark.slow
def test_resume_of_a_run_killed_writing_final_finishes_it_without_training_past_the_end(uninterrupted, tmp_path):
    run_dir = _died_after(uninterrupted, tmp_path, 8)
    (run_dir / "final").mkdir()  # killed while final/ was written: its config there, its weights cut short
    shutil.copy(run_dir / "checkpoint-8" / "adapter_config.json", run_dir / "final")
    shutil.copy(run_dir / "checkpoint-8" / "adapter_model.safetensors", run_dir / "final")
    cut_short(run_dir / "final" / "adapter_model.safetensors")
    logs_before = sum(e["event"] == "log" for e in read_events(run_dir))

    result = run_cli("train", "demo", "--headless", "--resume", "--output-dir", str(run_dir), *STEPS)
    assert result.returncode == 0, result.stderr
    assert "checkpoint-8 holds all 8 steps" in result.stdout and "step     9" not in result.stdout
    events = read_events(run_dir)
    assert sum(e["event"] == "log" for e in events) == logs_before and not (run_dir / "checkpoint-9").exists()
    end = events[-1]
    assert end["event"] == "end" and end["status"] == "completed" and end["global_step"] == 8
    assert end["final_loss"] == pytest.approx(_final_loss(uninterrupted), abs=1e-6)
    for name in ("adapter_model.safetensors", "adapter_config.json", "tokenizer.json"):
        assert (run_dir / "final" / name).read_bytes() == (uninterrupted / "final" / name).read_bytes()
    assert not (run_dir / "final" / "optimizer.pt").exists() and not (run_dir / "tmp-final").exists()
    again = run_command("train", "demo", "--headless", "--resume", "--output-dir", str(run_dir), *STEPS)
    assert again.returncode == 2 and "holds a completed run: there is nothing to resume" in again.stderr


def test_final_is_made_from_the_best_checkpoint_when_the_run_loads_the_best_at_its_end(tmp_path):
    from engine.config.run_config import RunConfig
    from engine.run.finish import final_source, write_final

    best = whole_checkpoint(tmp_path / "checkpoint-4", step=4, max_steps=8)
    last = whole_checkpoint(tmp_path / "checkpoint-8", step=8, max_steps=8)
    (last / "trainer_state.json").write_text(json.dumps({"global_step": 8, "max_steps": 8,
                                                         "best_model_checkpoint": str(best)}))
    assert final_source(last, RunConfig(training={"load_best_model_at_end": True})) == best
    assert final_source(last, RunConfig()) == last
    write_final(best, tmp_path / "final")
    assert sorted(p.name for p in (tmp_path / "final").iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
