"""The one place a RunConfig becomes keyword arguments for SFTConfig, LoraConfig and loading.

Training, the probe and export-script all go through here, so they cannot drift apart.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from engine.machine.precision import PrecisionDecision, decide_precision, dtype_and_mixed

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.machine.hardware import HardwareReport
    from engine.yamlio import YamlMapping, YamlValue


def asked_mixed_precision(config: "RunConfig") -> str | None:
    """The mixed precision the preset asks for (bf16, fp16 or no), or None to let the device decide."""
    training = config.training
    if training.get("bf16") is True:
        return "bf16"
    if training.get("fp16") is True:
        return "fp16"
    if training.get("bf16") is False and training.get("fp16") is False:
        return "no"
    return None


def resolve_precision(config: "RunConfig", hardware: "HardwareReport") -> tuple[PrecisionDecision, list[str]]:
    """The precision a run uses here: explicit settings win over the hardware decision."""
    gpu = hardware.training_gpu
    decision = decide_precision(gpu)
    asked = asked_mixed_precision(config)
    dtype, mixed = dtype_and_mixed(gpu.bf16 if gpu else None, asked, config.model.dtype, config.lora is None)
    reason = decision.reason
    over_auto = "as auto would choose" if mixed == decision.mixed else "over auto's choice"
    if asked == "no":
        reason = f"training.bf16 and fp16 are off in the preset, {over_auto} ({reason})"
    elif asked is not None:
        reason = f"training.{asked} is set in the preset, {over_auto} ({reason})"
    if mixed == "fp16" and dtype == "float32" and config.model.dtype == "auto":
        reason += "; fp32 weights for fp16 AMP full fine-tuning"
    notes: list[str] = []
    if asked == "fp16" and gpu is not None and gpu.bf16:
        notes.append(f"{gpu.name} supports bf16, which needs no loss scaling and is more stable than the fp16 "
                     "this preset asks for; consider --set training.fp16=false --set training.bf16=true.")
    tf32 = bool(config.training["tf32"]) if "tf32" in config.training else decision.tf32
    return PrecisionDecision(dtype, mixed, tf32, reason), notes


def sft_kwargs(config: "RunConfig", precision: PrecisionDecision, output_dir: str, on_gpu: bool) -> "dict[str, YamlValue]":
    """SFTConfig keyword arguments: the preset's training section plus what sft-wizard decides."""
    kwargs = dict(config.training)
    kwargs["output_dir"] = output_dir
    # The rows reach SFTTrainer as input_ids and labels (engine.data.label.rows), the assistant-only mask included.
    kwargs["assistant_only_loss"] = False
    kwargs["bf16"] = precision.mixed == "bf16"
    kwargs["fp16"] = precision.mixed == "fp16"
    if on_gpu:
        kwargs["tf32"] = precision.tf32  # False too: an explicit tf32: false must reach the library
    else:
        kwargs.pop("tf32", None)
    if not on_gpu:
        kwargs["use_cpu"] = True
    kwargs["disable_tqdm"] = True  # the event stream is the progress display
    kwargs.setdefault("report_to", "none")
    kwargs.setdefault("logging_first_step", True)
    if config.distributed.active and config.lora is not None:
        # the Trainer turns unused-parameter search on for a PeftModel; with reentrant checkpointing
        # that crashes (TRL #921, PEFT #313), and LoRA on text has no unused parameters
        kwargs.setdefault("ddp_find_unused_parameters", False)
    return kwargs


def lora_kwargs(config: "RunConfig") -> "YamlMapping | None":
    """LoraConfig keyword arguments, task type causal LM unless the preset says otherwise."""
    if config.lora is None:
        return None
    kwargs = dict(config.lora)
    kwargs.setdefault("task_type", "CAUSAL_LM")
    return kwargs


def checkpointing_enabled(config: "RunConfig") -> bool:
    """Whether activation (gradient) checkpointing is on: the preset's value or TRL's default."""
    value = config.training.get("activation_checkpointing")
    if value is None:
        value = config.training_value("gradient_checkpointing")
    return bool(value)


def checkpointing_kwargs(config: "RunConfig") -> dict:
    """The activation checkpointing keyword arguments (every_n_layers, offload, ...) the run uses."""
    value = config.training.get("activation_checkpointing_kwargs")
    if value is None:
        value = config.training.get("gradient_checkpointing_kwargs")
    return value if isinstance(value, dict) else {}


PRECISION_CHOICES = ("auto", "bf16", "fp16", "fp32")


def precision_choice(config: "RunConfig") -> str:
    """Which precision override a config carries: auto unless fp16/bf16/dtype say otherwise."""
    if config.training.get("bf16") is True:
        return "bf16"
    if config.training.get("fp16") is True:
        return "fp16"
    if config.model.dtype == "float32" or (config.training.get("bf16") is False and config.training.get("fp16") is False):
        return "fp32"
    return "auto"


def apply_precision_choice(config: "RunConfig", choice: str) -> None:
    """Set model.dtype and training.bf16/fp16 for a precision override (auto removes them)."""
    for key in ("bf16", "fp16"):
        config.training.pop(key, None)
    config.model.dtype = {"auto": "auto", "bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}[choice]
    if choice == "bf16":
        config.training["bf16"] = True
    elif choice == "fp16":
        config.training["fp16"] = True
    elif choice == "fp32":
        config.training.update(bf16=False, fp16=False)


def planned_steps(config: "RunConfig", train_rows: int) -> int:
    """Optimizer steps the run will take for a number of training rows."""
    max_steps = config.training_value("max_steps")
    if isinstance(max_steps, int) and max_steps > 0:
        return max_steps
    batches = math.ceil(train_rows / int(config.training_value("per_device_train_batch_size") or 1))
    per_epoch = max(math.ceil(batches / int(config.training_value("gradient_accumulation_steps") or 1)), 1)
    epochs = float(config.training_value("num_train_epochs") or 1)
    return int(math.ceil(per_epoch * epochs)) if train_rows else 0
