"""`sft-wizard optimize`: faster settings that fit, the same run (model, data, learning rate, epochs, effective batch)."""

import warnings
from pathlib import Path

import pytest
from conftest import DEMO_DATA, PRESETS, run_cli, run_command, write_preset
from fake_nvml import GIB, FakeNvml, a100

from engine.config.presets import load_preset
from engine.config.resolve import resolve_precision, sft_kwargs
from engine.errors import UserError
from engine.fit.optimize import Machine, effective_batch, optimize_config
from engine.fit.planning import named_gpu, optimize_for
from engine.fit.verdicts import GPU_TABLE, TIGHT_HEADROOM
from engine.machine.hardware import hardware_report
from engine.models.structure import model_structure
from engine.yamlio import load_yaml

BUNDLED = sorted(p.stem for p in PRESETS.glob("*.yaml"))
# Demo-alpaca rows are 20-60 tokens: the shape of instruction data.
LENGTHS = [20 + (i * 7) % 41 for i in range(200)]


def _machines() -> list[Machine]:
    a100_gpu = named_gpu("A100-80G", 80 * GIB, GPU_TABLE["A100-80G"][1])
    t4_gpu = named_gpu("T4", 15 * GIB, GPU_TABLE["T4"][1])
    return [
        Machine("cpu", 16 * GIB, False, None, ["sdpa", "eager"], 2, LENGTHS),
        Machine("A100-80G", 80 * GIB, True, a100_gpu, [], 16),
        Machine("T4", 15 * GIB, True, t4_gpu, ["sdpa", "eager"], 4, LENGTHS),
        Machine("12 GiB", 12 * GIB, True, None, [], 8),
        Machine("A100 with flash", 80 * GIB, True, a100_gpu, ["flash_attention_2", "sdpa", "eager"], 16, LENGTHS),
    ]


def _flat(config) -> dict:
    """Every setting of a config as `section.key` -> value."""
    data = config.to_dict()
    out = {}
    for section in ("model", "quantization", "lora", "dataset", "training"):
        for key, value in (data.get(section) or {}).items():
            out[f"{section}.{key}"] = value
    return out


def _fits(plan) -> bool:
    return plan.after_bytes <= plan.machine.capacity_bytes * (1 - TIGHT_HEADROOM)


@pytest.mark.parametrize("preset", BUNDLED)
def test_every_bundled_preset_keeps_what_is_trained_and_records_every_change(preset):
    config, _, _ = load_preset(preset)
    structure = model_structure(config.model)
    for machine in _machines():
        try:
            plan = optimize_config(config, structure, machine, preset)
        except UserError as exc:  # only when nothing fits: then it says so instead of proposing something
            assert "does not fit" in str(exc)
            continue
        new = plan.config
        assert _fits(plan), (preset, machine.name)
        assert new.model.name_or_path == config.model.name_or_path and new.dataset == config.dataset
        assert new.lora == config.lora
        for key in ("learning_rate", "lr_scheduler_type", "num_train_epochs", "max_steps", "warmup_steps",
                    "max_length", "weight_decay", "seed"):
            assert new.training_value(key) == config.training_value(key), (preset, machine.name, key)
        if not new.training_value("packing"):
            assert effective_batch(new) == effective_batch(config), (preset, machine.name)
        changed = {k for k in set(_flat(config)) | set(_flat(new)) if _flat(config).get(k) != _flat(new).get(k)}
        recorded = " ".join(c["setting"] for c in new.optimized["changes"])
        for key in changed:
            section, name = key.split(".", 1)
            covered = name in recorded or (key in ("model.dtype", "training.bf16", "training.fp16")
                                            and "precision" in recorded) or name.startswith("packing")
            covered = covered or name in ("activation_checkpointing_kwargs", "gradient_checkpointing",
                                          "gradient_checkpointing_kwargs") and "activation_checkpointing" in recorded
            assert covered, f"{preset} on {machine.name}: {key} changed without a record"
        assert new.optimized["from"] == preset
        assert all(c["reason"] for c in new.optimized["changes"])


def test_a_small_gpu_budget_gets_a_smaller_micro_batch_or_a_clear_refusal():
    config, _, _ = load_preset("lora-3b-bf16")
    structure = model_structure(config.model)
    gpu = named_gpu("RTX-4090", 24 * GIB, GPU_TABLE["RTX-4090"][1])
    for capacity_gib in (6, 9, 12, 16, 24):
        machine = Machine(f"{capacity_gib} GiB", capacity_gib * GIB, True, gpu, ["sdpa"], 8)
        try:
            plan = optimize_config(config, structure, machine, "lora-3b-bf16")
        except UserError as exc:
            assert capacity_gib <= 12 and "does not fit" in str(exc)
            continue
        assert _fits(plan)
        assert effective_batch(plan.config) == 16


