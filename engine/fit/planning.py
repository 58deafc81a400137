"""What `optimize` plans for: this machine (or the GPU named), what loads on it, and the data's token lengths."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from engine.errors import UserError
from engine.fit.optimize import Machine, Plan, optimize_config
from engine.fit.verdicts import GPU_TABLE, parse_gpu_memory
from engine.units import gib

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.machine.hardware import Gpu, HardwareReport


def named_gpu(name: str, capacity: int, compute_capability: tuple[int, int]) -> "Gpu":
    """A GPU of the built-in table as a hardware Gpu, so the precision decision treats it like a local one."""
    from engine.machine.hardware import Gpu

    return Gpu(nvml_index=0, name=name, uuid="", total_bytes=capacity, free_bytes=capacity, used_bytes=0,
               reserved_bytes=None, compute_capability=compute_capability)


def planning_machine(config: "RunConfig", hardware: "HardwareReport", gpu_memory: str | None) -> Machine:
    """The device to plan for: --gpu-memory (a size or a GPU name), else the local GPU, else this CPU."""
    from engine.models.attention import loadable_attention

    local = hardware.training_gpu
    if gpu_memory:
        target = parse_gpu_memory(gpu_memory)
        table = GPU_TABLE.get(target.name)
        gpu = named_gpu(target.name, target.capacity_bytes, table[1]) if table else None
        same_as_local = local is not None and (gpu is None or local.compute_capability == gpu.compute_capability)
        if gpu is None and local is not None:
            gpu = local  # a bare size on a GPU machine: this GPU's capability, the size given
        attention = loadable_attention(config.model, on_cuda=True) if same_as_local else []
        machine = Machine(target.name, target.capacity_bytes, True, gpu, attention, hardware.cpu_count)
    elif local is not None:
        machine = Machine(f"cuda:{local.cuda_index} {local.name}", local.free_bytes, True, local,
                          loadable_attention(config.model, on_cuda=True), hardware.cpu_count)
    else:
        machine = Machine(f"this CPU ({hardware.cpu_count} cores, {gib(hardware.ram_available_bytes)} RAM available)", hardware.ram_available_bytes, False,
                          None, loadable_attention(config.model, on_cuda=False), hardware.cpu_count)
        if config.quantization:
            machine.notes.append("4-bit/8-bit loading needs a CUDA GPU: plan for one with --gpu-memory (e.g. A100-80G)")
    machine.lengths = _token_lengths(config, machine)
    return machine


def _token_lengths(config: "RunConfig", machine: Machine) -> list[int] | None:
    """Token lengths of a sample of the training rows; None (with a note) when data or tokenizer are not here."""
    from engine.data.pipeline import prepare_for_training
    from engine.models.hub import load_tokenizer

    try:
        tokenizer = load_tokenizer(config.model)
        data = prepare_for_training(config, tokenizer, rows=1000)
        return sorted(data.learning.lengths)
    except UserError as exc:
        machine.notes.append(f"token lengths unknown: {str(exc).splitlines()[0]}")
        return None


def optimize_for(config: "RunConfig", source: str, gpu_memory: str | None = None,
                 hardware: Callable[[], "HardwareReport"] | None = None) -> Plan:
    """The optimize plan of a config for this machine or the GPU named."""
    from engine.libraries import quiet_libraries
    from engine.machine.hardware import hardware_report
    from engine.models.structure import model_structure

    quiet_libraries(training=False)
    machine = planning_machine(config, (hardware or hardware_report)(), gpu_memory)
    return optimize_config(config, model_structure(config.model), machine, source)
