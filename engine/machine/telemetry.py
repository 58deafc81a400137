"""Memory readings of the training process: CUDA allocator and NVML on a GPU, RSS on CPU."""

from __future__ import annotations

import os
import resource
from typing import Any


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


class MemorySampler:
    """Reads memory for one device cheaply; the NVML handle is opened once."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._nvml: Any = None
        self._handle: Any = None
        if device.startswith("cuda"):
            self._open_nvml()

    def _open_nvml(self) -> None:
        try:
            import pynvml
            import torch

            pynvml.nvmlInit()
            index = torch.cuda.current_device()
            uuid = str(torch.cuda.get_device_properties(index).uuid)
            for i in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(i)
                nvml_uuid = pynvml.nvmlDeviceGetUUID(handle)
                nvml_uuid = nvml_uuid.decode() if isinstance(nvml_uuid, bytes) else nvml_uuid
                if nvml_uuid.removeprefix("GPU-") == uuid.removeprefix("GPU-"):
                    self._handle = handle
                    break
            else:
                self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._nvml = pynvml
        except Exception:  # NVML missing: CUDA allocator readings still work
            self._nvml = None

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
        if self._nvml is not None and self._handle is not None:
            try:
                info = self._nvml.nvmlDeviceGetMemoryInfo(self._handle)
                fields["nvml_used_bytes"] = int(info.used)
                fields["nvml_total_bytes"] = int(info.total)
            except Exception:
                pass
        return fields