def test_checkpointing_is_set_explicitly_so_trl_never_warns_about_its_deprecated_default():
    config, _, _ = load_preset("demo")
    del config.training["activation_checkpointing"]  # TRL's default: gradient_checkpointing=True, with a FutureWarning
    plan = optimize_config(config, model_structure(config.model), _machines()[0], "demo")
    assert plan.config.training["activation_checkpointing"] is False
    assert any(c.setting == "training.activation_checkpointing" and c.before == "every layer" for c in plan.changes)
    from trl import SFTConfig

    precision, _ = resolve_precision(plan.config, hardware_report(FakeNvml([])))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SFTConfig(**sft_kwargs(plan.config, precision, "unused", on_gpu=False))
    assert not [w for w in caught if "checkpointing" in str(w.message)]


def test_packing_with_a_varlen_kernel_keeps_the_tokens_per_step():
    config, _, _ = load_preset("demo")
    config.training.update(per_device_train_batch_size=4, gradient_accumulation_steps=8, max_length=128)
    machine = _machines()[-1]
    plan = optimize_config(config, model_structure(config.model), machine, "demo")
    new = plan.config
    assert new.model.attn_implementation == "flash_attention_2"
    assert new.training["packing"] is True and new.training["packing_strategy"] == "bfd"
    mean = sum(LENGTHS) / len(LENGTHS)
    tokens_before = 32 * mean
    tokens_after = effective_batch(new) * 128
    assert abs(tokens_after - tokens_before) <= 128 / 2 + 1


def test_a_local_bf16_gpu_gets_bf16_tf32_and_dataloader_workers(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # other tests' runs pick a GPU by setting it
    config, _, _ = load_preset("course-module7")
    config.model.name_or_path = "tiny-demo"
    config.dataset.path = str(DEMO_DATA)
    plan = optimize_for(config, "course-module7", hardware=lambda: hardware_report(FakeNvml([a100()])))
    new = plan.config
    assert "fp16" not in new.training and new.model.dtype == "auto"
    assert "bnb_4bit_compute_dtype" not in new.quantization
    assert new.training["tf32"] is True and new.training["dataloader_num_workers"] >= 1
    assert plan.machine.lengths and plan.machine.attention[0] == "sdpa"  # no flash_attn installed here
    precision, _ = resolve_precision(new, hardware_report(FakeNvml([a100()])))
    assert precision.mixed == "bf16"


@pytest.mark.slow
def test_cli_writes_the_preset_and_training_records_what_optimize_changed(tmp_path):
    seed = write_preset(tmp_path, f"""
name: seed
model: {{name_or_path: tiny-demo}}
dataset: {{path: {DEMO_DATA}}}
training: {{num_train_epochs: 1, per_device_train_batch_size: 2, gradient_accumulation_steps: 4, max_length: 128,
            max_steps: 2, logging_steps: 1}}
""", "seed.yaml")
    out = tmp_path / "fast.yaml"
    result = run_cli("optimize", str(seed), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "2 x 4 -> 8 x 1" in result.stdout and "why:" in result.stdout
    written = load_yaml(out.read_text(encoding="utf-8"))
    assert written["training"]["per_device_train_batch_size"] == 8
    assert written["optimized"]["from"] == str(seed)
    again = run_command("optimize", str(seed), "--output", str(out))
    assert again.returncode == 2 and "already exists" in again.stderr
    run_dir = tmp_path / "run"
    trained = run_cli("train", str(out), "--headless", "--output-dir", str(run_dir))
    assert trained.returncode == 0, trained.stderr
    record = load_yaml((run_dir / "run.yaml").read_text(encoding="utf-8"))
    assert record["optimized"]["changes"] == written["optimized"]["changes"]


def test_cli_plans_for_a_named_gpu_and_refuses_bad_input(tmp_path):
    fits = run_command("optimize", "lora-3b-bf16", "--gpu-memory", "16GiB", "--output", str(tmp_path / "a.yaml"))
    assert fits.returncode == 0, fits.stderr
    assert "2 x 8 -> 8 x 2" in fits.stdout  # TRL's fused LM head leaves room for micro-batch 8 on 16 GiB
    for args, words in ((["demo", "--gpu-memory", "lots"], "--gpu-memory"),
                        (["no-such-preset"], "no preset named"),
                        (["demo", "--set", "training.learning_rate"], "expected section.key=value"),
                        (["lora-3b-bf16", "--gpu-memory", "3GiB"], "does not fit")):
        refused = run_command("optimize", *args, "--output", str(tmp_path / "b.yaml"))
        assert refused.returncode == 2, (args, refused.stderr)
        assert words in refused.stderr and "Traceback" not in refused.stderr
    assert not Path(tmp_path / "b.yaml").exists()


def test_the_plan_says_which_lm_head_its_estimates_assume(tmp_path):
    planned = run_command("optimize", "lora-3b-bf16", "--gpu-memory", "16GiB", "--output", str(tmp_path / "a.yaml"))
    assert planned.returncode == 0 and "note: the estimates assume logits: chunked (TRL " in planned.stdout
