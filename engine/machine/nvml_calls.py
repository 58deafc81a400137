"""The NVML calls sft-wizard makes, as a Protocol: pynvml (nvidia-ml-py) answers them, and the tests' fake does.

Device handles are opaque (a ctypes pointer in pynvml): they are only passed back to NVML, so they are `object`.
"""

from __future__ import annotations

from typing import Protocol, Sequence


class MemoryInfo(Protocol):
    """`nvmlDeviceGetMemoryInfo`'s answer (v2 adds `reserved`)."""

    total: int
    free: int
    used: int


class ProcessInfo(Protocol):
    """One entry of `nvmlDeviceGetComputeRunningProcesses` (`usedGpuMemory` may be missing or None)."""

    pid: int


class Nvml(Protocol):
    """The pynvml functions hardware and telemetry readings call."""

    def nvmlInit(self) -> None: ...

    def nvmlShutdown(self) -> None: ...

    def nvmlDeviceGetCount(self) -> int: ...

    def nvmlDeviceGetHandleByIndex(self, index: int) -> object: ...

    def nvmlDeviceGetName(self, handle: object) -> str | bytes: ...

    def nvmlDeviceGetUUID(self, handle: object) -> str | bytes: ...

    def nvmlDeviceGetMemoryInfo(self, handle: object, version: int | None = None) -> MemoryInfo: ...

    def nvmlDeviceGetCudaComputeCapability(self, handle: object) -> tuple[int, int]: ...

    def nvmlDeviceGetComputeRunningProcesses(self, handle: object) -> Sequence[ProcessInfo]: ...

    def nvmlSystemGetProcessName(self, pid: int) -> str | bytes: ...

    def nvmlSystemGetDriverVersion(self) -> str | bytes: ...

    def nvmlSystemGetCudaDriverVersion(self) -> int: ...

    def nvmlDeviceGetMigMode(self, handle: object) -> tuple[int, int]: ...

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: object) -> int: ...

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: object, index: int) -> object: ...


def pynvml_module() -> Nvml:
    """The real bindings, from nvidia-ml-py; ImportError where it is not installed."""
    import pynvml

    return pynvml
