"""The first GPU user must not crash: fp16 dtypes, several GPUs, refused runs, OOM advice, on CPU simulations.

A fake NVML stands in for a T4 (compute capability 7.5: fp16), an A100 (8.0: bf16) and an H100
(9.0). bitsandbytes 4-bit loading works on the CPU, so the QLoRA presets build real trainers here.
What only a real GPU can show is listed, and run, in benchmarks/gpu_checks.sh (../shared/docs/gpu.md is read-only here).
"""

import os
import re

import pytest
from conftest import DEMO_DATA, REPO, force_fp16_amp
from fake_nvml import GIB, FakeNvml, a100, t4

from engine.config.presets import load_preset
from engine.config.resolve import resolve_precision
from engine.config.run_config import ModelSection
from engine.errors import UserError
from engine.machine.gpu_choice import choose_training_gpu
from engine.machine.hardware import hardware_report

PRESETS = sorted(path.stem for path in (REPO / "presets").glob("*.yaml"))
COURSE = REPO / "tests" / "data" / "course-module7.py"  # a copy of shared/reference/course-module7.py


def _on_tiny_demo(name: str, overrides: list[str] | None = None):
    """A bundled preset with tiny-demo in place of its model (same method, LoRA, quantization and training)."""
    return _tiny(load_preset(name, overrides)[0])


def _tiny(config):
    """A config with tiny-demo for its model (the dtype kept) and the bundled data; CUDA-only optimizers swapped."""
    config.model = ModelSection(dtype=config.model.dtype)
    config.dataset.path = str(DEMO_DATA)
    if "8bit" in str(config.training.get("optim")):
        config.training["optim"] = "adamw_torch"  # paged 8-bit AdamW needs CUDA; the dtypes do not depend on it
    return config


def _trainer(config, precision, tmp_path, one_step: bool = False):
    import datasets
    from transformers import AutoModelForCausalLM

    from engine.models.hub import load_tokenizer
    from engine.models.loading import quantization_config, torch_dtype
    from engine.models.tiny_demo import ensure_tiny_demo
    from engine.run.trainer import build_trainer

    if one_step:
        config.training.update(max_steps=1, gradient_accumulation_steps=1, eval_strategy="no", save_strategy="no",
                               load_best_model_at_end=False, report_to="none")
    kwargs = {"dtype": torch_dtype(precision.dtype)}
    bnb = quantization_config(config.quantization, precision)
    if bnb is not None:
        kwargs.update(quantization_config=bnb, device_map="cpu")
    model = AutoModelForCausalLM.from_pretrained(ensure_tiny_demo(), **kwargs)
    rows = datasets.Dataset.from_dict({"prompt": ["Say hi."] * 4, "completion": [" hi"] * 4})
    return build_trainer(config, precision, model, load_tokenizer(config.model), rows, rows, str(tmp_path),
                         on_gpu=False, callbacks=[])


def _fp16_step_gradient_dtypes(trainer, monkeypatch) -> set:
    """One step of trainer.train() with accelerate's fp16 AMP forced on as on a GPU; the gradient dtypes unscaled."""
    assert trainer.args.fp16
    seen = force_fp16_amp(trainer.accelerator, monkeypatch)
    trainer.train()
    return seen


def _trains_where_it_would_run(config, gpu, tmp_path, monkeypatch):
    """Decide precision on a faked GPU, train one step as there; fp16 must hand the scaler fp32 gradients only."""
    import math

    import torch

    precision, _ = resolve_precision(config, hardware_report(FakeNvml([gpu()])))
    trainer = _trainer(config, precision, tmp_path, one_step=True)
    if precision.mixed == "fp16":
        assert _fp16_step_gradient_dtypes(trainer, monkeypatch) == {torch.float32}
        assert {p.dtype for p in trainer.model.parameters() if p.requires_grad} == {torch.float32}
    else:
        assert precision.mixed == "bf16" and gpu is a100
        assert trainer.args.bf16 and trainer.accelerator.native_amp and trainer.accelerator.scaler is None
        assert math.isfinite(trainer.train().training_loss)
    return precision, trainer


