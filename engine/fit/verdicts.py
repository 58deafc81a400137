"""Will a run fit: estimator inputs from a RunConfig, verdicts per GPU, and changes that make it fit.

Recommendations keep the effective batch size (per-device batch × gradient accumulation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from engine.config.resolve import checkpointing_enabled, checkpointing_kwargs
from engine.errors import UserError
from engine.fit.estimate import Estimate, MemoryInputs, estimate_memory
from engine.fit.stack import logits_choice
from engine.models.architecture import ModelStructure, lora_targets
from engine.units import GIB

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.machine.hardware import HardwareReport

TIGHT_HEADROOM = 0.10
DEFAULT_MAX_LENGTH = 1024

# name: (memory GiB, compute capability)
GPU_TABLE: dict[str, tuple[float, tuple[int, int]]] = {
    "T4": (15.0, (7, 5)), "V100-16G": (16.0, (7, 0)), "V100-32G": (32.0, (7, 0)), "RTX-3090": (24.0, (8, 6)),
    "RTX-4090": (24.0, (8, 9)), "RTX-4080": (16.0, (8, 9)), "RTX-3060": (12.0, (8, 6)), "A10": (24.0, (8, 6)),
    "A10G": (24.0, (8, 6)), "L4": (24.0, (8, 9)), "RTX-A6000": (48.0, (8, 6)), "L40S": (48.0, (8, 9)),
    "A100-40G": (40.0, (8, 0)), "A100-80G": (80.0, (8, 0)), "H100-80G": (80.0, (9, 0)), "H200": (141.0, (9, 0)),
}


@dataclass
class Target:
    """A GPU to plan for: a local one (free memory counts) or one named by the user."""

    name: str
    capacity_bytes: int
    local: bool


@dataclass
class Verdict:
    """Whether the estimate fits one GPU."""

    target: Target
    status: str
    """fits, tight or does not fit."""
    headroom_bytes: int


@dataclass
class Recommendation:
    """One change to the config, with the memory predicted after it."""

    description: str
    overrides: list[str]
    total_bytes: int


@dataclass
class FitReport:
    """The estimate of a config, its verdicts and recommendations."""

    estimate: Estimate
    verdicts: list[Verdict]
    recommendations: list[Recommendation] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain data for `estimate --json`."""
        return {
            "total_bytes": self.estimate.total_bytes,
            "total_gib": round(self.estimate.total_bytes / GIB, 2),
            "breakdown": self.estimate.breakdown,
            "trainable_params": self.estimate.trainable_params,
            "per_gpu_of": self.estimate.inputs.processes if self.estimate.inputs else 1,
            "strategy": self.estimate.inputs.strategy if self.estimate.inputs else "ddp",
            "assumes": self.estimate.inputs.assumes if self.estimate.inputs else "",
            "notes": self.estimate.notes,
            "verdicts": [{"gpu": v.target.name, "capacity_bytes": v.target.capacity_bytes, "local": v.target.local,
                          "status": v.status, "headroom_bytes": v.headroom_bytes} for v in self.verdicts],
            "recommendations": [{"change": r.description, "set": r.overrides, "total_bytes": r.total_bytes}
                                for r in self.recommendations],
        }


def parse_gpu_memory(text: str) -> Target:
    """A planning target from `24GiB`, `80G`, `16000MiB` or a GPU name of the built-in table."""
    key = text.strip().upper().replace(" ", "-")
    for name, (gib, _) in GPU_TABLE.items():
        if key == name.upper() or key == name.upper().replace("-", ""):
            return Target(name, int(gib * GIB), local=False)
    match = re.fullmatch(r"([\d.]+)\s*(GIB|GB|G|MIB|MB|M)?", key)
    if not match:
        raise UserError(f"--gpu-memory {text!r}: give a size such as 24GiB or 16000MiB, or a GPU name: "
                        f"{', '.join(GPU_TABLE)}.")
    value = float(match.group(1))
    unit = match.group(2) or "GIB"
    scale = {"GIB": GIB, "G": GIB, "GB": 1e9, "MIB": 2**20, "M": 2**20, "MB": 1e6}[unit]
    return Target(f"{value:g} {unit.replace('IB', 'iB')}", int(value * scale), local=False)


def local_targets(hardware: "HardwareReport") -> list[Target]:
    """The visible local GPUs, each with the memory free for this run."""
    return [Target(f"cuda:{g.cuda_index} {g.name}", g.free_bytes, local=True) for g in hardware.visible_gpus]


