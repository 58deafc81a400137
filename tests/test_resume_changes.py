"""Resume on other settings: refused with each difference named, or, with --allow-changes, applied and recorded.

One demo run (8 steps at a constant rate, a checkpoint every 2) on a copy of the demo data is the reference;
each test copies its run directory as if the process had died after checkpoint-4, and resumes it.
"""

import shutil

import pytest
from conftest import DEMO_DATA, run_cli
from fault_points import died_after

from engine.record.events import read_events
from engine.yamlio import load_yaml

pytestmark = pytest.mark.slow
STEPS = ["--set", "training.max_steps=8", "--set", "training.save_strategy=steps", "--set", "training.save_steps=2",
         "--set", "training.logging_steps=1", "--set", "training.eval_strategy=no", "--set", "training.save_total_limit=null",
         "--set", "training.lr_scheduler_type=constant", "--set", "training.warmup_steps=0",
         "--set", "training.learning_rate=0.003"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("changes")
    data = folder / "data.jsonl"
    shutil.copy(DEMO_DATA, data)
    run_dir = folder / "whole"
    result = run_cli("train", "demo", "--headless", "--output-dir", str(run_dir), "--set", f"dataset.path={data}", *STEPS)
    assert result.returncode == 0, result.stderr
    return run_dir, data


def test_a_resume_on_changed_settings_is_refused_naming_each_change(reference, tmp_path):
    run_dir = died_after(reference[0], tmp_path / "died", 4)
    data = tmp_path / "data.jsonl"  # the same path's bytes change: only the fingerprint can tell
    shutil.copy(reference[1], data)
    with open(reference[1], "ab") as stream:
        stream.write(b'{"instruction": "Say hi.", "input": "", "output": "Hi."}\n')
    try:
        result = run_cli("train", "demo", "--headless", "--resume", "--output-dir", str(run_dir),
                         "--set", f"dataset.path={reference[1]}", *STEPS, "--set", "training.learning_rate=0.001",
                         "--set", "training.seed=7", "--set", "training.gradient_accumulation_steps=2",
                         "--set", "lora.r=8")
    finally:
        shutil.copy(data, reference[1])
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for key, was, now in (("training.learning_rate", "0.003", "0.001"), ("training.seed", "42", "7"),
                          ("training.gradient_accumulation_steps", "1", "2"), ("lora.r", "16", "8")):
        assert f"{key}: {was} in run.yaml, {now} now" in result.stderr
    assert "data.fingerprint: 'sha256:" in result.stderr and "--allow-changes" in result.stderr
    assert not (run_dir / "checkpoint-6").exists()  # nothing trained


def test_an_allowed_change_of_rate_takes_effect_and_is_recorded_with_its_step(reference, tmp_path):
    run_dir = died_after(reference[0], tmp_path / "died", 4)
    result = run_cli("train", "demo", "--headless", "--resume", "--allow-changes", "--output-dir", str(run_dir),
                     "--set", f"dataset.path={reference[1]}", *STEPS, "--set", "training.learning_rate=0.001")
    assert result.returncode == 0, result.stderr
    events = read_events(run_dir)
    start = [e for e in events if e["event"] == "start"][-1]
    rates = {e["step"]: e["learning_rate"] for e in events if e["event"] == "log"}
    assert rates[4] == pytest.approx(0.003) and start["start_step"] == 4
    assert [rates[step] for step in (5, 6, 7, 8)] == pytest.approx([0.001] * 4)  # the new rate, not the saved one
    assert any("changed settings" in str(e.get("message")) for e in events if e.get("phase") == "warning")
    record = load_yaml((run_dir / "run.yaml").read_text())
    assert record["config"]["training"]["learning_rate"] == 0.001
    assert record["changes"] == [{"step": 4, "changed": {"training.learning_rate": {"from": 0.003, "to": 0.001}}}]
