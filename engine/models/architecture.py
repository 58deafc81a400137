"""A model's structure from its config alone: parameter counts and Linear module shapes.

The model is built on torch's meta device, so no memory is allocated and no weights are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.errors import UserError

if TYPE_CHECKING:
    from transformers import PretrainedConfig


@dataclass
class LinearGroup:
    """All Linear layers sharing one name suffix (q_proj, down_proj, ...)."""

    name: str
    in_features: int
    out_features: int
    count: int
    params: int


@dataclass
class ModelStructure:
    """What the memory estimate and the LoRA checks need to know about a model."""

    model_type: str
    total_params: int
    linear: dict[str, LinearGroup]
    """Linear layers by suffix, lm_head included."""
    embedding_params: int
    lm_head_params: int
    tied_embeddings: bool
    other_params: int
    """Parameters in neither Linear layers nor embeddings: norms, biases of other layers."""
    num_layers: int
    hidden_size: int
    intermediate_size: int
    vocab_size: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    max_positions: int | None
    num_experts: int = 0
    experts_per_token: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def lora_candidates(self) -> list[str]:
        """Linear module names LoRA can target ("all-linear" means these)."""
        return [name for name in self.linear if name != "lm_head"]


def structure_from_config(model_config: "PretrainedConfig") -> ModelStructure:
    """Build the model on the meta device and measure its parts."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(model_config)
    except (ValueError, KeyError) as exc:
        raise UserError(f"model type {getattr(model_config, 'model_type', '?')!r} is not a causal LM that "
                        f"transformers can build: {exc}") from None
    text = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
    linear: dict[str, LinearGroup] = {}
    linear_ids = set()
    embedding_params = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            suffix = name.rsplit(".", 1)[-1]
            params = module.weight.numel() + (module.bias.numel() if module.bias is not None else 0)
            group = linear.get(suffix)
            if group is None:
                linear[suffix] = LinearGroup(suffix, module.in_features, module.out_features, 1, params)
            else:
                group.count += 1
                group.params += params
            linear_ids.update(id(p) for p in module.parameters(recurse=False))
        elif isinstance(module, torch.nn.Embedding):
            embedding_params += module.weight.numel()
            linear_ids.add(id(module.weight))
    unique = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in unique.values())
    other = sum(p.numel() for i, p in unique.items() if i not in linear_ids)
    tied = bool(getattr(text, "tie_word_embeddings", False)) and "lm_head" in linear
    lm_head = linear["lm_head"].params if "lm_head" in linear else 0
    heads = int(getattr(text, "num_attention_heads", 0) or 0)
    hidden = int(getattr(text, "hidden_size", 0) or 0)
    return ModelStructure(
        model_type=str(getattr(model_config, "model_type", "?")),
        total_params=total, linear=linear, embedding_params=embedding_params, lm_head_params=lm_head,
        tied_embeddings=tied, other_params=other,
        num_layers=int(getattr(text, "num_hidden_layers", 0) or 0), hidden_size=hidden,
        intermediate_size=int(getattr(text, "intermediate_size", 0) or 0),
        vocab_size=int(getattr(text, "vocab_size", 0) or 0), num_heads=heads,
        num_kv_heads=int(getattr(text, "num_key_value_heads", None) or heads),
        head_dim=int(getattr(text, "head_dim", None) or (hidden // heads if heads else 0)),
        max_positions=getattr(text, "max_position_embeddings", None),
        num_experts=int(getattr(text, "num_local_experts", None) or getattr(text, "num_experts", None) or 0),
        experts_per_token=int(getattr(text, "num_experts_per_tok", None) or 0),
    )


def lora_targets(structure: ModelStructure, target_modules: str | list[str] | None) -> list[str]:
    """The Linear suffixes a LoRA target_modules value selects; UserError naming the valid ones."""
    candidates = structure.lora_candidates
    if target_modules in (None, "all-linear"):
        return candidates
    if isinstance(target_modules, str):
        import re

        chosen = [name for name in candidates if re.fullmatch(target_modules, name) or re.search(target_modules, name)]
        if not chosen:
            raise UserError(f"lora.target_modules = {target_modules!r} matches no Linear module of this model; "
                            f"its Linear modules are: {', '.join(candidates)} (or use all-linear).")
        return chosen
    missing = [name for name in target_modules if name not in structure.linear]
    if missing:
        raise UserError(f"lora.target_modules names {', '.join(missing)}, which this {structure.model_type} model does "
                        f"not have; its Linear modules are: {', '.join(candidates)} (or use all-linear).")
    return [name for name in target_modules]