def inputs_from_config(config: "RunConfig", structure: ModelStructure, mixed: str | None = None,
                       logits: str | None = None) -> MemoryInputs:
    """Estimator inputs for a config, modelling what the installed TRL/PEFT and sft-wizard do.

    `mixed` is the run's mixed precision (bf16, fp16 or no) when known. Under fp16 every trainable
    parameter is kept in fp32 (the GradScaler needs it): full fine-tuning then holds fp32 weights.
    `logits` (full or chunked) overrides the LM-head behaviour of the installed TRL.
    """
    choice = logits_choice(config, logits)
    fp16_amp = mixed == "fp16" or config.training.get("fp16") is True
    quant = config.quantization or {}
    quantization = "4bit" if quant.get("load_in_4bit") else "8bit" if quant.get("load_in_8bit") else None
    lora = config.lora
    targets: list[str] = []
    extra = 0
    if lora is not None:
        targets = lora_targets(structure, lora.get("target_modules"))
        for name in lora.get("modules_to_save") or []:
            if name == "lm_head":
                extra += structure.lm_head_params
            elif "embed" in name:
                extra += structure.embedding_params
    max_length = config.training_value("max_length") or DEFAULT_MAX_LENGTH
    checkpoint_kwargs = checkpointing_kwargs(config)
    return MemoryInputs(
        structure=structure,
        batch_size=int(config.training_value("per_device_train_batch_size") or 1),
        seq_len=int(max_length),
        weight_bytes=4.0 if config.model.dtype == "float32" or (fp16_amp and lora is None) else 2.0,
        quantization=quantization,
        double_quant=bool(quant.get("bnb_4bit_use_double_quant")),
        lora_r=int(lora.get("r", 8)) if lora is not None else None,
        lora_targets=targets,
        lora_dropout=float(lora.get("lora_dropout", 0.0)) if lora is not None else 0.0,
        lora_extra_trainable=extra,
        # current TRL casts LoRA weights of quantized models to bf16; PEFT keeps them fp32 otherwise,
        # and so does sft-wizard under fp16 (engine.run.trainer.trainable_in_fp32)
        lora_param_bytes=2.0 if quantization and not fp16_amp else 4.0,
        extra_param_bytes=4.0 if fp16_amp else None,  # modules_to_save: the weights' dtype, fp32 under fp16 AMP
        optimizer=str(config.training_value("optim")),
        checkpointing=checkpointing_enabled(config),
        checkpoint_every=int(checkpoint_kwargs.get("every_n_layers") or 1),
        checkpoint_offload=bool(checkpoint_kwargs.get("offload")),
        attention=config.model.attn_implementation or "sdpa",
        upcast_non_quantized=False,
        processes=max(1, config.distributed.processes),
        strategy=config.distributed.strategy,
        offload=config.distributed.offload,
        logits=choice.mode,
        lazy_cuda_context=True,
        assumes=choice.label,
    )


def _verdicts(estimate: Estimate, targets: list[Target]) -> list[Verdict]:
    out = []
    for target in targets:
        headroom = target.capacity_bytes - estimate.total_bytes
        if headroom < 0:
            status = "does not fit"
        elif headroom < target.capacity_bytes * TIGHT_HEADROOM:
            status = "tight"
        else:
            status = "fits"
        out.append(Verdict(target, status, headroom))
    return out


def _fits(total: int, capacity: int) -> bool:
    return total <= capacity * (1 - TIGHT_HEADROOM)


