"""This process's place among the ranks of a launched run, and the small collectives every rank takes together.

A decision taken by one rank alone hangs or kills the others (they block in the next collective),
so stop, pause, checkpoint and the NaN stop are reduced across ranks and taken by all at one step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

LAUNCHER_ENV = "SFT_WIZARD_LAUNCHER_PID"
"""Set by sft-wizard's launcher for its ranks: the launcher holds run.lock and judges the outcome."""


@dataclass(frozen=True)
class World:
    """Which rank this process is, among how many (torch.distributed's environment, as torchrun sets it)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this is rank 0, the one that writes the run's records."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether other ranks train beside this one."""
        return self.world_size > 1

    @property
    def launched(self) -> bool:
        """Whether sft-wizard's launcher started this rank (and holds the run directory for it)."""
        return LAUNCHER_ENV in os.environ


def this_world() -> World:
    """This process's rank and world size from the launcher's environment (rank 0 of 1 when not launched)."""
    return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                 int(os.environ.get("LOCAL_RANK", 0)))


def join_ranks(on_gpu: bool) -> None:
    """Start torch.distributed for this rank (accelerate's shared state) before its model loads.

    transformers loads for FSDP's CPU-RAM-efficient loading and ZeRO-3 only once the process group
    exists, and the Trainer's accelerator then finds it ready.
    """
    from accelerate import PartialState

    PartialState(cpu=not on_gpu)


def launcher_alive() -> bool:
    """Whether the sft-wizard process that launched this rank still lives (True when none did)."""
    pid = os.environ.get(LAUNCHER_ENV)
    if not pid:
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def _initialised() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def agree(flags: list[int]) -> list[int]:
    """Every rank's flags combined by maximum: a flag any rank raised is raised on all (identity with one rank)."""
    if not _initialised():
        return list(flags)
    import torch
    import torch.distributed as dist
    from accelerate import PartialState

    tensor = torch.tensor(flags, dtype=torch.int32, device=PartialState().device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [int(x) for x in tensor.tolist()]


def gather(record: T) -> list[T]:
    """Every rank's record, in rank order, on every rank (a one-item list with one rank)."""
    if not _initialised():
        return [record]
    from accelerate.utils import gather_object

    return list(gather_object([record]))
