"""Which attention implementations really load for a model on this machine, fastest first.

Each candidate is tried the way training loads it (`attn_implementation=` at model construction),
on torch's meta device so no memory is allocated and no weights are read: transformers itself then
refuses what the model, the installed packages or the device cannot run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config.run_config import ModelSection

FASTEST_FIRST = ("flash_attention_3", "flash_attention_2", "sdpa", "eager")
"""Hub kernels (kernels-community/...) need the Hub, so they are not probed offline."""
VARLEN = ("flash_attention_3", "flash_attention_2")
"""Implementations with a variable-length kernel: packed rows attend only within themselves, at no extra cost."""


def loadable_attention(model: "ModelSection", on_cuda: bool) -> list[str]:
    """The implementations of FASTEST_FIRST that load for this model here (flash kernels only on CUDA)."""
    import torch
    from transformers import AutoModelForCausalLM

    from engine.models.structure import hf_config

    config = hf_config(model)
    dtype = torch.bfloat16 if on_cuda else torch.float32
    found = []
    for name in FASTEST_FIRST:
        if name in VARLEN and not on_cuda:
            continue
        try:
            with torch.device("meta"):
                AutoModelForCausalLM.from_config(config, attn_implementation=name, dtype=dtype,
                                                 trust_remote_code=model.trust_remote_code)
        except (ValueError, ImportError, RuntimeError):
            continue
        found.append(name)
    return found
