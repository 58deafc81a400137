"""Names from older tutorials and tools, mapped to what current TRL and transformers call them.

This is a table of renames, not of hyperparameters: each entry says where an old name went.
"""

from __future__ import annotations

# (section, old name) -> (section, new name); new section None means the setting is gone.
RENAMED: dict[tuple[str, str], tuple[str | None, str]] = {
    ("training", "evaluation_strategy"): ("training", "eval_strategy"),
    ("training", "max_seq_length"): ("training", "max_length"),
    ("training", "warmup_ratio"): ("training", "warmup_steps"),
    ("training", "per_gpu_train_batch_size"): ("training", "per_device_train_batch_size"),
    ("training", "per_gpu_eval_batch_size"): ("training", "per_device_eval_batch_size"),
    ("training", "no_cuda"): ("training", "use_cpu"),
    ("training", "push_to_hub_model_id"): ("training", "hub_model_id"),
    ("training", "dataset_text_field"): ("dataset", "columns.text"),
    ("training", "gradient_checkpointing"): ("training", "activation_checkpointing"),
    ("training", "gradient_checkpointing_kwargs"): ("training", "activation_checkpointing_kwargs"),
    ("training", "torch_dtype"): ("model", "dtype"),
    ("model", "torch_dtype"): ("model", "dtype"),
    ("lora", "lora_r"): ("lora", "r"),
    ("lora", "lora_target_modules"): ("lora", "target_modules"),
}

# Settings current libraries dropped, with what to do instead.
REMOVED: dict[tuple[str, str], str] = {
    ("training", "tokenizer"): "SFTTrainer takes `processing_class` now; sft-wizard loads the tokenizer from model.name_or_path",
    ("training", "processing_class"): "sft-wizard loads the tokenizer from model.name_or_path",
    ("training", "overwrite_output_dir"): "transformers 5 removed it; sft-wizard refuses to start a new run over a finished one unless you resume",
    ("training", "logging_dir"): "transformers 5 removed it; logs go to output_dir",
    ("training", "include_tokens_per_second"): "sft-wizard always reports tokens per second",
    ("training", "save_safetensors"): "transformers 5 always saves safetensors",
    ("training", "group_by_length"): "transformers 5 removed it",
    ("training", "fp16_backend"): "transformers 5 removed it",
    ("training", "half_precision_backend"): "transformers 5 removed it",
    ("model", "use_flash_attention_2"): "use model.attn_implementation: flash_attention_2",
}

# Old values of renamed settings whose meaning moved too.
_DTYPE_ALIASES = {"torch.bfloat16": "bfloat16", "torch.float16": "float16", "torch.float32": "float32",
                  "bf16": "bfloat16", "fp16": "float16", "fp32": "float32", "half": "float16", "float": "float32"}


def apply_legacy_names(raw: dict, warnings: list[str]) -> None:
    """Rename old keys in raw preset data in place, appending one warning per rename."""
    for (section, old), (new_section, new) in RENAMED.items():
        values = raw.get(section)
        if not isinstance(values, dict) or old not in values:
            continue
        value = values.pop(old)
        if new == "columns.text" and value == "text":
            warnings.append(f"{section}.{old} = 'text' is the default text column already; ignored.")
            continue
        target_section = raw.setdefault(new_section, {}) if new_section else None
        if target_section is None or not isinstance(target_section, dict):
            continue
        node, leaf = _descend(target_section, new)
        if leaf in node:
            warnings.append(f"{section}.{old} is the old name of {new_section}.{new}, which is also set; "
                            f"kept {new_section}.{new} = {node[leaf]!r} and ignored {old}.")
            continue
        node[leaf] = value
        warnings.append(f"{section}.{old} is now {new_section}.{new} (current TRL/transformers); "
                        f"read as {new_section}.{new} = {value!r}.")
    for (section, old), advice in REMOVED.items():
        values = raw.get(section)
        if isinstance(values, dict) and old in values:
            if section == "model" and old == "use_flash_attention_2" and values[old]:
                values.setdefault("attn_implementation", "flash_attention_2")
            values.pop(old)
            warnings.append(f"{section}.{old} is no longer a setting ({advice}); ignored.")
    model = raw.get("model")
    if isinstance(model, dict) and isinstance(model.get("dtype"), str) and model["dtype"] in _DTYPE_ALIASES:
        model["dtype"] = _DTYPE_ALIASES[model["dtype"]]
    quantization = raw.get("quantization")
    if isinstance(quantization, dict):
        for key in ("bnb_4bit_compute_dtype", "bnb_4bit_quant_storage"):
            if isinstance(quantization.get(key), str) and quantization[key] in _DTYPE_ALIASES:
                quantization[key] = _DTYPE_ALIASES[quantization[key]]


def _descend(section: dict, dotted: str) -> tuple[dict, str]:
    *parents, leaf = dotted.split(".")
    node = section
    for key in parents:
        node = node.setdefault(key, {})
    return node, leaf
