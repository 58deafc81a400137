"""The same run, faster: the fastest settings that the memory fit says will fit, at the same effective batch.

Model, data, learning rate, schedule and epochs never change; every change is a Change with its
reason and predicted effect, printed by `sft-wizard optimize` and recorded in the preset (and then
in run.yaml) as `optimized: {from: ..., changes: [...]}`. The order in which memory is spent for
speed follows speed.md: precision from the hardware, the fastest attention that loads, packing
where it pays, the largest micro-batch that fits, and only then activation checkpointing in its
cheapest form.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

from engine.config.resolve import (
    apply_precision_choice,
    asked_mixed_precision,
    checkpointing_enabled,
    checkpointing_kwargs,
)
from engine.config.schema import schema
from engine.errors import UserError
from engine.fit.estimate import estimate_memory
from engine.fit.padding import packing_gain, padding_waste
from engine.fit.stack import logits_choice
from engine.fit.verdicts import TIGHT_HEADROOM, inputs_from_config
from engine.machine.precision import PrecisionDecision, decide_precision
from engine.units import gib

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.machine.hardware import Gpu
    from engine.models.architecture import ModelStructure
    from engine.yamlio import YamlValue

FUSED_ADAMW = "adamw_torch_fused"
ADAMW_FAMILY = ("adamw_torch", "adamw_8bit", "adamw_bnb_8bit", "paged_adamw_8bit", "paged_adamw_32bit")
"""AdamW variants whose update the fused kernel computes (in fp32 states, without 8-bit rounding)."""
VARLEN = ("flash_attention_3", "flash_attention_2")
RECOMPUTE_SPEED = "about 1.2-1.3x faster: no second forward pass in backward (the forward is about a third of a step)"


@dataclass
class Machine:
    """What optimize plans for: a device, its memory budget and what was found to work on it."""

    name: str
    capacity_bytes: int
    on_gpu: bool
    gpu: "Gpu | None" = None
    """The GPU whose compute capability decides precision; None on a CPU or for a bare memory size."""
    attention: list[str] = field(default_factory=list)
    """Attention implementations that load here, fastest first; empty when not probed (a GPU named, not here)."""
    cpu_count: int = 1
    lengths: list[int] | None = None
    """Token lengths of a sample of the training rows, when the data and tokenizer could be read."""
    notes: list[str] = field(default_factory=list)

    @property
    def precision(self) -> PrecisionDecision | None:
        """The precision the hardware decides, or None when the device is not known."""
        if not self.on_gpu:
            return decide_precision(None)
        return decide_precision(self.gpu) if self.gpu is not None else None


@dataclass
class Change:
    """One setting optimize changed, with why and what it should do."""

    setting: str
    before: "YamlValue"
    after: "YamlValue"
    reason: str
    memory: str = ""
    speed: str = ""

    def to_dict(self) -> dict:
        """Plain data for the preset's `optimized` record."""
        return {"setting": self.setting, "from": self.before, "to": self.after, "reason": self.reason,
                "memory": self.memory, "speed": self.speed}


@dataclass
class Plan:
    """The optimized config and how it differs from the original."""

    config: "RunConfig"
    changes: list[Change]
    machine: Machine
    before_bytes: int
    after_bytes: int
    effective_batch: tuple[int, int]
    """(before, after) rows per optimizer step and process; they differ only when packing joins rows."""
    notes: list[str] = field(default_factory=list)


def effective_batch(config: "RunConfig") -> int:
    """Rows per optimizer step on one process: micro-batch × gradient accumulation."""
    return int(config.training_value("per_device_train_batch_size") or 1) * \
        int(config.training_value("gradient_accumulation_steps") or 1)


