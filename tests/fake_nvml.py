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


class FakeCudaDriver:
    """torch.cuda's driver answers on a machine whose GPUs are `uuids`; training itself stays on the CPU.

    Like cudaGetDeviceCount, the first is_available() starts the driver, which reads
    CUDA_VISIBLE_DEVICES once: `visible` is what it saw. device_count() then answers from it, as
    CUDA does once started; TrainingArguments.n_gpu is that count (TRL refuses more than one).
    """

    def __init__(self, uuids: list[str]):
        self.uuids = uuids
        self.visible: list[str] | None = None

    def _entries(self) -> list[str]:
        import os

        env = os.environ.get("CUDA_VISIBLE_DEVICES")
        return list(self.uuids) if env is None else [e for e in env.split(",") if e.strip()]

    def is_available(self) -> bool:
        if self.visible is None:
            self.visible = self._entries()
        return False

    def device_count(self) -> int:
        return len(self.visible if self.visible is not None else self._entries())

    def install(self, torch) -> "FakeCudaDriver":
        torch.cuda.is_available, torch.cuda.device_count = self.is_available, self.device_count
        return self
