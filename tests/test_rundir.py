"""The run directory: one rule for the latest checkpoint (the library's), one reader of run.yaml."""

import pytest

from engine.errors import UserError
from engine.record.recent import summarise_run
from engine.record.rundir import checkpoint_to_resume, latest_checkpoint, read_run_file, run_config


def _make_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    for name in ("checkpoint-9", "checkpoint-10", "checkpoint-2"):
        (run_dir / name).mkdir(parents=True)
    (run_dir / "checkpoint-99").write_text("a file, not a checkpoint")
    (run_dir / "checkpoint-100.tmp").mkdir()
    (run_dir / "checkpoint-abc").mkdir()
    return run_dir


def test_latest_checkpoint_follows_the_numbers_not_the_names_or_times(tmp_path):
    run_dir = _make_run_dir(tmp_path)
    (run_dir / "checkpoint-2" / "touched").write_text("newest by time")
    assert latest_checkpoint(run_dir) == str(run_dir / "checkpoint-10")
    assert latest_checkpoint(tmp_path / "missing") is None


def test_latest_checkpoint_is_the_rule_transformers_resumes_with(tmp_path):
    from transformers.trainer_utils import get_last_checkpoint

    run_dir = _make_run_dir(tmp_path)
    assert latest_checkpoint(run_dir) == get_last_checkpoint(str(run_dir))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert latest_checkpoint(empty) is None and get_last_checkpoint(str(empty)) is None


def test_recent_runs_name_the_same_checkpoint(tmp_path):
    run_dir = _make_run_dir(tmp_path)
    (run_dir / "events.jsonl").write_text('{"event": "start", "time": 1.0, "name": "demo"}\n'
                                          '{"event": "log", "time": 2.0, "step": 10, "loss": 0.5}\n')
    summary = summarise_run(run_dir)
    assert summary.last_checkpoint == str(run_dir / "checkpoint-10")
    assert summary.name == "demo" and summary.final_loss == 0.5 and summary.status == "running"


def test_resume_takes_the_latest_checkpoint_and_a_fresh_start_refuses_an_old_run(tmp_path):
    run_dir = _make_run_dir(tmp_path)
    assert checkpoint_to_resume(run_dir, True) == str(run_dir / "checkpoint-10")
    with pytest.raises(UserError, match="already holds a run"):
        checkpoint_to_resume(run_dir, None)
    assert checkpoint_to_resume(tmp_path / "new", None) is None


def test_run_yaml_is_read_in_one_place_with_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no run.yaml"):
        read_run_file(tmp_path)
    (tmp_path / "run.yaml").write_text("just text\n")
    with pytest.raises(UserError, match="not an sft-wizard run record"):
        read_run_file(tmp_path)
    (tmp_path / "run.yaml").write_text("config:\n  name: x\n  model: {name_or_path: tiny-demo}\n"
                                       "  dataset: {path: data.jsonl}\n")
    assert run_config(tmp_path).name == "x"
