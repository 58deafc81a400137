"""The run directory: one rule for the latest checkpoint (the library's, less the incomplete ones), one reader of run.yaml."""

import pytest
from checkpoint_files import cut_short, whole_checkpoint

from engine.errors import UserError
from engine.record.recent import summarise_run
from engine.record.rundir import checkpoint_to_resume, latest_checkpoint, read_run_file, run_config


def _make_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    for name in ("checkpoint-9", "checkpoint-10", "checkpoint-2"):
        whole_checkpoint(run_dir / name)
    (run_dir / "checkpoint-99").write_text("a file, not a checkpoint")
    (run_dir / "checkpoint-100.tmp").mkdir()
    (run_dir / "checkpoint-abc").mkdir()
    return run_dir


def test_latest_checkpoint_follows_the_numbers_not_the_names_or_times(tmp_path):
    run_dir = _make_run_dir(tmp_path)
    (run_dir / "checkpoint-2" / "touched").write_text("newest by time")
    assert latest_checkpoint(run_dir) == str(run_dir / "checkpoint-10")
    assert latest_checkpoint(tmp_path / "missing") is None


def test_latest_checkpoint_is_the_rule_transformers_resumes_with_less_the_incomplete(tmp_path):
    from transformers.trainer_utils import get_last_checkpoint

    run_dir = _make_run_dir(tmp_path)
    assert latest_checkpoint(run_dir) == get_last_checkpoint(str(run_dir))
    cut_short(run_dir / "checkpoint-10" / "optimizer.pt")
    assert get_last_checkpoint(str(run_dir)) == str(run_dir / "checkpoint-10")  # the library takes it anyway
    assert latest_checkpoint(run_dir) == str(run_dir / "checkpoint-9")
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


def test_a_taken_run_dir_is_said_in_settings_with_a_free_one(tmp_path):
    from engine.record.rundir import run_dir_problem

    run_dir = _make_run_dir(tmp_path)
    (tmp_path / "run-2").mkdir()  # an empty folder is free
    problem = run_dir_problem(run_dir)
    assert problem.field == "training.output_dir" and "--" not in problem.text
    assert f"free directory ({tmp_path / 'run-2'})" in problem.text
    assert run_dir_problem(tmp_path / "run-2") is None


def test_run_yaml_is_read_in_one_place_with_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no run.yaml"):
        read_run_file(tmp_path)
    (tmp_path / "run.yaml").write_text("just text\n")
    with pytest.raises(UserError, match="not an sft-wizard run record"):
        read_run_file(tmp_path)
    (tmp_path / "run.yaml").write_text("config:\n  name: x\n  model: {name_or_path: tiny-demo}\n"
                                       "  dataset: {path: data.jsonl}\n")
    assert run_config(tmp_path).name == "x"


def test_checkpoint_file_names_are_the_libraries(tmp_path):
    from transformers import trainer, utils
    from transformers.trainer_utils import _re_checkpoint

    from engine.record import checkpoints

    assert checkpoints.CHECKPOINT_NAME.pattern == _re_checkpoint.pattern
    assert checkpoints.TRAINER_STATE == trainer.TRAINER_STATE_NAME and checkpoints.SCHEDULER == trainer.SCHEDULER_NAME
    assert checkpoints.OPTIMIZER_FILES == (trainer.OPTIMIZER_NAME, trainer.OPTIMIZER_NAME_BIN)
    assert checkpoints.FSDP_MODEL == trainer.FSDP_MODEL_NAME
    assert checkpoints.WEIGHT_FILES == (utils.ADAPTER_SAFE_WEIGHTS_NAME, utils.ADAPTER_WEIGHTS_NAME,
                                        utils.SAFE_WEIGHTS_NAME, utils.WEIGHTS_NAME)
    assert checkpoints.WEIGHT_INDEXES == (utils.SAFE_WEIGHTS_INDEX_NAME, utils.WEIGHTS_INDEX_NAME)


def test_a_run_saving_no_optimizer_state_resumes_from_model_only_checkpoints(tmp_path):
    run_dir = tmp_path / "run"
    whole_checkpoint(run_dir / "checkpoint-3")
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (run_dir / "checkpoint-3" / name).unlink()
    assert latest_checkpoint(run_dir) is None
    (run_dir / "run.yaml").write_text("config:\n  training: {save_only_model: true}\n")
    assert latest_checkpoint(run_dir) == str(run_dir / "checkpoint-3")


def test_resume_from_a_named_incomplete_checkpoint_is_refused_with_the_reason(tmp_path):
    run_dir = tmp_path / "run"
    whole_checkpoint(run_dir / "checkpoint-3")
    cut_short(run_dir / "checkpoint-3" / "adapter_model.safetensors")
    with pytest.raises(UserError, match=r"checkpoint-3: this checkpoint is incomplete \(adapter_model.safetensors is cut"):
        checkpoint_to_resume(run_dir, str(run_dir / "checkpoint-3"))
    with pytest.raises(UserError, match="not a checkpoint folder"):
        checkpoint_to_resume(run_dir, str(tmp_path))
