"""A fake pynvml module: GPUs described as data, the same calls the real library answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

GIB = 1024**3


class NVMLError(Exception):
    """Stands in for pynvml.NVMLError."""


@dataclass
class FakeDevice:
    name: str
    uuid: str
    total: int
    used: int
    cc: tuple[int, int]
    processes: list = field(default_factory=list)
    mig: list["FakeDevice"] = field(default_factory=list)
    v2: bool = True


class FakeNvml:
    """Answers the NVML calls engine.hardware makes."""

    NVML_DEVICE_MIG_ENABLE = 1
    nvmlMemory_v2 = 0x02000028
    NVMLError = NVMLError

    def __init__(self, devices: list[FakeDevice], fail_init: bool = False):
        self.devices = devices
        self.fail_init = fail_init
        self.initialised = False

    def nvmlInit(self):
        if self.fail_init:
            raise NVMLError("NVML Shared Library Not Found")
        self.initialised = True

    def nvmlShutdown(self):
        self.initialised = False

    def nvmlDeviceGetCount(self):
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index):
        return self.devices[index]

    def nvmlDeviceGetName(self, handle):
        return handle.name

    def nvmlDeviceGetUUID(self, handle):
        return handle.uuid

    def nvmlDeviceGetMemoryInfo(self, handle, version=None):
        if version and not handle.v2:
            raise NVMLError("Function Not Found")
        info = SimpleNamespace(total=handle.total, used=handle.used, free=handle.total - handle.used)
        if version:
            info.reserved = 300 * 2**20
        return info

    def nvmlDeviceGetCudaComputeCapability(self, handle):
        if handle.cc is None:
            raise NVMLError("Not Supported")  # MIG instance handles do not answer this
        return handle.cc

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in handle.processes]

    def nvmlSystemGetProcessName(self, pid):
        return f"python{pid}"

    def nvmlSystemGetDriverVersion(self):
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self):
        return 12040

    def nvmlDeviceGetMigMode(self, handle):
        return (1, 1) if handle.mig else (0, 0)

    def nvmlDeviceGetMaxMigDeviceCount(self, handle):
        return 7 if handle.mig else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle, index):
        if index >= len(handle.mig):
            raise NVMLError("Not Found")
        return handle.mig[index]


def t4(uuid="GPU-t4-0000"):
    return FakeDevice("Tesla T4", uuid, 15 * GIB, 1 * GIB, (7, 5), processes=[(4242, 1 * GIB)], v2=False)


def a100(uuid="GPU-a100-1111"):
    return FakeDevice("NVIDIA A100-SXM4-80GB", uuid, 80 * GIB, 2 * GIB, (8, 0))