class _Planner:
    """Applies the rules one after another to a copy of the config, estimating memory at each."""

    def __init__(self, config: "RunConfig", structure: "ModelStructure", machine: Machine) -> None:
        self.config = config.copy()
        self.structure = structure
        self.machine = machine
        self.changes: list[Change] = []
        self.notes: list[str] = list(machine.notes)

    def bytes(self, config: "RunConfig | None" = None) -> int:
        """The estimated peak of a config (this one by default) on the planned device."""
        config = config or self.config
        precision = self.machine.precision
        inputs = inputs_from_config(config, self.structure, precision.mixed if precision else None)
        if not self.machine.on_gpu or config.model.dtype == "float32":
            inputs = replace(inputs, weight_bytes=4.0)
        return estimate_memory(inputs).total_bytes

    def fits(self, config: "RunConfig") -> bool:
        return self.bytes(config) <= self.machine.capacity_bytes * (1 - TIGHT_HEADROOM)

    def change(self, setting: str, before: "YamlValue", after: "YamlValue", reason: str, speed: str,
               apply: Callable[["RunConfig"], object]) -> None:
        """Apply one edit (a function of the config) and record it with its memory effect."""
        old = self.bytes()
        apply(self.config)
        delta = self.bytes() - old
        memory = "no change" if abs(delta) < 2**20 else f"{'+' if delta > 0 else '-'}{gib(abs(delta))}"
        self.changes.append(Change(setting, before, after, reason, memory, speed))

    def set_training(self, key: str, value: "YamlValue", reason: str, speed: str) -> None:
        before = self.config.training.get(key, self.config.training_value(key))
        if before == value and key in self.config.training:
            return
        self.change(f"training.{key}", before, value, reason, speed, lambda c: c.training.__setitem__(key, value))


def optimize_config(config: "RunConfig", structure: "ModelStructure", machine: Machine, source: str) -> Plan:
    """The fastest settings for `machine` that fit it with the usual margin; UserError when nothing fits."""
    planner = _Planner(config, structure, machine)
    before_bytes = planner.bytes(config)
    _precision(planner)
    _attention(planner)
    rows = effective_batch(config)
    packed = _packing(planner, rows)
    _optimizer(planner)
    _batch_and_checkpointing(planner, packed or rows, config, packed is not None)
    _dataloader(planner)
    after = planner.config
    after.optimized = {"from": source, "changes": [c.to_dict() for c in planner.changes]}
    planner.notes.append(f"the estimates assume {logits_choice(after).label}")
    if config.optimized:  # an optimized preset optimized again keeps its first origin
        after.optimized["from"] = config.optimized.get("from", source)
    return Plan(after, planner.changes, machine, before_bytes, planner.bytes(), (rows, effective_batch(after)),
                planner.notes)


def _precision(planner: _Planner) -> None:
    """bf16 (+TF32) from compute capability 8.0, fp16 before, fp32 on the CPU; 4-bit compute dtype follows."""
    config, decision = planner.config, planner.machine.precision
    if decision is None:
        planner.notes.append("precision kept: a bare memory size says nothing about the GPU's compute capability "
                             "(name the GPU, e.g. --gpu-memory A100-80G, or run optimize on it)")
        return
    asked = asked_mixed_precision(config)
    wanted = decision.mixed if decision.mixed != "no" else "fp32"
    current = asked if asked not in (None, "no") else ("fp32" if asked == "no" else None)
    dtype_ok = config.model.dtype in ("auto", decision.dtype) or (config.lora is None and config.model.dtype == "float32")
    if (current not in (None, wanted)) or not dtype_ok:
        before = f"{current or 'auto'}, weights {config.model.dtype}"
        planner.change("precision", before, f"auto ({wanted}, weights {decision.dtype})", decision.reason,
                       "bf16 needs no loss scaling and runs at fp16 speed" if wanted == "bf16" else
                       "the precision this device computes in natively",
                       lambda c: apply_precision_choice(c, "auto"))
    quant = config.quantization or {}
    compute = quant.get("bnb_4bit_compute_dtype")
    if quant.get("load_in_4bit") and compute and compute != decision.dtype:
        planner.change("quantization.bnb_4bit_compute_dtype", compute, f"auto ({decision.dtype})",
                       "the 4-bit layers compute in the run's precision", "no conversion between two 16-bit types",
                       lambda c: c.quantization.pop("bnb_4bit_compute_dtype"))
    if planner.machine.on_gpu and decision.tf32 and config.training.get("tf32") is not True:
        planner.set_training("tf32", True, "Ampere or newer: fp32 matmuls (optimizer, fp32 LoRA weights) on tensor cores",
                             "up to 8x on fp32 matmuls (NVIDIA's figure); bf16 parts unchanged")


def _attention(planner: _Planner) -> None:
    """The fastest attention implementation that loaded for this model here."""
    loadable = planner.machine.attention
    if not loadable:
        if planner.machine.on_gpu:
            planner.notes.append("attention kept: which kernels load is probed on the machine itself "
                                 "(run optimize there to try flash_attention_2/3)")
        return
    model = planner.config.model
    current = model.attn_implementation
    best = loadable[0]
    if current == best or (current is None and best == "sdpa"):
        return
    if current is not None and current not in loadable:
        reason = f"{current} does not load for this model here; {best} is the fastest that does"
    else:
        reason = f"{best} is the fastest implementation that loads for this model here ({', '.join(loadable)} do)"
    speed = "no attention matrix in memory, fused kernel" if best != "eager" else ""
    if best in VARLEN:
        speed = "FlashAttention kernels; padding-free rows attend only within themselves"
    planner.change("model.attn_implementation", current or "default", best, reason, speed,
                   lambda c: setattr(c.model, "attn_implementation", best))


