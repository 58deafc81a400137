"""How many data-parallel processes a run asks for: `--gpus N|all` (GPUs) or `--processes N` (GPUs or CPU processes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import UserError

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig


def set_process_count(config: "RunConfig", gpus: str | None, processes: int | None) -> None:
    """Set distributed.processes from a GPU count (a number or `all`) or a process count; UserError for one that cannot be."""
    if gpus is not None:
        from engine.machine.hardware import hardware_report

        visible = len(hardware_report().visible_gpus)
        if visible == 0:
            raise UserError("--gpus: this machine has no visible GPU; use --processes N for N CPU processes.")
        count = visible if gpus == "all" else _count(gpus, "--gpus")
        if count > visible:
            raise UserError(f"--gpus {count}: only {visible} GPU(s) are visible; use --gpus {visible} or --gpus all.")
        config.distributed.processes = count
    elif processes is not None:
        config.distributed.processes = _count(str(processes), "--processes")


def _count(text: str, option: str) -> int:
    """A process count of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"{option} {text}: give a number of processes, 1 or more (or --gpus all).")
    return int(text)
