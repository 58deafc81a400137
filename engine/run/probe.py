"""The pre-flight probe: a few real training steps at full batch and max length, peak memory measured.

Rows are synthetic token ids exactly `max_length` long, so every step is a worst-case step.
With --random-init the real architecture is built from config.json with random weights.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import UserError


@dataclass
class ProbeResult:
    """What the probe measured, beside the estimate."""

    device: str
    steps: int
    fits: bool
    estimate_bytes: int
    peak_reserved_bytes: int | None
    peak_allocated_bytes: int | None
    nvml_used_bytes: int | None
    peak_rss_bytes: int | None
    message: str

    @property
    def measured_bytes(self) -> int | None:
        """The measurement comparable with the estimate (NVML used on a GPU, else peak RSS)."""
        return self.nvml_used_bytes or self.peak_reserved_bytes or self.peak_rss_bytes

    def to_dict(self) -> dict:
        """Plain data for run.yaml."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {"measured_bytes": self.measured_bytes}


def _synthetic_rows(vocab_size: int, length: int, count: int) -> Any:
    import datasets
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(10, max(11, vocab_size - 1), (count, length), generator=generator).tolist()
    return datasets.Dataset.from_dict({"input_ids": ids})


def _random_model(config: Any, precision: Any) -> Any:
    """Random weights from config.json; saved and reloaded when quantized (bitsandbytes quantizes on load)."""
    from transformers import AutoModelForCausalLM

    from engine.models.loading import load_model, torch_dtype
    from engine.models.structure import hf_config

    if not config.quantization:
        return load_model(config.model, precision, None, random_init=True)
    folder = Path(tempfile.mkdtemp(prefix="sft-wizard-probe-model-"))
    try:
        AutoModelForCausalLM.from_config(hf_config(config.model), dtype=torch_dtype(precision.dtype)).save_pretrained(folder)
        local = config.copy()
        local.model.name_or_path = str(folder)
        return load_model(local.model, precision, config.quantization)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_probe(config: Any, steps: int = 3, random_init: bool = False) -> ProbeResult:
    """Train `steps` steps in a temporary directory and measure peak memory."""
    from engine.config.resolve import resolve_precision
    from engine.config.rules import check_hardware_rules
    from engine.config.run_config import ModelSection
    from engine.fit.verdicts import fit_for_config
    from engine.libraries import quiet_libraries
    from engine.machine.hardware import hardware_report
    from engine.machine.telemetry import peak_rss_bytes
    from engine.models.hub import load_tokenizer
    from engine.models.loading import load_model
    from engine.run.trainer import build_trainer

    hardware = hardware_report()
    problems = check_hardware_rules(config, hardware, "preset")
    if problems:
        raise UserError(problems[0], problems)
    gpu = hardware.training_gpu
    precision, _ = resolve_precision(config, hardware)
    report = fit_for_config(config)
    quiet_libraries()
    import torch

    batch = int(config.training_value("per_device_train_batch_size") or 1)
    length = int(config.training_value("max_length") or 1024)
    try:
        tokenizer = load_tokenizer(config.model)
    except UserError:
        if not random_init:
            raise
        # The rows are token ids already; the tokenizer only supplies padding, so tiny-demo's will do.
        tokenizer = load_tokenizer(ModelSection())
    model = _random_model(config, precision) if random_init else load_model(config.model, precision, config.quantization)
    vocab = int(model.config.get_text_config().vocab_size)
    rows = _synthetic_rows(vocab, length, batch * steps)
    folder = tempfile.mkdtemp(prefix="sft-wizard-probe-")
    if gpu is not None:
        torch.cuda.reset_peak_memory_stats()
    extra = {"max_steps": steps, "save_strategy": "no", "eval_strategy": "no", "logging_strategy": "no",
             "gradient_accumulation_steps": 1, "load_best_model_at_end": False, "report_to": "none"}
    fits, message = True, "ran without running out of memory"
    nvml_used = None
    try:
        trainer = build_trainer(config, precision, model, tokenizer, rows, None, folder, on_gpu=gpu is not None,
                                callbacks=[], extra_args=extra)
        trainer.train()
        if gpu is not None:
            from engine.machine.telemetry import MemorySampler

            nvml_used = MemorySampler("cuda").sample().get("nvml_used_bytes")
    except torch.OutOfMemoryError as exc:
        fits, message = False, f"CUDA out of memory: {str(exc).splitlines()[0][:200]}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ProbeResult(
        device=gpu.name if gpu else "cpu", steps=steps, fits=fits, estimate_bytes=report.estimate.total_bytes,
        peak_reserved_bytes=int(torch.cuda.max_memory_reserved()) if gpu is not None else None,
        peak_allocated_bytes=int(torch.cuda.max_memory_allocated()) if gpu is not None else None,
        nvml_used_bytes=nvml_used, peak_rss_bytes=None if gpu is not None else peak_rss_bytes(), message=message)


def _probe_path(config: Any) -> Path:
    from engine.models.structure import config_key
    from engine.paths import cache_dir

    return cache_dir() / "probes" / f"{config_key(config.to_dict())}.json"


def save_probe(config: Any, result: ProbeResult) -> None:
    """Remember a probe result, so training the same config records it in run.yaml."""
    import json

    from engine.atomic import write_text_atomic

    try:
        write_text_atomic(_probe_path(config), json.dumps(result.to_dict()))
    except OSError:
        pass


def saved_probe(config: Any) -> dict | None:
    """The last probe result of exactly this config, if one was run here."""
    import json

    try:
        return json.loads(_probe_path(config).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


