"""One process trains on one GPU: choose it and make it the only one CUDA sees, before CUDA starts."""

from __future__ import annotations

import os
import sys
from typing import Callable

from engine.errors import UserError
from engine.machine.hardware import Gpu, HardwareReport, hardware_report
from engine.units import gib


def _wanted(gpus: list[Gpu], wanted: str) -> Gpu:
    """The visible GPU a user named by CUDA index or (a prefix of) its UUID."""
    for gpu in gpus:
        if wanted == str(gpu.cuda_index) or gpu.uuid == wanted or (wanted.startswith(("GPU-", "MIG-"))
                                                                    and gpu.uuid.startswith(wanted)):
            return gpu
    names = ", ".join(f"{g.cuda_index} ({g.name}, {g.uuid})" for g in gpus)
    raise UserError(f"GPU {wanted!r} is not one of the visible GPUs: {names}.")


def choose_training_gpu(hardware: HardwareReport, wanted: str | None = None,
                        read_hardware: Callable[[], HardwareReport] = hardware_report,
                        purpose: str = "training") -> tuple[HardwareReport, str | None]:
    """Restrict CUDA_VISIBLE_DEVICES to one GPU (the wanted one, else the one with most free memory).

    Returns the hardware as seen after the restriction and a note saying which GPU and why, or
    None when nothing had to be chosen. Several visible GPUs would make transformers wrap the
    model in nn.DataParallel, which TRL refuses after the model has loaded.
    """
    visible = hardware.visible_gpus
    if len(visible) <= 1 and wanted is None:
        return hardware, None
    chosen = _wanted(visible, wanted) if wanted is not None else max(visible, key=lambda g: g.free_bytes)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized() and len(visible) > 1:
        raise UserError("CUDA is already initialised in this process with several GPUs visible; start sft-wizard "
                        f"with CUDA_VISIBLE_DEVICES={chosen.uuid} to train on one of them.")
    reason = "as asked" if wanted is not None else f"the most free memory, {gib(chosen.free_bytes)}"
    show_only_gpus([chosen.uuid])
    restricted = read_hardware()
    others = len(visible) - 1
    note = (f"{purpose} on {chosen.name} ({chosen.uuid}, {reason}); {others} other GPU(s) hidden with "
            f"CUDA_VISIBLE_DEVICES. Set CUDA_VISIBLE_DEVICES yourself to choose.")
    return restricted, note


def show_only_gpus(uuids: list[str]) -> None:
    """Make these GPUs the only ones CUDA sees in this process and its children: the one place that sets CUDA_VISIBLE_DEVICES."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(uuids)


def choose_training_gpus(hardware: HardwareReport, count: int,
                         read_hardware: Callable[[], HardwareReport] = hardware_report) -> tuple[HardwareReport, str | None]:
    """Restrict CUDA_VISIBLE_DEVICES to the `count` GPUs with the most free memory, for one rank each.

    Without a GPU the ranks are CPU processes and nothing is restricted; UserError when fewer GPUs are visible.
    """
    visible = hardware.visible_gpus
    if not visible:
        return hardware, None
    if count > len(visible):
        raise UserError(f"distributed.processes = {count} needs {count} GPUs, one per process, and {len(visible)} "
                        f"are visible; use --gpus {len(visible)} (or --gpus all).")
    if count == len(visible):
        return hardware, None
    chosen = sorted(sorted(visible, key=lambda g: -g.free_bytes)[:count], key=lambda g: g.cuda_index)
    show_only_gpus([g.uuid for g in chosen])
    note = (f"training on {count} of {len(visible)} GPUs, those with the most free memory "
            f"({', '.join(f'{g.cuda_index} {g.name}' for g in chosen)}); set CUDA_VISIBLE_DEVICES yourself to choose.")
    return read_hardware(), note
