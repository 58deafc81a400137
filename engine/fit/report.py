"""Text reports for the terminal: the hardware report and the memory estimate."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.machine.precision import decide_precision
from engine.units import gib

if TYPE_CHECKING:
    from engine.fit.verdicts import FitReport
    from engine.machine.hardware import HardwareReport


def format_hardware(report: "HardwareReport") -> str:
    """The `gpus` report: one block per GPU, or the CPU-mode report."""
    lines = []
    if not report.gpus:
        lines.append(f"CPU mode: no NVIDIA GPU ({report.nvml_error or 'none found'}).")
        lines.append(f"  {report.cpu_count} CPU cores, {gib(report.ram_total_bytes)} RAM ({gib(report.ram_available_bytes)} available)")
        lines.append("  Training runs on the CPU in fp32: fine for tiny-demo, slow for real models.")
    else:
        lines.append(f"NVIDIA driver {report.driver_version}, CUDA {report.cuda_driver_version}"
                     + (f", CUDA_VISIBLE_DEVICES={report.cuda_visible_devices}" if report.cuda_visible_devices is not None else ""))
        for gpu in report.gpus:
            for device in gpu.mig_instances or [gpu]:
                cuda = f"cuda:{device.cuda_index}" if device.cuda_index is not None else "not visible"
                cc = ".".join(map(str, device.compute_capability))
                mig = f" (MIG instance of GPU {gpu.nvml_index})" if device.mig_parent_uuid else ""
                lines.append(f"GPU {device.nvml_index} [{cuda}] {device.name}{mig}  {device.uuid}")
                lines.append(f"  memory: {gib(device.used_bytes)} used / {gib(device.total_bytes)} total, "
                             f"{gib(device.free_bytes)} free"
                             + (f" ({gib(device.reserved_bytes)} reserved by the driver)" if device.reserved_bytes else ""))
                lines.append(f"  compute capability {cc}, bf16 {'yes' if device.bf16 else 'no'}")
                for proc in device.processes:
                    used = gib(proc.used_bytes) if proc.used_bytes is not None else "?"
                    lines.append(f"  process {proc.pid} {proc.name}: {used}")
    decision = decide_precision(report.training_gpu)
    lines.append(f"precision auto: {decision.mixed if decision.mixed != 'no' else decision.dtype}"
                 f"{', TF32 on' if decision.tf32 else ''} — {decision.reason}")
    return "\n".join(lines)


def format_fit(report: "FitReport", title: str) -> str:
    """The `estimate` report: total, breakdown, verdicts and recommendations."""
    estimate = report.estimate
    inputs = estimate.inputs
    per_gpu = f" per GPU of {inputs.processes} ({inputs.strategy})" if inputs and inputs.processes > 1 else ""
    lines = [f"{title}: predicted peak {gib(estimate.total_bytes)}{per_gpu} (NVML view), "
             f"{estimate.trainable_params:,} trainable parameters"]
    if inputs and inputs.assumes:
        lines.append(f"  assumes {inputs.assumes}")
    for name, value in estimate.breakdown.items():
        lines.append(f"  {name.replace('_', ' '):<20} {gib(value):>11}")
    for note in estimate.notes:
        lines.append(f"  note: {note}")
    for verdict in report.verdicts:
        lines.append(f"{verdict.target.name}: {verdict.status} "
                     f"({gib(abs(verdict.headroom_bytes))} {'spare' if verdict.headroom_bytes >= 0 else 'short'} "
                     f"of {gib(verdict.target.capacity_bytes)})")
    if report.recommendations:
        lines.append("recommendations:")
        for rec in report.recommendations:
            lines.append(f"  - {rec.description}: {gib(rec.total_bytes)}  ({' '.join('--set ' + o for o in rec.overrides)})")
    return "\n".join(lines)
