"""The GPU report over a fake NVML: capabilities, precision decision, MIG, CUDA_VISIBLE_DEVICES."""

import json

import pytest
from conftest import run_cli
from fake_nvml import GIB, FakeDevice, FakeNvml, a100, t4

from engine.fit.report import format_hardware
from engine.machine.hardware import hardware_report
from engine.machine.precision import decide_precision


@pytest.fixture(autouse=True)
def no_visible_devices(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def test_two_gpus_of_different_capability():
    report = hardware_report(FakeNvml([t4(), a100()]))
    assert [g.name for g in report.gpus] == ["Tesla T4", "NVIDIA A100-SXM4-80GB"]
    t4_gpu, a100_gpu = report.gpus
    assert t4_gpu.compute_capability == (7, 5) and not t4_gpu.bf16
    assert a100_gpu.compute_capability == (8, 0) and a100_gpu.bf16
    assert t4_gpu.reserved_bytes is None and a100_gpu.reserved_bytes == 300 * 2**20  # v1 vs v2 memory info
    assert t4_gpu.processes[0].pid == 4242 and t4_gpu.processes[0].used_bytes == GIB
    assert report.driver_version == "550.54.15" and report.cuda_driver_version == "12.4"
    assert report.training_gpu is t4_gpu  # CUDA device 0 in PCI order


def test_t4_gets_fp16_not_bf16():
    decision = decide_precision(hardware_report(FakeNvml([t4()])).training_gpu)
    assert (decision.dtype, decision.mixed, decision.tf32) == ("float16", "fp16", False)
    assert "7.5" in decision.reason and "no native bf16" in decision.reason


def test_a100_gets_bf16_and_tf32():
    decision = decide_precision(hardware_report(FakeNvml([a100()])).training_gpu)
    assert (decision.dtype, decision.mixed, decision.tf32) == ("bfloat16", "bf16", True)


def test_no_gpu_is_fp32_on_cpu():
    decision = decide_precision(None)
    assert (decision.dtype, decision.mixed) == ("float32", "no")


def test_nvml_missing_gives_a_cpu_report_not_an_exception():
    report = hardware_report(FakeNvml([], fail_init=True))
    assert report.gpus == [] and "NVML Shared Library Not Found" in report.nvml_error
    assert report.cpu_count >= 1 and report.ram_total_bytes > 0
    assert "CPU mode" in format_hardware(report)


def test_cuda_visible_devices_by_uuid_maps_cuda_order(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-a100-1111")
    report = hardware_report(FakeNvml([t4(), a100()]))
    assert report.gpus[0].cuda_index is None and report.gpus[1].cuda_index == 0
    assert report.training_gpu.name == "NVIDIA A100-SXM4-80GB"


def test_cuda_visible_devices_by_index_and_order(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    report = hardware_report(FakeNvml([t4(), a100()]))
    assert [g.cuda_index for g in report.gpus] == [1, 0]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert hardware_report(FakeNvml([t4(), a100()])).training_gpu is None


def test_mig_instances_are_the_cuda_devices(monkeypatch):
    parent = a100()
    parent.mig = [FakeDevice("MIG 3g.40gb", "MIG-aaaa", 40 * GIB, 0, None), FakeDevice("MIG 3g.40gb", "MIG-bbbb", 40 * GIB, 0, None)]
    report = hardware_report(FakeNvml([parent]))
    instances = report.gpus[0].mig_instances
    assert [m.uuid for m in instances] == ["MIG-aaaa", "MIG-bbbb"]
    assert all(m.compute_capability == (8, 0) and m.bf16 for m in instances)
    assert [d.uuid for d in report.visible_gpus] == ["MIG-aaaa", "MIG-bbbb"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-bbbb")
    report = hardware_report(FakeNvml([parent]))
    assert report.training_gpu.uuid == "MIG-bbbb" and report.training_gpu.total_bytes == 40 * GIB
    assert "MIG instance" in format_hardware(report)


@pytest.mark.slow
def test_gpus_command_on_this_cpu_machine():
    text = run_cli("gpus")
    assert text.returncode == 0 and "CPU mode" in text.stdout and "Traceback" not in text.stderr
    data = json.loads(run_cli("gpus", "--json").stdout)
    assert data["gpus"] == [] and data["precision"]["dtype"] == "float32"


def test_precision_auto_and_hardware_rules_on_a_t4():
    from engine.config.parsing import load_config_text
    from engine.config.resolve import resolve_precision
    from engine.config.rules import check_hardware_rules

    text = "model: {name_or_path: tiny-demo}\ndataset: {path: x.jsonl}\nlora: {r: 8}\n"
    config, _ = load_config_text(text, "p")
    report = hardware_report(FakeNvml([t4()]))
    decision, _ = resolve_precision(config, report)
    assert (decision.dtype, decision.mixed) == ("float16", "fp16")
    forced, _ = load_config_text(text + "training: {bf16: true}\n", "p")
    problems = check_hardware_rules(forced, report, "p")
    assert problems and "no native bf16" in str(problems[0]) and "Tesla T4" in str(problems[0])
    assert problems[0].fields == ("training.bf16", "model.dtype")
    assert check_hardware_rules(forced, hardware_report(FakeNvml([a100()])), "p") == []


def test_bf16_asked_on_a_cpu_is_said_as_training_passes_it():
    """bf16: true on a CPU trains in bf16 autocast (transformers allows it with use_cpu; accelerate autocasts)."""
    from engine.config.presets import new_run_config
    from engine.config.resolve import resolve_precision, sft_kwargs

    config = new_run_config()
    config.training["bf16"] = True
    cpu = hardware_report(FakeNvml([], fail_init=True))
    decision, _ = resolve_precision(config, cpu)
    assert decision.summary(on_gpu=False) == "weights bfloat16, mixed precision bf16, bf16 autocast on the CPU"
    assert "over auto's choice (no CUDA GPU: fp32 on the CPU)" in decision.reason
    kwargs = sft_kwargs(config, decision, "runs/x", on_gpu=False)
    assert (kwargs["bf16"], kwargs["fp16"], kwargs["use_cpu"]) == (True, False, True)
    del config.training["bf16"]
    assert resolve_precision(config, cpu)[0].summary(on_gpu=False) == "weights float32, no mixed precision, on the CPU"
