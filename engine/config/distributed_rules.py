"""Rules for the `distributed:` section: process count, strategy, and QLoRA where FSDP or ZeRO-3 support it.

QLoRA shards only with the 4-bit storage dtype equal to the compute dtype; under FSDP only with FSDP1
and CPU-RAM-efficient loading (PEFT docs/source/accelerate/fsdp.md and deepspeed.md).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from engine.problems import Problem

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.machine.hardware import HardwareReport

SHARDED = ("fsdp", "zero3")
STRATEGY_NAMES = {"fsdp": "FSDP", "zero3": "DeepSpeed ZeRO-3"}


def distributed_problems(config: "RunConfig", source: str) -> list[Problem]:
    """Problems of the distributed section that follow from the config alone."""
    d = config.distributed
    problems: list[Problem] = []
    if d.processes < 1:
        problems.append(Problem(f"distributed.processes = {d.processes} must be 1 or more.", ("distributed.processes",),
                                source=source))
    if d.fsdp_version not in (1, 2):
        problems.append(Problem(f"distributed.fsdp_version = {d.fsdp_version} must be 1 or 2.",
                                ("distributed.fsdp_version",), source=source))
    if d.strategy in SHARDED and d.active:
        problems += _quantized_sharding_problems(config, source)
    return problems


def _quantized_sharding_problems(config: "RunConfig", source: str) -> list[Problem]:
    """QLoRA under FSDP or ZeRO-3: 4-bit only, storage dtype equal to the compute dtype, FSDP1 with efficient loading."""
    q, d = config.quantization or {}, config.distributed
    name = STRATEGY_NAMES[d.strategy]
    if q.get("load_in_8bit"):
        return [Problem(f"an 8-bit model cannot be sharded by {name};", ("quantization.load_in_8bit", "distributed.strategy"),
                        "use 4-bit QLoRA (load_in_4bit with bnb_4bit_quant_storage) or distributed.strategy ddp.", source)]
    if not q.get("load_in_4bit"):
        return []
    problems: list[Problem] = []
    storage, compute = q.get("bnb_4bit_quant_storage"), q.get("bnb_4bit_compute_dtype")
    wanted = compute or (config.model.dtype if config.model.dtype != "auto" else "bfloat16")
    if storage in (None, "uint8") or (compute and storage != compute):
        problems.append(Problem(f"QLoRA under {name} needs quantization.bnb_4bit_quant_storage equal to the compute "
                                "dtype, so that the 4-bit weights can be sharded like the others;",
                                ("quantization.bnb_4bit_quant_storage",),
                                f"--set quantization.bnb_4bit_quant_storage={wanted}.", source))
    elif config.model.dtype not in ("auto", storage):
        problems.append(Problem(f"QLoRA under {name} loads the model in the 4-bit storage dtype ({storage}), but "
                                f"model.dtype is {config.model.dtype};", ("model.dtype",),
                                f"--set model.dtype={storage}.", source))
    if d.strategy == "fsdp" and d.fsdp_version != 1:
        problems.append(Problem("QLoRA under FSDP needs distributed.fsdp_version 1 (with FSDP2, accelerate leaves "
                                "4-bit weights unsharded);", ("distributed.fsdp_version",),
                                "--set distributed.fsdp_version=1, or strategy zero3.", source))
    if d.strategy == "fsdp" and not d.cpu_ram_efficient_loading:
        problems.append(Problem("QLoRA under FSDP needs distributed.cpu_ram_efficient_loading true.",
                                ("distributed.cpu_ram_efficient_loading",), source=source))
    return problems


def distributed_warnings(config: "RunConfig") -> list[str]:
    """Distributed settings that are allowed but do nothing."""
    d = config.distributed
    if d.strategy != "ddp" and not d.active:
        return [f"distributed.strategy {d.strategy} shards across processes and has no effect with one; "
                "set distributed.processes (or train with --gpus N / --processes N)."]
    return []


def distributed_hardware_problems(config: "RunConfig", hardware: "HardwareReport", source: str) -> list[Problem]:
    """Problems launching the distributed section on this machine: sharding without GPUs, DeepSpeed missing."""
    d = config.distributed
    if not d.active:
        return []
    if d.strategy in SHARDED and hardware.training_gpu is None:
        return [Problem(f"distributed.strategy {d.strategy} shards the model across GPUs, and this machine has none "
                        f"({hardware.nvml_error or 'no visible GPU'}); accelerate runs CPU processes as plain data-parallel,",
                        ("distributed.strategy",), "so use --set distributed.strategy=ddp here.", source)]
    if d.strategy == "zero3" and importlib.util.find_spec("deepspeed") is None:
        return [Problem("distributed.strategy zero3 needs DeepSpeed, which is not installed here;", ("distributed.strategy",),
                        "`pip install deepspeed` (CUDA machines), or use --set distributed.strategy=fsdp (PyTorch's own "
                        "sharding, no extra package).", source)]
    return []
