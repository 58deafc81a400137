"""Whether a model loads with Hub kernels here: engine.models.kernel_rule applied to a preset's model section."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.config.run_config import KERNEL_CHOICES
from engine.errors import UserError
from engine.models.kernel_rule import (
    KernelFacts,
    KernelsDecision,
    KernelsUnavailable,
    decide_kernels,
    kernel_facts,
    training_device,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from engine.config.run_config import ModelSection
    from engine.yamlio import YamlValue

__all__ = ["KernelsDecision", "decide_model_kernels", "model_kernel_facts", "normalized_choice"]


def normalized_choice(value: "YamlValue") -> str:
    """auto, true or false from a preset value (YAML reads true/false as booleans); UserError for anything else."""
    text = str(value).lower() if isinstance(value, (bool, str)) else None
    if text in KERNEL_CHOICES:
        return text
    raise UserError(f"model.use_kernels = {value!r} is not one of: auto, true, false. "
                    "auto uses Hub kernels only where they are cached or can be downloaded from a trusted publisher.")


def model_kernel_facts(model: "ModelSection", training: bool = True, device: str | None = None) -> KernelFacts:
    """The kernel facts for a preset's model on this machine (the model is built on the meta device from its config)."""
    from engine.models.hub import hub_offline, hub_unreachable

    def meta_model() -> "PreTrainedModel":
        import torch
        from transformers import AutoModelForCausalLM

        from engine.models.structure import hf_config

        config = hf_config(model)  # outside the meta device: it may build tiny-demo, whose weights are real
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(config, trust_remote_code=model.trust_remote_code)

    return kernel_facts(normalized_choice(model.use_kernels), device or training_device(), training, meta_model,
                        hub_offline(), lambda: not hub_unreachable())


def decide_model_kernels(model: "ModelSection", training: bool = True, device: str | None = None) -> KernelsDecision:
    """The kernels decision for a preset's model on this machine; UserError when `true` cannot be met."""
    try:
        return decide_kernels(model_kernel_facts(model, training, device))
    except KernelsUnavailable as exc:
        raise UserError(str(exc)) from None
