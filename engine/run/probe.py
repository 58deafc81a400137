"""The pre-flight probe: a few real training steps at full batch and max length, peak memory measured.

Rows are synthetic token ids exactly `max_length` long, so every step is a worst-case step.
With --random-init the real architecture is built from config.json with random weights.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import UserError, raise_problems

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from engine.config.run_config import RunConfig
    from engine.machine.precision import PrecisionDecision
    from engine.machine.telemetry import MemorySampler
    from engine.models.kernels import KernelsDecision

MEASUREMENTS = (("process_used_bytes", "NVML used by this process"), ("peak_reserved_bytes", "PyTorch max reserved"),
                ("peak_rss_bytes", "peak RSS"))
"""The readings comparable with the estimate, best first, with how each is named."""
PROBE_TRAINING_ARGS = {"save_strategy": "no", "eval_strategy": "no", "logging_strategy": "no",
                       "gradient_accumulation_steps": 1, "load_best_model_at_end": False, "report_to": "none"}
"""Training arguments of a probe: no checkpoints, evaluation or logging, one batch per step."""


@dataclass
class ProbeResult:
    """What the probe measured, beside the estimate."""

    device: str
    steps: int
    fits: bool
    estimate_bytes: int
    peak_reserved_bytes: int | None
    peak_allocated_bytes: int | None
    process_used_bytes: int | None
    """This process's GPU memory as NVML counts it (None where NVML does not list our PID, as in containers)."""
    nvml_used_bytes: int | None
    """The whole device's used memory: every process and the driver's reserve."""
    peak_rss_bytes: int | None
    message: str
    gpu_note: str | None = None
    """Which of several visible GPUs the probe ran on, and why (None with one GPU or none)."""
    kernels_note: str | None = None
    """Why the model trained without the Hub kernels that apply to it (None when it used them, or none apply)."""
    estimate_assumes: str = ""
    """The library behaviour the estimate assumed ("logits: chunked (TRL 1.16.0 fused LM head)")."""

    @property
    def measured_bytes(self) -> int | None:
        """The measurement comparable with the estimate (see MEASUREMENTS)."""
        return self._measurement()[0]

    @property
    def measured_source(self) -> str | None:
        """What measured_bytes is: NVML used by this process, PyTorch max reserved or peak RSS."""
        return self._measurement()[1]

    def _measurement(self) -> tuple[int | None, str | None]:
        for field_name, label in MEASUREMENTS:
            if getattr(self, field_name):
                return getattr(self, field_name), label
        return None, None

    def to_dict(self) -> dict:
        """Plain data for run.yaml."""
        return ({k: getattr(self, k) for k in self.__dataclass_fields__}
                | {"measured_bytes": self.measured_bytes, "measured_source": self.measured_source})


def _synthetic_rows(vocab_size: int, length: int, count: int) -> "Dataset":
    """`count` rows of `length` random token ids (fixed seed): what the probe trains on without the user's data."""
    import datasets
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(10, max(11, vocab_size - 1), (count, length), generator=generator).tolist()
    return datasets.Dataset.from_dict({"input_ids": ids})


def _random_model(config: "RunConfig", precision: "PrecisionDecision",
                  kernels: "KernelsDecision | None" = None) -> "PreTrainedModel":
    """Random weights from config.json; saved and reloaded when quantized (bitsandbytes quantizes on load)."""
    from transformers import AutoModelForCausalLM

    from engine.models.loading import load_model, torch_dtype
    from engine.models.structure import hf_config

    if not config.quantization:
        return load_model(config.model, precision, None, random_init=True, kernels=kernels)
    folder = Path(tempfile.mkdtemp(prefix="sft-wizard-probe-model-"))
    try:
        AutoModelForCausalLM.from_config(hf_config(config.model), dtype=torch_dtype(precision.dtype)).save_pretrained(folder)
        local = config.copy()
        local.model.name_or_path = str(folder)
        return load_model(local.model, precision, config.quantization, kernels=kernels)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_probe(config: "RunConfig", steps: int = 3, random_init: bool = False, logits: str | None = None) -> ProbeResult:
    """Train `steps` steps in a temporary directory and measure peak memory; running out of it means no fit."""
    from engine.config.resolve import resolve_precision
    from engine.config.rules import check_hardware_rules
    from engine.fit.verdicts import fit_for_config
    from engine.libraries import quiet_libraries
    from engine.machine.gpu_choice import choose_training_gpu
    from engine.machine.hardware import hardware_report
    from engine.models.kernels import decide_model_kernels

    hardware, gpu_note = choose_training_gpu(hardware_report())  # the GPU training would take, before CUDA starts
    problems = check_hardware_rules(config, hardware, "preset")
    raise_problems(problems)
    gpu = hardware.training_gpu
    precision, _ = resolve_precision(config, hardware)
    report = fit_for_config(config, logits=logits)
    quiet_libraries()
    kernels = decide_model_kernels(config.model)  # once, and UserError (exit 2) before anything loads
    tokenizer = _tokenizer(config, random_init)
    fits, message, memory = _measure(config, precision, kernels, tokenizer, steps, random_init,
                                     "cpu" if gpu is None else "cuda")
    return ProbeResult(
        device=gpu.name if gpu else "cpu", steps=steps, fits=fits, estimate_bytes=report.estimate.total_bytes,
        peak_reserved_bytes=memory.get("peak_bytes"), peak_allocated_bytes=memory.get("peak_allocated_bytes"),
        process_used_bytes=memory.get("process_used_bytes"), nvml_used_bytes=memory.get("nvml_used_bytes"),
        peak_rss_bytes=memory.get("peak_rss_bytes"), message=message, gpu_note=gpu_note, kernels_note=kernels.note,
        estimate_assumes=report.estimate.inputs.assumes)


