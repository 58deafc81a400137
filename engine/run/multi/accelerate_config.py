"""The accelerate config of a launched run and the commands that start its ranks.

The YAML follows the configs TRL bundles (trl/accelerate_configs: multi_gpu, fsdp1, fsdp2, zero3);
`accelerate launch` turns it into the environment that transformers and accelerate read in each rank.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config.run_config import DistributedSection

WORKER_MODULE = "engine.run.multi.worker"
DEFAULT_PORT = 29500
DISTRIBUTED_TYPE = {"ddp": "MULTI_GPU", "fsdp": "FSDP", "zero3": "DEEPSPEED"}
"""accelerate's MULTI_GPU also starts gloo ranks on a machine without GPU (`--cpu` starts one process)."""


def accelerate_config(distributed: "DistributedSection", mixed_precision: str, num_processes: int,
                      num_machines: int = 1, machine_rank: int = 0, main_process_ip: str | None = None,
                      quantized: bool = False) -> dict:
    """One machine's accelerate config: `num_processes` ranks in all, over `num_machines` machines."""
    port = distributed.main_process_port
    config = {
        "compute_environment": "LOCAL_MACHINE",
        "debug": False,
        "distributed_type": DISTRIBUTED_TYPE[distributed.strategy],
        "downcast_bf16": "no",
        "machine_rank": machine_rank,
        "main_training_function": "main",
        "mixed_precision": mixed_precision,
        "num_machines": num_machines,
        "num_processes": num_processes,
        "rdzv_backend": "static",
        "same_network": True,
        "use_cpu": False,
        # one machine: port 0 lets torch pick a free one, so two runs never collide
        "main_process_port": port if port is not None else (0 if num_machines == 1 else DEFAULT_PORT),
    }
    if main_process_ip:
        config["main_process_ip"] = main_process_ip
    if distributed.strategy == "fsdp":
        config["fsdp_config"] = fsdp_config(distributed, quantized)
    elif distributed.strategy == "zero3":
        config["deepspeed_config"] = {
            "deepspeed_multinode_launcher": "standard", "zero_stage": 3, "zero3_init_flag": True,
            "zero3_save_16bit_model": True,
            "offload_optimizer_device": "cpu" if distributed.offload else "none",
            "offload_param_device": "cpu" if distributed.offload else "none",
        }
    return config


def fsdp_config(distributed: "DistributedSection", quantized: bool) -> dict:
    """accelerate's fsdp_config: whole decoder layers wrapped, full state dict saved (final/ loads anywhere).

    QLoRA needs FSDP1 with use_orig_params off (PEFT docs/source/accelerate/fsdp.md); the rules refuse FSDP2 there.
    """
    config = {
        "fsdp_version": distributed.fsdp_version,
        "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
        "fsdp_cpu_ram_efficient_loading": distributed.cpu_ram_efficient_loading,
        "fsdp_offload_params": distributed.offload,
        "fsdp_state_dict_type": "FULL_STATE_DICT",
        "fsdp_activation_checkpointing": False,
    }
    if distributed.fsdp_version == 1:
        config |= {"fsdp_sharding_strategy": "FULL_SHARD", "fsdp_backward_prefetch": "BACKWARD_PRE",
                   "fsdp_sync_module_states": True, "fsdp_use_orig_params": not quantized}
    else:
        config["fsdp_reshard_after_forward"] = True
    return config


def worker_arguments(preset: str, run_dir: str, resume: str | None) -> list[str]:
    """What each rank runs after the launcher's own options: the worker module, the preset and the run directory."""
    return ["-m", WORKER_MODULE, preset, "--output-dir", run_dir, *(["--resume", resume] if resume else [])]


def accelerate_command(config_file: str, worker: list[str]) -> list[str]:
    """`accelerate launch --config_file FILE -m engine.run.multi.worker ...` with this Python."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config_file, *worker]