@pytest.mark.slow
@pytest.mark.parametrize("gpu", [t4, a100])
@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_trains_a_step_on_a_t4_in_fp16_and_on_an_a100(name, gpu, tmp_path, monkeypatch):
    precision, _ = _trains_where_it_would_run(_on_tiny_demo(name), gpu, tmp_path, monkeypatch)
    # course-module7 asks for fp16 (the lesson's settings), so it scales the loss on an A100 too
    assert precision.mixed == ("fp16" if gpu is t4 or name == "course-module7" else "bf16")


def _t4_advice(name: str) -> list[str]:
    """The --set overrides `check` advises on a T4 for a preset that asks for bf16."""
    from engine.config.rules import check_hardware_rules

    config, _, _ = load_preset(name, ["training.bf16=true"])
    problems = check_hardware_rules(config, hardware_report(FakeNvml([t4()])), "p")
    return ["training.bf16=true", *re.findall(r"--set ([\w.]+=\w+)", " ".join(p.fix for p in problems))]


def _imported_course():
    """The course lesson's code as `sft-wizard import` reads it: full fine-tuning with fp16=True."""
    from engine.importing.python_code import preset_from_code

    config = _tiny(preset_from_code(str(COURSE)).config)
    config.training["report_to"] = "none"  # wandb is not installed here
    assert config.lora is None and config.training["fp16"] is True
    return config


def _optimized_for_a_t4(name: str):
    """A bundled preset as `sft-wizard optimize --gpu-memory T4` changes it."""
    from engine.fit.planning import optimize_for

    plan = optimize_for(_on_tiny_demo(name), name, "T4", hardware=lambda: hardware_report(FakeNvml([])))
    assert plan.changes
    return plan.config


def _eight_bit():
    config = _on_tiny_demo("qlora-8b-24gb")
    config.quantization = {"load_in_8bit": True}
    return config


def _full_fine_tuning_fp16_from_the_wizard():
    from engine.config.resolve import apply_precision_choice

    config = _on_tiny_demo("demo")
    config.lora = None
    apply_precision_choice(config, "fp16")  # the wizard's fp16: model.dtype float16, training.fp16
    return config


def _quant_storage(dtype: str):
    config = _on_tiny_demo("qlora-8b-24gb")
    config.quantization["bnb_4bit_quant_storage"] = dtype
    return config