def _tokenizer(config: "RunConfig", random_init: bool) -> "PreTrainedTokenizerBase":
    """The model's tokenizer; tiny-demo's for a random-init probe of a model whose tokenizer is not here."""
    from engine.config.run_config import ModelSection
    from engine.models.hub import load_tokenizer

    try:
        return load_tokenizer(config.model)
    except UserError:
        if not random_init:
            raise
        # The rows are token ids already; the tokenizer only supplies padding, so tiny-demo's will do.
        return load_tokenizer(ModelSection())


def _measure(config: "RunConfig", precision: "PrecisionDecision", kernels: "KernelsDecision",
             tokenizer: "PreTrainedTokenizerBase", steps: int, random_init: bool, device: str) -> tuple[bool, str, dict[str, int]]:
    """(fits, message, memory readings) of loading the model and training; out of memory at either means no fit."""
    from engine.machine.telemetry import MemorySampler

    sampler = MemorySampler(device)  # the allocator's peak statistics start here
    try:
        model = _load_model(config, precision, kernels, random_init)
    except Exception as exc:  # OOM has several types (torch, CUDA, cuBLAS, bitsandbytes); _out_of_memory re-raises the rest
        return _out_of_memory(exc, "loading the model", sampler)
    try:
        _train(config, precision, model, tokenizer, steps, on_gpu=device != "cpu")
        return True, "ran without running out of memory", sampler.sample()
    except Exception as exc:  # as above: only out-of-memory is answered here, the rest is re-raised
        del model
        return _out_of_memory(exc, "training", sampler)


def _load_model(config: "RunConfig", precision: "PrecisionDecision", kernels: "KernelsDecision",
                random_init: bool) -> "PreTrainedModel":
    """The model as training would load it, or with random weights, with the kernels decided for the probe."""
    from engine.models.loading import load_model

    if random_init:
        return _random_model(config, precision, kernels)
    return load_model(config.model, precision, config.quantization, kernels=kernels)


def _train(config: "RunConfig", precision: "PrecisionDecision", model: "PreTrainedModel", tokenizer: "PreTrainedTokenizerBase", steps: int, on_gpu: bool) -> None:
    """Train `steps` steps on worst-case rows (full batch, every row max_length tokens) in a temporary directory."""
    from engine.run.trainer import build_trainer

    batch = int(config.training_value("per_device_train_batch_size") or 1)
    length = int(config.training_value("max_length") or 1024)
    rows = _synthetic_rows(int(model.config.get_text_config().vocab_size), length, batch * steps)
    folder = tempfile.mkdtemp(prefix="sft-wizard-probe-")
    try:
        build_trainer(config, precision, model, tokenizer, rows, None, folder, on_gpu=on_gpu, callbacks=[],
                      extra_args=PROBE_TRAINING_ARGS | {"max_steps": steps}).train()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _out_of_memory(exc: Exception, stage: str, sampler: "MemorySampler") -> tuple[bool, str, dict[str, int]]:
    """(False, message, memory readings) after running out of memory, which is freed; any other exception is raised."""
    from engine.machine.oom import is_out_of_memory, release_memory

    if not is_out_of_memory(exc):
        raise exc
    memory = sampler.sample()
    release_memory(exc)
    return False, f"out of memory while {stage}: {type(exc).__name__}: {exc}".splitlines()[0][:300], memory


def _probe_path(config: "RunConfig") -> Path:
    from engine.models.structure import config_key
    from engine.paths import cache_dir

    return cache_dir() / "probes" / f"{config_key(config.to_dict())}.json"


def save_probe(config: "RunConfig", result: ProbeResult) -> None:
    """Remember a probe result, so training the same config records it in run.yaml."""
    import json

    from engine.atomic import write_text_atomic

    try:
        write_text_atomic(_probe_path(config), json.dumps(result.to_dict()))
    except OSError:
        pass


def saved_probe(config: "RunConfig") -> dict | None:
    """The last probe result of exactly this config, if one was run here."""
    import json

    try:
        return json.loads(_probe_path(config).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


