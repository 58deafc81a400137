"""The one place a RunConfig becomes keyword arguments for SFTConfig, LoraConfig and loading.

Training, the probe and export-script all go through here, so they cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from engine.machine.precision import PrecisionDecision, decide_precision

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.machine.hardware import HardwareReport


def resolve_precision(config: "RunConfig", hardware: "HardwareReport") -> tuple[PrecisionDecision, list[str]]:
    """The precision a run uses here: explicit settings win over the hardware decision."""
    decision = decide_precision(hardware.training_gpu)
    notes: list[str] = []
    t = config.training
    if t.get("bf16") is True:
        decision = replace(decision, mixed="bf16", reason=f"training.bf16 is set in the preset ({decision.reason})")
    elif t.get("fp16") is True:
        decision = replace(decision, mixed="fp16", reason=f"training.fp16 is set in the preset ({decision.reason})")
        gpu = hardware.training_gpu
        if gpu is not None and gpu.bf16:
            notes.append(f"{gpu.name} supports bf16, which needs no loss scaling and is more stable than the fp16 "
                         "this preset asks for; consider --set training.fp16=false --set training.bf16=true.")
    elif t.get("bf16") is False and t.get("fp16") is False:
        decision = replace(decision, mixed="no", reason=f"training.bf16 and fp16 are off in the preset ({decision.reason})")
    if config.model.dtype != "auto":
        decision = replace(decision, dtype=config.model.dtype)
    elif decision.mixed == "fp16" and config.lora is None:
        # fp16 AMP cannot unscale fp16 gradients: full fine-tuning keeps fp32 master weights.
        decision = replace(decision, dtype="float32", reason=decision.reason + "; fp32 weights for fp16 AMP full fine-tuning")
    elif decision.mixed == "fp16":
        decision = replace(decision, dtype="float16")
    elif decision.mixed == "bf16":
        decision = replace(decision, dtype="bfloat16")
    if "tf32" in t:
        decision = replace(decision, tf32=bool(t["tf32"]))
    return decision, notes


def sft_kwargs(config: "RunConfig", precision: PrecisionDecision, output_dir: str, on_gpu: bool) -> dict[str, Any]:
    """SFTConfig keyword arguments: the preset's training section plus what sft-wizard decides."""
    kwargs = dict(config.training)
    kwargs["output_dir"] = output_dir
    kwargs["bf16"] = precision.mixed == "bf16"
    kwargs["fp16"] = precision.mixed == "fp16"
    if precision.tf32 and on_gpu:
        kwargs["tf32"] = True
    else:
        kwargs.pop("tf32", None)
    if not on_gpu:
        kwargs["use_cpu"] = True
    kwargs["disable_tqdm"] = True  # the event stream is the progress display
    kwargs.setdefault("report_to", "none")
    kwargs.setdefault("logging_first_step", True)
    return kwargs


def lora_kwargs(config: "RunConfig") -> dict[str, Any] | None:
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
