"""What hardware this machine has, read through NVML without creating a CUDA context.

NVML lists GPUs in PCI bus order; sft-wizard runs CUDA in the same order
(CUDA_DEVICE_ORDER=PCI_BUS_ID) so that an index means the same GPU everywhere, and matches
CUDA_VISIBLE_DEVICES entries (indices or GPU-/MIG- UUIDs) by UUID.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable, TypeVar

from engine.machine.cpus import usable_cpu_count
from engine.machine.nvml_calls import pynvml_module

if TYPE_CHECKING:
    from engine.machine.nvml_calls import Nvml

T = TypeVar("T")

BF16_MIN_CAPABILITY = (8, 0)


@dataclass
class GpuProcess:
    """A process holding memory on a GPU (PIDs are host PIDs inside containers)."""

    pid: int
    name: str
    used_bytes: int | None


@dataclass
class Gpu:
    """One GPU, or one MIG instance of a GPU, as NVML reports it."""

    nvml_index: int
    name: str
    uuid: str
    total_bytes: int
    free_bytes: int
    used_bytes: int
    reserved_bytes: int | None
    """Memory the driver reserves, reported apart from `used` by NVML's v2 memory info."""
    compute_capability: tuple[int, int]
    processes: list[GpuProcess] = field(default_factory=list)
    mig_parent_uuid: str | None = None
    mig_instances: list["Gpu"] = field(default_factory=list)
    cuda_index: int | None = None
    """Index under which CUDA in this process sees it, or None when not visible."""

    @property
    def bf16(self) -> bool:
        """Whether the GPU computes in bf16 natively (compute capability 8.0 or newer)."""
        return tuple(self.compute_capability) >= BF16_MIN_CAPABILITY


@dataclass
class HardwareReport:
    """The GPUs (or none) and the CPU side of this machine."""

    gpus: list[Gpu]
    driver_version: str | None
    cuda_driver_version: str | None
    cpu_count: int
    ram_total_bytes: int
    ram_available_bytes: int
    nvml_error: str | None = None
    cuda_visible_devices: str | None = None

    @property
    def visible_gpus(self) -> list[Gpu]:
        """The devices CUDA will use, in CUDA order (MIG instances in place of their parent)."""
        devices = [d for d in _devices(self.gpus) if d.cuda_index is not None]
        return sorted(devices, key=lambda d: d.cuda_index)

    @property
    def training_gpu(self) -> Gpu | None:
        """The device training runs on (CUDA device 0), or None on a CPU-only machine."""
        visible = self.visible_gpus
        return visible[0] if visible else None

    def to_dict(self) -> dict[str, object]:
        """Plain data for `gpus --json`."""
        return asdict(self)


def _devices(gpus: list[Gpu]) -> list[Gpu]:
    out = []
    for gpu in gpus:
        out.extend(gpu.mig_instances or [gpu])
    return out


def hardware_report(nvml: Nvml | None = None) -> HardwareReport:
    """Read the GPUs through NVML (a fake module in tests); a CPU-only report when there is none."""
    cpu_count, ram_total, ram_available = _cpu_and_ram()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if nvml is None:
        try:
            nvml = pynvml_module()
        except ImportError:
            return HardwareReport([], None, None, cpu_count, ram_total, ram_available,
                                  "nvidia-ml-py is not installed", visible)
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return HardwareReport([], None, None, cpu_count, ram_total, ram_available,
                              f"no NVIDIA driver: {exc}", visible)
    try:
        gpus = [_read_gpu(nvml, i) for i in range(nvml.nvmlDeviceGetCount())]
        driver = _text(_safe(nvml.nvmlSystemGetDriverVersion))
        cuda_raw = _safe(nvml.nvmlSystemGetCudaDriverVersion)
        cuda = f"{cuda_raw // 1000}.{cuda_raw % 1000 // 10}" if isinstance(cuda_raw, int) else None
    finally:
        _safe(nvml.nvmlShutdown)
    _assign_cuda_indices(gpus, visible)
    return HardwareReport(gpus, driver, cuda, cpu_count, ram_total, ram_available, None, visible)