CASES = {
    "imported-course-t4": (_imported_course, t4),
    "imported-course-a100": (_imported_course, a100),
    "course-module7-optimized-for-t4": (lambda: _optimized_for_a_t4("course-module7"), t4),
    "8-bit": (_eight_bit, t4),
    "full-fine-tuning-fp16-chosen": (_full_fine_tuning_fp16_from_the_wizard, t4),
    "check-advice-on-t4-modules-to-save": (lambda: _on_tiny_demo("demo", _t4_advice("demo")), t4),
    "quant-storage-bfloat16": (lambda: _quant_storage("bfloat16"), t4),
    "quant-storage-float32": (lambda: _quant_storage("float32"), t4),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_more_ways_to_fp16_give_the_scaler_fp32_gradients_only(case, tmp_path, monkeypatch):
    """The imported course code, an optimized preset, 8-bit, fp16 full fine-tuning, check's T4 advice, storages."""
    import torch

    make, gpu = CASES[case]
    config = make()
    precision, trainer = _trains_where_it_would_run(config, gpu, tmp_path, monkeypatch)
    assert precision.mixed == "fp16"
    if case == "8-bit":
        from bitsandbytes.nn import Linear8bitLt

        assert any(isinstance(module, Linear8bitLt) for module in trainer.model.modules())
    if case.startswith("quant-storage"):
        from bitsandbytes.nn import Params4bit

        storage = {p.dtype for p in trainer.model.parameters() if isinstance(p, Params4bit)}
        assert storage == {getattr(torch, config.quantization["bnb_4bit_quant_storage"])}
    if case == "check-advice-on-t4-modules-to-save":
        assert config.model.dtype == "float16" and config.lora["modules_to_save"]
        assert torch.float16 in {p.dtype for p in trainer.model.parameters()}  # the frozen weights stay 16-bit


@pytest.mark.slow
def test_trl_alone_would_hand_the_scaler_bfloat16_adapters(tmp_path):
    """The crash the fix prevents, reproduced: TRL casts a 4-bit model's adapters to bf16, even under fp16."""
    import torch

    from engine.run import trainer as trainer_module

    config = _on_tiny_demo("qlora-8b-24gb")
    precision, _ = resolve_precision(config, hardware_report(FakeNvml([t4()])))
    original = trainer_module.trainable_in_fp32
    trainer_module.trainable_in_fp32 = lambda model: 0
    try:
        import datasets
        from transformers import AutoModelForCausalLM

        from engine.models.hub import load_tokenizer
        from engine.models.loading import quantization_config, torch_dtype
        from engine.models.tiny_demo import ensure_tiny_demo

        model = AutoModelForCausalLM.from_pretrained(ensure_tiny_demo(), dtype=torch_dtype(precision.dtype),
                                                     quantization_config=quantization_config(config.quantization, precision),
                                                     device_map="cpu")
        rows = datasets.Dataset.from_dict({"prompt": ["Say hi."] * 4, "completion": [" hi"] * 4})
        trainer = trainer_module.build_trainer(config, precision, model, load_tokenizer(config.model), rows, rows,
                                               str(tmp_path), on_gpu=False, callbacks=[])
    finally:
        trainer_module.trainable_in_fp32 = original
    assert torch.bfloat16 in {p.dtype for p in trainer.model.parameters() if p.requires_grad}


@pytest.mark.parametrize("gpu, mixed, dtype", [(t4, "fp16", "float16"), (a100, "bf16", "bfloat16")])
def test_precision_per_compute_capability(gpu, mixed, dtype):
    decision, _ = resolve_precision(_on_tiny_demo("qlora-8b-24gb"), hardware_report(FakeNvml([gpu()])))
    assert (decision.mixed, decision.dtype) == (mixed, dtype)


def test_h100_decides_bf16_with_tf32():
    h100 = a100("GPU-h100")
    h100.name, h100.cc = "NVIDIA H100 80GB HBM3", (9, 0)
    decision, _ = resolve_precision(_on_tiny_demo("demo"), hardware_report(FakeNvml([h100])))
    assert (decision.mixed, decision.tf32) == ("bf16", True)


@pytest.mark.parametrize("gpu, name, weight_bytes", [(t4, "T4", 4), (a100, "A100-80G", 2)])
def test_full_fine_tuning_is_estimated_at_the_bytes_it_loads_on_a_t4_and_an_a100(gpu, name, weight_bytes, monkeypatch,
                                                                                 capsys):
    """dtype auto: fp32 weights on a T4 (fp16 AMP), bf16 on an A100; the wizard there and `estimate --gpu-memory` here."""
    import json

    from transformers import AutoModelForCausalLM

    from engine.background_jobs import estimate_for
    from engine.cli.main import main
    from engine.machine import hardware
    from engine.models.loading import torch_dtype
    from engine.models.tiny_demo import ensure_tiny_demo

    config = _on_tiny_demo("demo", ["lora=null"])
    there = hardware_report(FakeNvml([gpu()]))
    report, structure, _ = estimate_for(config, there)
    breakdown = report.estimate.breakdown
    assert breakdown["weights"] == breakdown["gradients"] == structure.total_params * weight_bytes
    loaded = AutoModelForCausalLM.from_pretrained(ensure_tiny_demo(),
                                                  dtype=torch_dtype(resolve_precision(config, there)[0].dtype))
    assert sum(p.numel() * p.element_size() for p in loaded.parameters()) == breakdown["weights"]
    monkeypatch.setattr(hardware, "hardware_report", lambda: hardware_report(FakeNvml([])))  # this CPU machine
    assert main(["estimate", "demo", "--set", "lora=null", "--gpu-memory", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["breakdown"] == breakdown


def test_several_visible_gpus_train_on_the_one_with_most_free_memory(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    busy, idle = a100("GPU-busy"), a100("GPU-idle")
    busy.used, idle.used = 60 * GIB, 1 * GIB
    nvml = FakeNvml([busy, idle])
    hardware, note = choose_training_gpu(hardware_report(nvml), read_hardware=lambda: hardware_report(nvml))
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "GPU-idle"
    assert [g.uuid for g in hardware.visible_gpus] == ["GPU-idle"] and hardware.training_gpu.cuda_index == 0
    assert "most free memory" in note and "1 other GPU(s) hidden" in note


def test_a_named_gpu_wins_and_an_unknown_one_is_a_user_error(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    first, second = a100(), t4()
    nvml = FakeNvml([first, second])
    hardware, _ = choose_training_gpu(hardware_report(nvml), "1", lambda: hardware_report(nvml))
    assert hardware.training_gpu.name == second.name
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    with pytest.raises(UserError, match="not one of the visible GPUs"):
        choose_training_gpu(hardware_report(nvml), "7", lambda: hardware_report(nvml))


def test_one_visible_gpu_is_left_alone(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml([a100()])
    hardware, note = choose_training_gpu(hardware_report(nvml), read_hardware=lambda: hardware_report(nvml))
    assert note is None and "CUDA_VISIBLE_DEVICES" not in os.environ


@pytest.mark.slow
def test_a_setting_sftconfig_refuses_leaves_no_run_directory(tmp_path):
    from engine.run.train import RunRequest, run_training

    config = _on_tiny_demo("demo")
    config.training["output_dir"] = str(tmp_path / "run")
    config.training.update(lr_scheduler_type="reduce_lr_on_plateau", eval_strategy="no")  # SFTConfig refuses this
    with pytest.raises(UserError, match="rejected by trl.SFTConfig"):
        run_training(RunRequest(config))
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_run_that_failed_before_its_first_step_does_not_block_the_next(tmp_path, monkeypatch):
    import trl

    from engine.record.events import read_events
    from engine.run.train import RunRequest, run_training

    config = _on_tiny_demo("demo")
    config.training.update(output_dir=str(tmp_path / "run"), max_steps=2, save_strategy="no", eval_strategy="no")
    real_train = trl.SFTTrainer.train

    def fails_at_once(self, *args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(trl.SFTTrainer, "train", fails_at_once)
    assert run_training(RunRequest(config)).status == "failed"
    monkeypatch.setattr(trl.SFTTrainer, "train", real_train)
    result = run_training(RunRequest(config))
    assert result.status == "completed"
    assert [e["status"] for e in read_events(tmp_path / "run") if e["event"] == "end"] == ["failed", "completed"]


def test_out_of_memory_advice_plans_for_the_free_memory_and_keeps_headroom():
    from engine.fit.verdicts import TIGHT_HEADROOM, fit_report, recommend_after_oom
    from engine.models.structure import catalog_entry, structure_for_config

    config, _, _ = load_preset("qlora-8b-24gb")
    config.training.update(per_device_train_batch_size=16, gradient_accumulation_steps=1, max_length=2048)
    structure = structure_for_config(catalog_entry(config.model.name_or_path)["config"])
    free = 16 * GIB  # a 24 GiB card with 8 GiB held by another process
    before = fit_report(config, structure, []).estimate.total_bytes
    after = recommend_after_oom(config, structure, free, "bf16")
    assert after and after[0].total_bytes <= free * (1 - TIGHT_HEADROOM)
    assert after[0].total_bytes < before


def test_a_quantized_model_loads_on_this_process_device(monkeypatch):
    import torch

    from engine.models.loading import quantized_device

    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert quantized_device() == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert quantized_device() == 0
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert quantized_device() == 3


@pytest.mark.slow
def test_train_on_a_machine_with_two_gpus_hides_the_other_before_cuda_starts(tmp_path, monkeypatch):
    """n_gpu would be 2 without it, and TRL refuses nn.DataParallel after loading the model."""
    from engine.run.train import RunRequest, plan_run

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    busy, idle = a100("GPU-busy"), a100("GPU-idle")
    busy.used = 70 * GIB
    nvml = FakeNvml([busy, idle])
    config = _on_tiny_demo("demo")
    config.training.update(output_dir=str(tmp_path / "run"), bf16=False, fp16=False, tf32=False)  # no CUDA here
    plan = plan_run(RunRequest(config, hardware=lambda: hardware_report(nvml)))
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "GPU-idle"
    assert plan.hardware.training_gpu.uuid == "GPU-idle"
    assert any("GPU-idle" in warning and "hidden" in warning for warning in plan.data.warnings)
    assert not (tmp_path / "run").exists()  # planning writes nothing
