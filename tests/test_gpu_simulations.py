"""The first GPU user must not crash: fp16 dtypes, several GPUs, refused runs, OOM advice, on CPU simulations.

A fake NVML stands in for a T4 (compute capability 7.5: fp16), an A100 (8.0: bf16) and an H100
(9.0). bitsandbytes 4-bit loading works on the CPU, so the QLoRA presets build real trainers here.
What only a real GPU can show is listed in ../shared/docs/gpu.md.
"""

import os

import pytest
from conftest import DEMO_DATA
from fake_nvml import GIB, FakeNvml, a100, t4

from engine.config.presets import load_preset
from engine.config.resolve import resolve_precision
from engine.config.run_config import ModelSection
from engine.errors import UserError
from engine.machine.gpu_choice import choose_training_gpu
from engine.machine.hardware import hardware_report

PRESETS = ["demo", "course-module7", "qlora-8b-24gb", "lora-3b-bf16", "low-memory-8gb"]


def _on_tiny_demo(name: str):
    """A bundled preset with tiny-demo in place of its model (same method, LoRA, quantization and training)."""
    config, _, _ = load_preset(name)
    config.model = ModelSection()
    config.dataset.path = str(DEMO_DATA)
    if "8bit" in str(config.training.get("optim")):
        config.training["optim"] = "adamw_torch"  # paged 8-bit AdamW needs CUDA; the dtypes do not depend on it
    return config


def _trainer(config, precision, tmp_path):
    import datasets
    import torch
    from transformers import AutoModelForCausalLM

    from engine.models.hub import load_tokenizer
    from engine.models.loading import quantization_config, torch_dtype
    from engine.models.tiny_demo import ensure_tiny_demo
    from engine.run.trainer import build_trainer

    kwargs = {"dtype": torch_dtype(precision.dtype)}
    bnb = quantization_config(config.quantization, precision)
    if bnb is not None:
        kwargs.update(quantization_config=bnb, device_map="cpu")
    model = AutoModelForCausalLM.from_pretrained(ensure_tiny_demo(), **kwargs)
    rows = datasets.Dataset.from_dict({"prompt": ["Say hi."] * 4, "completion": [" hi"] * 4})
    trainer = build_trainer(config, precision, model, load_tokenizer(config.model), rows, rows, str(tmp_path),
                            on_gpu=False, callbacks=[])
    assert torch.float32 in {p.dtype for p in trainer.model.parameters() if p.requires_grad}
    return trainer


def _scaled_step_gradient_dtypes(trainer) -> set:
    """One fp16-AMP step as accelerate runs it (autocast, scaled backward, unscale); the gradients' dtypes.

    GradScaler.unscale_ refuses float16 gradients on any device ("Attempting to unscale FP16
    gradients"); on CUDA its kernel also has no bfloat16 version. Only float32 may reach it.
    """
    import torch

    batch = next(iter(trainer.get_train_dataloader()))
    trainer.model.train()
    with torch.autocast("cpu", dtype=torch.float16):  # what fp16 AMP does on the GPU
        loss = trainer.compute_loss(trainer.model, batch)
    trainable = [p for p in trainer.model.parameters() if p.requires_grad]
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**4)
    scaler.scale(loss).backward()
    scaler.unscale_(torch.optim.SGD(trainable, lr=0.0))
    return {p.grad.dtype for p in trainable if p.grad is not None}


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_on_a_t4_gives_the_fp16_scaler_fp32_gradients_only(name, tmp_path):
    import torch

    config = _on_tiny_demo(name)
    precision, _ = resolve_precision(config, hardware_report(FakeNvml([t4()])))
    assert precision.mixed == "fp16"
    trainer = _trainer(config, precision, tmp_path)
    assert {p.dtype for p in trainer.model.parameters() if p.requires_grad} == {torch.float32}
    assert _scaled_step_gradient_dtypes(trainer) == {torch.float32}


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


def test_full_fine_tuning_under_fp16_is_estimated_with_fp32_weights():
    from engine.fit.verdicts import inputs_from_config
    from engine.models.structure import model_structure

    config = _on_tiny_demo("demo")
    config.lora = None
    structure = model_structure(config.model)
    assert inputs_from_config(config, structure, "fp16").weight_bytes == 4.0
    assert inputs_from_config(config, structure, "bf16").weight_bytes == 2.0


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
