"""Finding and loading models and tokenizers, including the built-in `tiny-demo`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TypedDict

from engine.config.rules import torch_dtype_names
from engine.errors import UserError
from engine.models.hub import _local_only, _offline_error, model_location

if TYPE_CHECKING:
    import torch
    from transformers import BitsAndBytesConfig, PreTrainedModel

    from engine.config.run_config import ModelSection
    from engine.machine.precision import PrecisionDecision
    from engine.models.kernels import KernelsDecision


class LoadKwargs(TypedDict, total=False):
    """The keyword arguments sft-wizard gives from_pretrained (and from_config) for a run's model."""

    dtype: "torch.dtype"
    trust_remote_code: bool
    attn_implementation: str
    quantization_config: "BitsAndBytesConfig"
    device_map: dict[str, int | str]
    use_kernels: bool


def torch_dtype(name: str, key: str = "dtype") -> "torch.dtype":
    """The torch dtype a name such as bfloat16 or uint8 stands for; UserError naming `key` for any other name."""
    import torch

    dtype = getattr(torch, name, None) if isinstance(name, str) else None
    if isinstance(dtype, torch.dtype):
        return dtype
    raise UserError(f"{key} = {name!r} is not a torch dtype; use one of: {', '.join(torch_dtype_names())}.")


def quantization_config(quantization: dict | None, precision: "PrecisionDecision") -> "BitsAndBytesConfig | None":
    """The BitsAndBytesConfig for a preset's quantization section (compute dtype from precision)."""
    if not quantization:
        return None
    from transformers import BitsAndBytesConfig

    kwargs = dict(quantization)
    for key in ("bnb_4bit_compute_dtype", "bnb_4bit_quant_storage"):
        if isinstance(kwargs.get(key), str):
            kwargs[key] = torch_dtype(kwargs[key], f"quantization.{key}")
    if kwargs.get("load_in_4bit") and kwargs.get("bnb_4bit_compute_dtype") is None:
        kwargs["bnb_4bit_compute_dtype"] = torch_dtype(precision.dtype)
    return BitsAndBytesConfig(**kwargs)


def load_model(model: "ModelSection", precision: "PrecisionDecision", quantization: dict | None,
               random_init: bool = False, kernels: "KernelsDecision | None" = None) -> "PreTrainedModel":
    """Load the causal LM with the decided dtype (or random weights from its config), with Hub kernels as decided.

    `kernels` is the run's decision; without one it is decided here for training (UserError when `true` cannot be met).
    """
    from transformers import AutoModelForCausalLM

    from engine.models.kernels import decide_model_kernels

    use_kernels = (kernels or decide_model_kernels(model)).enabled
    dtype = torch_dtype(precision.dtype)
    kwargs: LoadKwargs = {"dtype": dtype, "trust_remote_code": model.trust_remote_code}
    if model.attn_implementation:
        kwargs["attn_implementation"] = model.attn_implementation
    if random_init:
        from engine.models.structure import hf_config

        built = AutoModelForCausalLM.from_config(hf_config(model), **kwargs)
        if use_kernels:  # from_config leaves kernels off
            built.set_use_kernels(True)
        return built
    bnb = quantization_config(quantization, precision)
    if bnb is not None:
        kwargs["quantization_config"] = bnb
        if not sharded_loading():  # FSDP and ZeRO-3 place the shards themselves
            kwargs["device_map"] = {"": quantized_device()}
    location = model_location(model)
    try:
        return AutoModelForCausalLM.from_pretrained(location, revision=model.revision, local_files_only=_local_only(location),
                                                    use_kernels=use_kernels, **kwargs)
    except OSError as exc:
        raise _offline_error(model.name_or_path, "weights", exc) from None


def quantized_device() -> int | str:
    """Where a bitsandbytes model loads: this process's own CUDA device (each rank's, under accelerate), else the CPU."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    local_rank = os.environ.get("LOCAL_RANK")
    return int(local_rank) if local_rank is not None else torch.cuda.current_device()


def sharded_loading() -> bool:
    """Whether this rank loads for FSDP (CPU-RAM-efficient) or DeepSpeed ZeRO-3, as accelerate launched it."""
    from transformers.distributed.fsdp import is_fsdp_enabled
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    return is_fsdp_enabled() or is_deepspeed_zero3_enabled()
