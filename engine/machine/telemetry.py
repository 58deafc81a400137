"""Memory readings of the training process: CUDA allocator and NVML on a GPU, RSS on CPU.

NVML's device memory (`nvml_used_bytes`) counts every process and the driver's reserve; the
reading comparable with an estimate is this process's own (`process_used_bytes`), found by PID,
which is missing inside containers that see other PIDs than the host.
"""

from __future__ import annotations

import os
import resource
import sys
from typing import TYPE_CHECKING

from engine.machine.nvml_calls import pynvml_module

if TYPE_CHECKING:
    from engine.machine.nvml_calls import Nvml

UUID_PREFIXES = ("GPU-", "MIG-")


def process_rss_bytes() -> int:
    """Resident memory of this process now."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_cuda_peaks() -> None:
    """Start the CUDA allocator's peak statistics afresh, when CUDA is initialised in this process."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.reset_peak_memory_stats()


class MemorySampler:
    """Reads memory for one device cheaply; the NVML handle (a MIG instance's on MIG) is opened once.

    On a GPU the allocator's peak statistics start afresh with each sampler (one per run or probe).
    """

    def __init__(self, device: str = "cpu", nvml: Nvml | None = None):
        self.device = device
        self._nvml: Nvml | None = None
        self._handle: object = None
        if device.startswith("cuda"):
            reset_cuda_peaks()
            self._open_nvml(nvml)

    def _open_nvml(self, nvml: Nvml | None) -> None:
        """Find the NVML handle of the current CUDA device (nvml: a fake module in tests)."""
        try:
            nvml = nvml if nvml is not None else pynvml_module()
            nvml.nvmlInit()
            self._handle = _current_device_handle(nvml)
            self._nvml = nvml
        except Exception:  # NVML missing: CUDA allocator readings still work
            self._nvml = self._handle = None

    def sample(self) -> dict[str, int]:
        """Current memory fields for a `log` event."""
        if not self.device.startswith("cuda"):
            return {"rss_bytes": process_rss_bytes(), "peak_rss_bytes": peak_rss_bytes()}
        import torch

        fields = {
            "allocated_bytes": int(torch.cuda.memory_allocated()),
            "reserved_bytes": int(torch.cuda.memory_reserved()),
            "peak_bytes": int(torch.cuda.max_memory_reserved()),
            "peak_allocated_bytes": int(torch.cuda.max_memory_allocated()),
        }
        return fields | self._nvml_fields()

    def _nvml_fields(self) -> dict[str, int]:
        """NVML's used and total memory of the device, and this process's used memory on it, where NVML answers."""
        if self._handle is None or self._nvml is None:
            return {}
        fields = {}
        try:
            info = self._nvml.nvmlDeviceGetMemoryInfo(self._handle)
            fields["nvml_used_bytes"], fields["nvml_total_bytes"] = int(info.used), int(info.total)
        except Exception:  # a driver or device that does not report memory
            pass
        used = _process_used_bytes(self._nvml, self._handle, os.getpid())
        if used is not None:
            fields["process_used_bytes"] = used
        return fields


def _current_device_handle(nvml: Nvml) -> object:
    """The NVML handle of CUDA's current device: matched by UUID among GPUs and MIG instances, else by index."""
    import torch

    index = torch.cuda.current_device()
    devices = _nvml_devices(nvml)
    for wanted in _current_device_uuids(index):
        for uuid, handle in devices:
            if _bare(uuid).startswith(_bare(wanted)):
                return handle
    return nvml.nvmlDeviceGetHandleByIndex(index)


def _current_device_uuids(index: int) -> list[str]:
    """UUIDs naming CUDA device `index`: its CUDA_VISIBLE_DEVICES entry if a GPU or MIG UUID, then CUDA's own."""
    import torch

    entries = [e.strip() for e in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if e.strip()]
    named = [entries[index]] if index < len(entries) and entries[index].startswith(UUID_PREFIXES) else []
    return named + [str(torch.cuda.get_device_properties(index).uuid)]


def _nvml_devices(nvml: Nvml) -> list[tuple[str, object]]:
    """(UUID, handle) of every GPU NVML lists, each followed by its MIG instances."""
    devices = []
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        devices.append((_text(nvml.nvmlDeviceGetUUID(handle)), handle))
        devices.extend(_mig_devices(nvml, handle))
    return devices


def _mig_devices(nvml: Nvml, handle: object) -> list[tuple[str, object]]:
    """(UUID, handle) of a GPU's MIG instances; none when MIG is off or unsupported."""
    try:
        slots = range(nvml.nvmlDeviceGetMaxMigDeviceCount(handle))
    except Exception:  # a GPU without MIG support
        return []
    devices = []
    for slot in slots:
        try:
            mig_handle = nvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
        except Exception:  # an empty slot, or MIG mode off
            continue
        devices.append((_text(nvml.nvmlDeviceGetUUID(mig_handle)), mig_handle))
    return devices


def _process_used_bytes(nvml: Nvml, handle: object, pid: int) -> int | None:
    """GPU memory NVML counts for process `pid` on the device, or None when NVML does not list it."""
    try:
        processes = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
    except Exception:  # not supported on this device or driver
        return None
    for process in processes:
        used = getattr(process, "usedGpuMemory", None)
        if process.pid == pid and isinstance(used, int):
            return used
    return None


def _bare(uuid: str) -> str:
    """A GPU or MIG UUID without its prefix, as CUDA spells it."""
    for prefix in UUID_PREFIXES:
        uuid = uuid.removeprefix(prefix)
    return uuid


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
