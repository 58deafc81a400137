"""Where chat and try-a-prompt generate (GPU or CPU, dtype, quantization), and dtype names in quantization."""

from pathlib import Path

import pytest

from engine.errors import UserError
from engine.machine.precision import PrecisionDecision
from engine.yamlio import dump_yaml

QLORA = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True}
BF16 = PrecisionDecision("bfloat16", "bf16", True, "test")


def write_adapter_run(root: Path, quantization: dict | None, trained_dtype: str = "bfloat16") -> Path:
    """A run directory as a LoRA/QLoRA run leaves it (run.yaml, final/ adapter and tokenizer), without training."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.config.presets import load_preset
    from engine.models.tiny_demo import ensure_tiny_demo

    config, _, _ = load_preset("demo")
    config.quantization = quantization
    tiny = ensure_tiny_demo()
    base = AutoModelForCausalLM.from_pretrained(tiny)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    get_peft_model(base, lora).save_pretrained(root / "final")
    AutoTokenizer.from_pretrained(tiny).save_pretrained(root / "final")
    record = {"config": config.to_dict(), "precision": {"dtype": trained_dtype},
              "data": {"format": "alpaca", "template": "alpaca"}}
    (root / "run.yaml").write_text(dump_yaml(record), encoding="utf-8")
    return root


@pytest.fixture
def recorded_loads(monkeypatch):
    """Record AutoPeftModelForCausalLM.from_pretrained's keyword arguments and load the real model on the CPU."""
    import torch
    from peft import AutoPeftModelForCausalLM

    calls: list[dict] = []
    real, real_cuda = AutoPeftModelForCausalLM.from_pretrained, torch.cuda.is_available

    def fake(path, **kwargs):
        calls.append(kwargs)
        with monkeypatch.context() as cpu_only:  # the real load must not see the faked GPU
            cpu_only.setattr(torch.cuda, "is_available", real_cuda)
            return real(path)

    monkeypatch.setattr(AutoPeftModelForCausalLM, "from_pretrained", fake)
    return calls


