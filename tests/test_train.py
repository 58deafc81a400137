"""Real training runs of the demo preset on CPU: events, run directory, stop and resume, merge, chat."""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, run_cli

from engine.record.events import read_events
from engine.yamlio import load_yaml

FAST = ["--set", "training.num_train_epochs=3"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "demo"
    result = run_cli("train", "demo", "--headless", "--output-dir", str(run_dir), *FAST)
    return run_dir, result


@pytest.mark.slow
def test_demo_trains_to_completion_and_loss_falls(demo_run):
    run_dir, result = demo_run
    assert result.returncode == 0, result.stderr
    events = read_events(run_dir)
    kinds = {e["event"] for e in events}
    assert {"start", "log", "eval", "checkpoint", "end"} <= kinds
    losses = [e["loss"] for e in events if e["event"] == "log"]
    assert losses[-1] < losses[0] * 0.7
    end = events[-1]
    assert end["event"] == "end" and end["status"] == "completed" and end["final_path"].endswith("final")
    last_log = [e for e in events if e["event"] == "log"][-1]
    assert last_log["epoch"] < 3 and end["epoch"] == pytest.approx(3.0)  # the trainer's last epoch, not the last log's


@pytest.mark.slow
def test_the_model_cards_name_the_base_model(demo_run):
    run_dir, _ = demo_run
    for card in (run_dir / "README.md", run_dir / "final" / "README.md"):  # TRL's and PEFT's, replaced
        text = card.read_text()
        assert "fine-tuned version of tiny-demo" in text and "[None]" not in text, text


@pytest.mark.slow
def test_headless_output_is_one_line_per_log_step_without_progress_bars(demo_run):
    _, result = demo_run
    step_lines = [line for line in result.stdout.splitlines() if line.startswith("step ")]
    log_events = [e for e in read_events(demo_run[0]) if e["event"] == "log"]
    assert len(step_lines) == len(log_events)
    assert "it/s]" not in result.stdout + result.stderr and "{'loss'" not in result.stdout
    assert "publisher trust" not in result.stdout + result.stderr and "gemm_4bit" not in result.stdout + result.stderr


@pytest.mark.slow
def test_events_carry_time_and_memory(demo_run):
    events = read_events(demo_run[0])
    assert all(isinstance(e["time"], float) and e["time"] > 1.7e9 for e in events)
    start = next(e for e in events if e["event"] == "start")
    assert start["total_steps"] > 0 and start["precision"] == "float32" and start["device"] == "cpu"
    log = next(e for e in events if e["event"] == "log")
    assert {"step", "epoch", "loss", "learning_rate", "grad_norm", "rss_bytes"} <= set(log)
    later = [e for e in events if e["event"] == "log"][2]
    assert later["tokens_per_second"] > 0 and later["samples_per_second"] > 0
    assert log["rss_bytes"] > 50 * 2**20


@pytest.mark.slow
def test_run_yaml_records_precision_decision_and_versions(demo_run):
    record = load_yaml((demo_run[0] / "run.yaml").read_text())
    assert record["precision"]["dtype"] == "float32" and "CPU" in record["precision"]["reason"]
    assert record["versions"]["trl"] and record["config"]["name"] == "demo"
    assert record["kernels"]["asked"] == "auto" and record["kernels"]["enabled"] is False
    assert record["estimate"]["total_bytes"] == sum(record["estimate"]["breakdown"].values())


@pytest.mark.slow
def test_final_adapter_loads_with_peft_and_generates(demo_run):
    code = (
        "import sys\nfrom peft import PeftModel\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n"
        "final = sys.argv[1]\nimport json\nbase = json.load(open(final + '/adapter_config.json'))['base_model_name_or_path']\n"
        "tok = AutoTokenizer.from_pretrained(final)\nmodel = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), final)\n"
        "ids = tok('### Instruction:\\nWhat color is snow?\\n\\n### Response:\\n', return_tensors='pt')\n"
        "out = model.generate(**ids, max_new_tokens=8, do_sample=False)\nprint(len(out[0]) > len(ids['input_ids'][0]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(demo_run[0] / "final")], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().endswith("True"), out.stderr


@pytest.mark.slow
def test_chat_compares_base_and_fine_tuned(demo_run):
    result = run_cli("chat", str(demo_run[0]), "--prompt", "What color is snow?")
    assert result.returncode == 0, result.stderr
    assert "base:" in result.stdout and "fine-tuned:" in result.stdout


LIBRARIES_AFTER = ("import sys; from tui.__main__ import main; code = main(sys.argv[1:]); "
                   "print([m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets') if m in sys.modules]); "
                   "sys.exit(code)")
"""`sft-wizard ARGS` in a process that prints which training libraries it imported before it exited."""


@pytest.mark.slow
def test_a_finished_run_directory_is_never_clobbered_and_is_refused_before_the_libraries_load(demo_run):
    result = subprocess.run([sys.executable, "-c", LIBRARIES_AFTER, "train", "demo", "--headless", "--output-dir",
                             str(demo_run[0]), *FAST], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 2 and "already holds a run (completed)" in result.stderr
    assert result.stdout.strip() == "[]", result.stdout  # refused at once, not after seconds of imports


@pytest.mark.slow
def test_sigint_stops_with_a_checkpoint_and_resume_reaches_the_same_step(tmp_path):
    run_dir = tmp_path / "run"
    args = ["train", "demo", "--headless", "--output-dir", str(run_dir), "--set", "training.num_train_epochs=2",
            "--set", "training.logging_steps=1", "--set", "training.save_strategy=no", "--set", "training.eval_strategy=no"]
    process = subprocess.Popen([sys.executable, "-m", "tui", *args], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.time() + 240
    while time.time() < deadline:
        logs = [e for e in read_events(run_dir) if e["event"] == "log"]
        if len(logs) >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 130, stderr
    events = read_events(run_dir)
    assert events[-1]["event"] == "end" and events[-1]["status"] == "stopped"
    total = next(e for e in events if e["event"] == "start")["total_steps"]
    stopped_at = events[-1]["global_step"]
    assert 0 < stopped_at < total
    assert (run_dir / f"checkpoint-{stopped_at}" / "optimizer.pt").is_file()
    assert (run_dir / "final" / "adapter_config.json").is_file()

    result = run_cli("train", "demo", "--headless", "--resume", *args[3:])
    assert result.returncode == 0, result.stderr
    events = read_events(run_dir)
    resumed_start = [e for e in events if e["event"] == "start"][-1]
    assert resumed_start["start_step"] == stopped_at and resumed_start["total_steps"] == total
    assert events[-1]["status"] == "completed" and events[-1]["global_step"] == total
    steps = [e["step"] for e in events if e["event"] == "log" and e["time"] >= resumed_start["time"]]
    assert steps[0] == stopped_at + 1  # continues at the next step, not from zero


@pytest.mark.slow
def test_merge_writes_full_weights_that_load_and_generate(demo_run, tmp_path):
    out = tmp_path / "merged"
    result = run_cli("merge", str(demo_run[0]), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "config.json").is_file() and (out / "sft-wizard-run.yaml").is_file()
    code = ("import sys\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\nm = AutoModelForCausalLM.from_pretrained(sys.argv[1])\n"
            "t = AutoTokenizer.from_pretrained(sys.argv[1])\nprint(len(m.generate(**t('### Instruction:\\nhi', return_tensors='pt'), max_new_tokens=4)[0]))")
    ran = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0 and int(ran.stdout.strip().splitlines()[-1]) > 0, ran.stderr


def test_nan_loss_stops_the_run_without_saving_over_the_last_good_checkpoint():
    from types import SimpleNamespace

    from engine.run.callback import EventCallback
    from engine.run.control import RunControl

    events = []
    writer = SimpleNamespace(emit=lambda kind, **fields: events.append((kind, fields)))
    sampler = SimpleNamespace(sample=lambda: {"rss_bytes": 1})
    callback = EventCallback(writer, RunControl(), sampler, {})
    state = SimpleNamespace(is_world_process_zero=True, global_step=7, max_steps=10, epoch=0.5, num_input_tokens_seen=0)
    control = SimpleNamespace(should_training_stop=False, should_save=False)
    callback.on_log(None, state, control, logs={"loss": float("nan"), "learning_rate": 1e-3})
    assert control.should_training_stop and not control.should_save
    assert "became nan at step 7" in callback.failure
    assert events[-1][0] == "log" and events[-1][1]["loss"] != events[-1][1]["loss"]  # NaN reported as is


def test_control_files_from_an_attached_monitor_reach_the_trainer(tmp_path):
    from types import SimpleNamespace

    from engine.run.callback import EventCallback
    from engine.run.control import RunControl, send_request

    events = []
    writer = SimpleNamespace(emit=lambda kind, **fields: events.append((kind, fields)))
    callback = EventCallback(writer, RunControl(), SimpleNamespace(sample=dict), {})
    args = SimpleNamespace(output_dir=str(tmp_path))
    state = SimpleNamespace(is_world_process_zero=True)
    control = SimpleNamespace(should_training_stop=False, should_save=False)
    send_request(tmp_path, "checkpoint")
    callback.on_step_end(args, state, control)
    assert control.should_save and not control.should_training_stop
    control.should_save = False
    send_request(tmp_path, "stop")
    callback.on_step_end(args, state, control)
    assert control.should_save and control.should_training_stop
    assert not list(tmp_path.glob(".request-*"))  # requests are consumed