def recommend(config: "RunConfig", inputs: MemoryInputs, capacity: int) -> list[Recommendation]:
    """Changes that fit `capacity` with headroom, keeping the effective batch size."""
    batch = inputs.batch_size
    accumulation = int(config.training_value("gradient_accumulation_steps") or 1)
    effective = batch * accumulation
    current = estimate_memory(inputs).total_bytes
    out: list[Recommendation] = []
    divisors = [b for b in range(1, effective + 1) if effective % b == 0]
    fitting = [b for b in divisors if _fits(estimate_memory(replace(inputs, batch_size=b)).total_bytes, capacity)]
    if fitting and fitting[-1] != batch:
        best = fitting[-1]
        total = estimate_memory(replace(inputs, batch_size=best)).total_bytes
        verb = "raise" if best > batch else "lower"
        out.append(Recommendation(
            f"{verb} per_device_train_batch_size to {best} with gradient_accumulation_steps {effective // best} "
            f"(effective batch stays {effective})",
            [f"training.per_device_train_batch_size={best}", f"training.gradient_accumulation_steps={effective // best}"],
            total))
    if _fits(current, capacity) or fitting:
        return out
    base = replace(inputs, batch_size=fitting[-1] if fitting else 1)
    if not inputs.checkpointing:
        trial = estimate_memory(replace(base, checkpointing=True)).total_bytes
        out.append(Recommendation("turn on activation checkpointing (about 20% slower)",
                                  ["training.activation_checkpointing=true"], trial))
    if inputs.processes > 1 and not inputs.sharded:
        trial = estimate_memory(replace(inputs, strategy="fsdp")).total_bytes  # at the preset's own batch
        out.append(Recommendation(f"shard the model over the {inputs.processes} GPUs with FSDP instead of a full copy "
                                  "on each (DDP)", ["distributed.strategy=fsdp"], trial))
    if inputs.quantization is None and inputs.lora_r:
        trial = estimate_memory(replace(base, quantization="4bit", double_quant=True, lora_param_bytes=2.0)).total_bytes
        out.append(Recommendation("load the model in 4-bit (QLoRA, nf4 with double quantization)",
                                  ["quantization={load_in_4bit: true, bnb_4bit_quant_type: nf4, bnb_4bit_use_double_quant: true}"],
                                  trial))
    if inputs.lora_r is None and "8bit" not in inputs.optimizer:
        trial = estimate_memory(replace(base, optimizer="paged_adamw_8bit")).total_bytes
        out.append(Recommendation("use an 8-bit paged optimizer", ["training.optim=paged_adamw_8bit"], trial))
    length = inputs.seq_len
    while length > 256:
        length //= 2
        trial = estimate_memory(replace(base, seq_len=length)).total_bytes
        if _fits(trial, capacity):
            out.append(Recommendation(f"shorten max_length to {length} (longer rows are truncated)",
                                      [f"training.max_length={length}"], trial))
            break
    return out


def fit_report(config: "RunConfig", structure: ModelStructure, targets: list[Target],
               mixed: str | None = None, logits: str | None = None) -> FitReport:
    """Estimate, verdicts for every target, and recommendations for the first one."""
    inputs = inputs_from_config(config, structure, mixed, logits)
    estimate = estimate_memory(inputs)
    report = FitReport(estimate, _verdicts(estimate, targets))
    if targets:
        report.recommendations = recommend(config, inputs, targets[0].capacity_bytes)
    return report


def default_targets(hardware: "HardwareReport", gpu_memory: str | None) -> list[Target]:
    """--gpu-memory when given, else the local GPUs, else a 24 GiB card as a common reference."""
    if gpu_memory:
        return [parse_gpu_memory(gpu_memory)]
    targets = local_targets(hardware)
    return targets or [Target("24 GiB GPU (no local GPU; use --gpu-memory)", int(24 * GIB), local=False)]



def recommend_after_oom(config: "RunConfig", structure: ModelStructure, available_bytes: int | None,
                        mixed: str | None = None) -> list[Recommendation]:
    """Changes after a real out-of-memory: plan for the memory the run had, and for less than the estimate.

    `available_bytes` is what was free on the device when the run started (other processes hold
    the rest). The run needed more than that, so when the estimate claimed it fits, the estimate
    was low for this setup: the plan then asks for a tenth less than the estimate too. recommend()
    keeps its usual headroom below the free memory.
    """
    inputs = inputs_from_config(config, structure, mixed)
    estimate = estimate_memory(inputs).total_bytes
    below_estimate = int(estimate * 0.9 / (1 - TIGHT_HEADROOM))  # recommend() takes its headroom off this again
    return recommend(config, inputs, min(available_bytes or below_estimate, below_estimate))


def fit_for_config(config: "RunConfig", gpu_memory: str | None = None, logits: str | None = None):
    """The FitReport of a config against --gpu-memory or the local GPUs, in the precision the run has there.

    `logits` (--logits full|chunked) overrides the LM-head behaviour of the installed TRL.
    """
    from engine.config.resolve import asked_mixed_precision, resolve_precision
    from engine.machine.hardware import BF16_MIN_CAPABILITY, hardware_report
    from engine.machine.precision import dtype_and_mixed
    from engine.models.structure import model_structure

    hardware = hardware_report()
    named = GPU_TABLE.get(parse_gpu_memory(gpu_memory).name) if gpu_memory else None
    if named is None:
        mixed = resolve_precision(config, hardware)[0].mixed
    else:  # a GPU named from another machine (--gpu-memory T4): the precision the run will have on it
        mixed = dtype_and_mixed(named[1] >= BF16_MIN_CAPABILITY, asked_mixed_precision(config), config.model.dtype,
                                config.lora is None)[1]
    return fit_report(config, model_structure(config.model), default_targets(hardware, gpu_memory), mixed, logits)