def _read_gpu(nvml: Nvml, index: int, handle: object = None, parent_uuid: str | None = None) -> Gpu:
    handle = handle if handle is not None else nvml.nvmlDeviceGetHandleByIndex(index)
    total, free, used, reserved = _memory(nvml, handle)
    cc = _safe(nvml.nvmlDeviceGetCudaComputeCapability, handle) or (0, 0)
    gpu = Gpu(
        nvml_index=index,
        name=_text(nvml.nvmlDeviceGetName(handle)),
        uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
        total_bytes=total, free_bytes=free, used_bytes=used, reserved_bytes=reserved,
        compute_capability=(int(cc[0]), int(cc[1])),
        processes=_processes(nvml, handle),
        mig_parent_uuid=parent_uuid,
    )
    if parent_uuid is None:
        gpu.mig_instances = _mig_instances(nvml, handle, index, gpu)
    return gpu


def _memory(nvml: Nvml, handle: object) -> tuple[int, int, int, int | None]:
    version = getattr(nvml, "nvmlMemory_v2", None)
    if version is not None:
        try:
            info = nvml.nvmlDeviceGetMemoryInfo(handle, version=version)
            return int(info.total), int(info.free), int(info.used), int(getattr(info, "reserved", 0))
        except Exception:  # an older driver without the v2 call
            pass
    info = nvml.nvmlDeviceGetMemoryInfo(handle)
    return int(info.total), int(info.free), int(info.used), None


def _processes(nvml: Nvml, handle: object) -> list[GpuProcess]:
    out = []
    for proc in _safe(nvml.nvmlDeviceGetComputeRunningProcesses, handle) or []:
        name = _safe(nvml.nvmlSystemGetProcessName, proc.pid)
        used = getattr(proc, "usedGpuMemory", None)
        out.append(GpuProcess(int(proc.pid), _text(name) if name else "?", int(used) if isinstance(used, int) else None))
    return out


def _mig_instances(nvml: Nvml, handle: object, index: int, parent: Gpu) -> list[Gpu]:
    mode = _safe(nvml.nvmlDeviceGetMigMode, handle)
    if not mode or mode[0] != getattr(nvml, "NVML_DEVICE_MIG_ENABLE", 1):
        return []
    instances = []
    for slot in range(_safe(nvml.nvmlDeviceGetMaxMigDeviceCount, handle) or 0):
        mig_handle = _safe(nvml.nvmlDeviceGetMigDeviceHandleByIndex, handle, slot)
        if mig_handle is None:
            continue
        instance = _read_gpu(nvml, index, mig_handle, parent_uuid=parent.uuid)
        instance.compute_capability = parent.compute_capability
        instances.append(instance)
    return instances


def _assign_cuda_indices(gpus: list[Gpu], visible: str | None) -> None:
    devices = _devices(gpus)
    if visible is None:
        for cuda_index, device in enumerate(devices):
            device.cuda_index = cuda_index
        return
    by_uuid = {d.uuid: d for d in devices}
    by_parent_index = {g.nvml_index: (g.mig_instances or [g]) for g in gpus}
    cuda_index = 0
    for entry in (e.strip() for e in visible.split(",")):
        if not entry:
            continue
        if entry.isdigit():
            matches = by_parent_index.get(int(entry), [])
        else:
            matches = [d for u, d in by_uuid.items() if u == entry or (entry.startswith(("GPU-", "MIG-")) and u.startswith(entry))]
            matches = matches[:1]
        if not matches:
            break  # CUDA ignores every entry after an invalid one
        for device in matches:
            if device.cuda_index is None:
                device.cuda_index = cuda_index
                cuda_index += 1


def _cpu_and_ram() -> tuple[int, int, int]:
    total = available = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
        total = int(fields["MemTotal"].split()[0]) * 1024
        available = int(fields.get("MemAvailable", fields["MemFree"]).split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        pass
    return usable_cpu_count(), total, available


def _safe(function: Callable[..., T], *args: object) -> T | None:
    try:
        return function(*args)
    except Exception:  # NVML calls a driver or GPU may not support
        return None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