def fake_cuda(monkeypatch, bf16: bool = True) -> None:
    """Make torch report one CUDA device (bf16-capable or not)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Fake GPU")


def test_lora_run_generates_on_the_first_gpu_in_bf16(tmp_path, monkeypatch, recorded_loads):
    import torch

    from engine.outputs.generate import load_generator

    fake_cuda(monkeypatch)
    generator = load_generator(str(write_adapter_run(tmp_path / "run", None)))
    (kwargs,) = recorded_loads
    # offline, tiny-demo's CUDA kernels (kernels-community/rotary, liger-kernels) are not cached: loaded without them
    assert kwargs == {"dtype": torch.bfloat16, "device_map": {"": 0}, "use_kernels": False}
    assert generator.is_peft and "cuda:0 (Fake GPU) in bfloat16" in generator.note
    assert isinstance(generator.answer("What color is snow?", max_new_tokens=4), str)


def test_qlora_run_loads_its_base_4bit_on_the_gpu_with_the_training_config(tmp_path, monkeypatch, recorded_loads):
    import torch

    from engine.outputs.generate import load_generator

    fake_cuda(monkeypatch)
    generator = load_generator(str(write_adapter_run(tmp_path / "run", QLORA)))
    (kwargs,) = recorded_loads
    bnb = kwargs["quantization_config"]
    assert kwargs["device_map"] == {"": 0} and kwargs["dtype"] == torch.bfloat16
    assert bnb.load_in_4bit and bnb.bnb_4bit_quant_type == "nf4" and bnb.bnb_4bit_use_double_quant
    assert bnb.bnb_4bit_compute_dtype == torch.bfloat16
    assert "4-bit as trained" in generator.note


def test_gpu_without_bf16_generates_in_fp16(tmp_path, monkeypatch, recorded_loads):
    import torch

    from engine.outputs.generate import load_generator

    fake_cuda(monkeypatch, bf16=False)
    load_generator(str(write_adapter_run(tmp_path / "run", QLORA)))
    (kwargs,) = recorded_loads
    assert kwargs["dtype"] == torch.float16 and kwargs["quantization_config"].bnb_4bit_compute_dtype == torch.float16


def test_qlora_run_on_a_cpu_loads_fp32_without_quantization_and_says_so(tmp_path, monkeypatch, recorded_loads):
    import torch

    from engine.outputs.generate import load_generator

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    generator = load_generator(str(write_adapter_run(tmp_path / "run", QLORA)))
    (kwargs,) = recorded_loads
    assert kwargs == {"dtype": torch.float32, "use_kernels": False}
    assert generator.note == "no CUDA GPU: generating on the CPU in float32, without the run's 4-bit quantization"


@pytest.mark.slow
def test_a_trained_run_generates_on_the_cpu(tmp_path):
    import torch

    from engine.config.presets import load_preset
    from engine.outputs.generate import load_generator
    from engine.run.train import RunRequest, run_training

    config, _, _ = load_preset("demo")
    config.training.update(output_dir=str(tmp_path / "run"), max_steps=3, save_strategy="no", eval_strategy="no")
    assert run_training(RunRequest(config)).exit_code == 0
    generator = load_generator(str(tmp_path / "run"))
    assert generator.model.device.type == "cpu" and next(generator.model.parameters()).dtype == torch.float32
    assert generator.note.startswith("no CUDA GPU: generating on the CPU in float32")
    for base in (True, False):  # three steps may have taught it to stop at once: the answer can be empty
        assert isinstance(generator.answer("What color is snow?", base=base, max_new_tokens=8), str)


def test_quant_storage_uint8_maps_to_torch_uint8():
    import torch

    from engine.models.loading import quantization_config

    bnb = quantization_config({"load_in_4bit": True, "bnb_4bit_quant_storage": "uint8"}, BF16)
    assert bnb.bnb_4bit_quant_storage == torch.uint8 and bnb.bnb_4bit_compute_dtype == torch.bfloat16


def test_tiny_demo_loads_4bit_with_uint8_storage():
    import torch
    from transformers import AutoModelForCausalLM

    from engine.models.loading import quantization_config
    from engine.models.tiny_demo import ensure_tiny_demo

    bnb = quantization_config({"load_in_4bit": True, "bnb_4bit_quant_storage": "uint8"},
                              PrecisionDecision("float32", "no", False, "test"))
    model = AutoModelForCausalLM.from_pretrained(ensure_tiny_demo(), quantization_config=bnb)
    assert any(p.dtype == torch.uint8 for p in model.parameters())


def test_an_unknown_dtype_name_is_a_user_error_naming_the_key():
    from engine.models.loading import quantization_config

    with pytest.raises(UserError, match=r"quantization\.bnb_4bit_quant_storage = 'uint9' is not a torch dtype.*uint8"):
        quantization_config({"load_in_4bit": True, "bnb_4bit_quant_storage": "uint9"}, BF16)


def test_config_rules_reject_unknown_quantization_dtypes_only():
    from engine.config.presets import load_preset
    from engine.config.rules import check_config_rules

    config, _, _ = load_preset("demo")
    config.quantization = {**QLORA, "bnb_4bit_quant_storage": "uint8", "bnb_4bit_compute_dtype": "float16"}
    assert check_config_rules(config, "p")[0] == []
    config.quantization = {**QLORA, "bnb_4bit_quant_storage": "uint9", "bnb_4bit_compute_dtype": "bf17"}
    problems = check_config_rules(config, "p")[0]
    assert len(problems) == 2
    assert "quantization.bnb_4bit_compute_dtype = 'bf17'" in str(problems[0])
    assert "quantization.bnb_4bit_quant_storage = 'uint9'" in str(problems[1])
    assert [p.field for p in problems] == ["quantization.bnb_4bit_compute_dtype", "quantization.bnb_4bit_quant_storage"]


@pytest.mark.parametrize("command", ["check", "train"])
def test_an_unknown_quant_storage_exits_2_before_any_run_directory(command, tmp_path, capsys):
    from engine.cli.main import main

    run = tmp_path / "run"
    code = main([command, "qlora-8b-24gb", "--set", "quantization.bnb_4bit_quant_storage=uint9",
                 "--set", f"training.output_dir={run}"])
    stderr = capsys.readouterr().err
    assert code == 2 and "quantization.bnb_4bit_quant_storage = 'uint9' is not a torch dtype" in stderr
    assert "Traceback" not in stderr and not run.exists()
