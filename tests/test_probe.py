"""The pre-flight probe: real steps on CPU here; an out-of-memory step is reported, never a crash."""

import pytest
from conftest import run_cli

from engine.config.presets import load_preset
from engine.errors import EXIT_DOES_NOT_FIT


@pytest.mark.slow
def test_probe_runs_real_steps_on_cpu_and_reports_peak_rss():
    result = run_cli("probe", "demo", "--steps", "2")
    assert result.returncode == 0, result.stderr
    assert "2 steps at batch 8 × 256 tokens on cpu" in result.stdout and "peak RSS" in result.stdout


@pytest.mark.slow
def test_probe_random_init_builds_the_architecture_from_config():
    result = run_cli("probe", "demo", "--steps", "1", "--random-init")
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_out_of_memory_is_caught_and_exits_3_with_a_recommendation(monkeypatch, capsys):
    import torch
    import trl

    def out_of_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(trl.SFTTrainer, "train", out_of_memory)
    from engine.cli.probe import run_probe_command

    config, _, _ = load_preset("demo")
    assert run_probe_command(config, 1, False) == EXIT_DOES_NOT_FIT
    out = capsys.readouterr().out
    assert "CUDA out of memory" in out and "predicted peak" in out


@pytest.mark.slow
def test_zero_steps_is_a_user_error():
    result = run_cli("probe", "demo", "--steps", "0")
    assert result.returncode == 2 and "at least one step" in result.stderr