def _packing(planner: _Planner, rows: int) -> int | None:
    """Pack rows (bfd) when a varlen kernel is there, or when padding waste outweighs the attention cost.

    Returns the packed sequences per optimizer step that carry about the tokens `rows` rows did.
    """
    config = planner.config
    max_length = config.training_value("max_length")
    if config.training_value("packing") or not max_length:
        return None
    lengths = planner.machine.lengths
    if not lengths:
        planner.notes.append("packing not considered: the training data could not be read here")
        return None
    attention = config.model.attn_implementation or "sdpa"
    micro = int(config.training_value("per_device_train_batch_size") or 1)
    gain = packing_gain(planner.structure, lengths, int(max_length), micro, attention in VARLEN)
    waste = padding_waste(lengths, int(max_length), micro)
    if gain < 1.25:
        planner.notes.append(f"packing not chosen: padding is {waste:.0%} of the tokens at micro-batch {micro}, and "
                             f"{'packing would gain little' if attention in VARLEN else f'without a varlen kernel ({attention}) each packed row attends over all {max_length} positions'}"
                             f" (predicted {gain:.2f}x)")
        return None
    mean = sum(min(n, max_length) for n in lengths) / len(lengths)
    packed = max(1, round(rows * mean / max_length))
    why = (f"padding is {waste:.0%} of the tokens at micro-batch {micro}; {attention} is a variable-length kernel"
           if attention in VARLEN else f"padding is {waste:.0%} of the tokens at micro-batch {micro}")
    planner.change("training.packing", False, "true (packing_strategy bfd)", why,
                   f"about {gain:.1f}x tokens/s from the padding removed (compute model)",
                   lambda c: c.training.update(packing=True, packing_strategy="bfd"))
    planner.notes.append(f"packing: {rows} rows of about {mean:.0f} tokens per optimizer step become about {packed} "
                         f"packed sequences of {max_length} tokens, so the tokens per step (and the step count) stay "
                         "about the same")
    return packed


def _optimizer(planner: _Planner) -> None:
    """The fused AdamW kernel (one launch for all tensors) where the library has it."""
    config = planner.config
    current = str(config.training_value("optim"))
    choices = schema()["training"]["optim"].choices
    if FUSED_ADAMW not in choices or current == FUSED_ADAMW or current not in ADAMW_FAMILY:
        return
    if current != "adamw_torch" and config.lora is None:
        return  # full fine-tuning: 8-bit states save memory worth keeping
    if "bnb" in current or "8bit" in current:
        reason = "LoRA trains only the adapters, so 8-bit states save little; fused AdamW updates them in one kernel"
    else:
        reason = "the same AdamW update, fused into one kernel for all parameters"
    trial = config.copy()
    trial.training["optim"] = FUSED_ADAMW
    if not planner.fits(trial) and planner.fits(config):
        return
    planner.set_training("optim", FUSED_ADAMW, reason, "fewer kernel launches per optimizer step")


def _checkpoint_forms(num_layers: int) -> list[tuple[str, bool, dict]]:
    """Activation checkpointing from none to the most memory-saving form: (words, on, kwargs)."""
    forms: list[tuple[str, bool, dict]] = [("off", False, {})]
    for every in (4, 2):
        if every < num_layers:
            forms.append((_words(True, {"every_n_layers": every}), True, {"every_n_layers": every}))
    forms += [("every layer", True, {}), ("every layer, offloaded to host memory", True, {"offload": True})]
    return forms


def _set_checkpointing(config: "RunConfig", on: bool, kwargs: dict) -> None:
    training = config.training
    for legacy in ("gradient_checkpointing", "gradient_checkpointing_kwargs"):
        training.pop(legacy, None)
    training["activation_checkpointing"] = on  # explicit: TRL's deprecated default would warn on every run
    if kwargs:
        training["activation_checkpointing_kwargs"] = dict(kwargs)
    else:
        training.pop("activation_checkpointing_kwargs", None)


def _set_batch(config: "RunConfig", micro: int, rows: int) -> None:
    config.training["per_device_train_batch_size"] = micro
    config.training["gradient_accumulation_steps"] = rows // micro


