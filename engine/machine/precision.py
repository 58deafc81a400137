"""The precision a run uses on a device: bf16 with TF32 from Ampere, fp16 before, fp32 on CPU."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.machine.hardware import Gpu


@dataclass
class PrecisionDecision:
    """The dtype and mixed precision a run uses on a device, with the reason."""

    dtype: str
    """Model weights dtype: bfloat16, float16 or float32."""
    mixed: str
    """Mixed precision for SFTConfig: bf16, fp16 or no."""
    tf32: bool
    reason: str

    def summary(self, on_gpu: bool) -> str:
        """The decision in the words every view states: weights, mixed precision, and TF32 or the CPU.

        On a CPU, accelerate autocasts to bf16 (transformers allows bf16 with use_cpu); it never autocasts fp16 there.
        """
        text = f"weights {self.dtype}, " + (f"mixed precision {self.mixed}" if self.mixed != "no" else "no mixed precision")
        if on_gpu:
            return text + (", TF32 on" if self.tf32 else "")
        return text + (", bf16 autocast on the CPU" if self.mixed == "bf16" else ", on the CPU")


def decide_precision(gpu: "Gpu | None") -> PrecisionDecision:
    """bf16 from compute capability 8.0, fp16 on older CUDA GPUs, fp32 on CPU; TF32 from Ampere."""
    if gpu is None:
        return PrecisionDecision("float32", "no", False, "no CUDA GPU: fp32 on the CPU")
    cc = ".".join(map(str, gpu.compute_capability))
    if gpu.bf16:
        return PrecisionDecision("bfloat16", "bf16", True,
                                 f"{gpu.name} has compute capability {cc} (>= 8.0): native bf16, TF32 matmuls on")
    return PrecisionDecision("float16", "fp16", False,
                             f"{gpu.name} has compute capability {cc} (< 8.0): no native bf16, so fp16 with loss scaling")


def dtype_and_mixed(gpu_has_bf16: bool | None, asked_mixed: str | None, asked_dtype: str,
                    full_fine_tuning: bool) -> tuple[str, str]:
    """The weights dtype and the mixed precision: the device's choice, overridden by what the preset asks.

    gpu_has_bf16 is None on a CPU. sft-wizard's decision and the scripts export-script writes both
    run this function (the scripts decide on the machine they run on).
    """
    if gpu_has_bf16 is None:
        dtype, mixed = "float32", "no"
    else:
        dtype, mixed = ("bfloat16", "bf16") if gpu_has_bf16 else ("float16", "fp16")
    mixed = asked_mixed or mixed
    if asked_dtype != "auto":
        return asked_dtype, mixed
    if mixed == "fp16":  # fp16 AMP unscales fp32 gradients only: full fine-tuning keeps fp32 weights
        return ("float32" if full_fine_tuning else "float16"), mixed
    if mixed == "bf16":
        return "bfloat16", mixed
    return dtype, mixed