def _batch_and_checkpointing(planner: _Planner, rows: int, original: "RunConfig", packed: bool) -> None:
    """The largest micro-batch that fits without checkpointing, else with its cheapest form that fits."""
    config = planner.config
    divisors = [b for b in range(rows, 0, -1) if rows % b == 0]
    choice = None
    for words, on, kwargs in _checkpoint_forms(planner.structure.num_layers):
        for micro in divisors:
            trial = config.copy()
            _set_checkpointing(trial, on, kwargs)
            _set_batch(trial, micro, rows)
            if planner.fits(trial):
                choice = (words, on, kwargs, micro)
                break
        if choice:
            break
    if choice is None:
        trial = config.copy()
        _set_checkpointing(trial, True, {"offload": True})
        _set_batch(trial, 1, rows)
        raise UserError(f"{original.name} does not fit {planner.machine.name} ({gib(planner.machine.capacity_bytes)}) "
                        f"with a {TIGHT_HEADROOM:.0%} margin even at micro-batch 1 with offloaded activation "
                        f"checkpointing (estimate {gib(planner.bytes(trial))}); optimize keeps what is trained, so "
                        f"see `sft-wizard estimate` for 4-bit loading or a shorter max_length.")
    words, on, kwargs, micro = choice
    before_on = checkpointing_enabled(config)
    before_kwargs = checkpointing_kwargs(config)
    implicit = config.training.get("activation_checkpointing") is None
    legacy = [k for k in ("gradient_checkpointing", "gradient_checkpointing_kwargs") if k in config.training]
    if (before_on, before_kwargs) != (on, kwargs) or implicit or legacy:
        reason = ("the run fits without it" if not on else
                  f"without it nothing fits; {words} is the cheapest form that does")
        if implicit:
            reason += " (set explicitly: TRL's default for the deprecated gradient_checkpointing warns on every run)"
        speed = (RECOMPUTE_SPEED if before_on and not on else "fewer layers recomputed" if on and before_on
                 else "slower: layers are recomputed" if on else "")
        planner.change("training.activation_checkpointing", _words(before_on, before_kwargs), words, reason, speed,
                       lambda c: _set_checkpointing(c, on, kwargs))
    old_micro = int(config.training_value("per_device_train_batch_size") or 1)
    old_accumulation = int(config.training_value("gradient_accumulation_steps") or 1)
    if (old_micro, old_accumulation) != (micro, rows // micro):
        kept = f"{rows} packed sequences per step and process" if packed else f"effective batch {rows} per process kept"
        planner.change("training.per_device_train_batch_size x gradient_accumulation_steps",
                       f"{old_micro} x {old_accumulation}", f"{micro} x {rows // micro}",
                       f"the largest micro-batch that fits with a {TIGHT_HEADROOM:.0%} margin; {kept}",
                       "fewer, larger steps: larger matrix multiplies and fewer optimizer passes"
                       if micro > old_micro else "smaller steps, needed to fit",
                       lambda c: _set_batch(c, micro, rows))
    lengths = planner.machine.lengths
    if lengths and micro > old_micro and not packed:
        max_length = int(config.training_value("max_length") or 0) or max(lengths)
        planner.notes.append(f"padding at micro-batch {micro}: {padding_waste(lengths, max_length, micro):.0%} of the "
                             f"tokens (at {old_micro}: {padding_waste(lengths, max_length, old_micro):.0%})")


def _words(on: bool, kwargs: dict) -> str:
    if not on:
        return "off"
    if kwargs.get("offload"):
        return "every layer, offloaded to host memory"
    every = int(kwargs.get("every_n_layers") or 1)
    return "every layer" if every == 1 else f"one layer in {every}"


def _dataloader(planner: _Planner) -> None:
    """On a GPU: worker processes and pinned memory, so batches are ready when a step ends."""
    if not planner.machine.on_gpu or "dataloader_num_workers" in planner.config.training:
        return
    workers = max(1, min(4, planner.machine.cpu_count // 2))
    planner.set_training("dataloader_num_workers", workers, "collate the next batches while the GPU computes",
                         "no GPU idle time between steps")
    if planner.config.training_value("dataloader_pin_memory") is not True:
        planner.set_training("dataloader_pin_memory", True, "pinned host memory copies to the GPU asynchronously",
                             "overlapped host-to-device copies")
    planner.set_training("dataloader_persistent_workers", True, "workers stay between epochs",
                         "no worker start-up at each epoch")
