"""What LLaMA-Factory, Axolotl and TRL themselves do with one of their configs: its kind, and the settings it trains with.

Written from each tool's own code and docs (LLaMA-Factory's hparams and data loader, Axolotl's config schema and
trainer builder, TRL's ModelConfig/ScriptArguments/DatasetMixtureConfig), apart from sft-wizard's importers, so
that benchmarks/import_examples.py can hold an imported preset against it. A setting is (label, words that flag
it, where in the preset, the value the source tool trains with); UNSUPPORTED where no preset value can be the
same, which the import must flag; keys that do not change what is trained are left out (NO_EFFECT).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SFT, NOT_SFT, NO_TRAINING, V1 = "SFT", "not SFT", "trains nothing", "LLaMA-Factory v1"
UNSUPPORTED = object()
"""A source setting no preset value reproduces: right only if the import flags it."""
RENAMES = {"warmup_ratio": "warmup_steps", "gradient_checkpointing": "activation_checkpointing",
           "evaluation_strategy": "eval_strategy", "gradient_checkpointing_kwargs": "activation_checkpointing_kwargs"}
"""TrainingArguments names transformers 5 changed (warmup_steps takes a ratio below 1)."""
NO_EFFECT = {
    "llama-factory": {"stage", "do_train", "report_to", "plot_loss", "overwrite_cache", "overwrite_output_dir",
                      "tokenized_path", "run_name", "ddp_timeout", "dataloader_num_workers", "save_steps",
                      "save_only_model", "logging_steps", "dataset_dir"},
    "axolotl": {"dataset_prepared_path", "strict", "debug", "wandb_project", "wandb_entity", "wandb_watch", "wandb_name",
                "wandb_log_model", "use_wandb", "use_tensorboard", "evals_per_epoch", "saves_per_epoch",
                "eval_sample_packing", "pad_to_sequence_len", "model_type", "tokenizer_type", "logging_steps",
                "save_steps", "save_strategy", "save_total_limit", "save_only_model", "eval_steps", "eval_strategy",
                "hub_model_id", "output_dir", "push_dataset_to_hub", "eval_table_size", "eval_max_new_tokens",
                "loss_watchdog_threshold", "loss_watchdog_patience", "tokenizer_use_fast", "hf_use_auth_token",
                "liger_rms_norm", "liger_glu_activation", "liger_layer_norm", "liger_rope",
                "liger_fused_linear_cross_entropy", "liger_rms_norm_gated", "cut_cross_entropy", "lora_mlp_kernel",
                "lora_qkv_kernel", "lora_o_kernel", "flash_attn_cross_entropy", "flash_attn_rms_norm",
                "flash_attn_fuse_mlp", "use_kernels", "torch_compile", "torch_compile_mode", "dataloader_num_workers",
                "dataloader_pin_memory", "dataloader_prefetch_factor", "use_otel_metrics", "otel_metrics_host",
                "otel_metrics_port", "swanlab_project", "swanlab_experiment_name", "swanlab_description",
                "swanlab_mode", "swanlab_log_completions", "use_swanlab"},
    "trl": {"report_to", "logging_steps", "save_steps", "save_strategy", "output_dir", "accelerate_config"},
}
"""Keys that say where and when a tool logs, saves or caches, or which kernels it uses: not what is trained."""
COVERED = {"llama-factory": {"dataset", "eval_dataset", "max_samples", "interleave_probs", "quantization_method"},
           "axolotl": {"datasets", "test_datasets", "lora_target_modules", "lora_target_linear"},
           "trl": {"datasets", "dataset_config", "dataset_train_split"}}
"""Keys whose meaning the settings of other keys hold (each dataset's source, the LoRA target)."""
_OTHER_TRL_COMMANDS = ("dpo", "kto", "reward", "grpo", "rloo", "ppo", "orpo", "cpo", "bco", "gkd", "xpo", "prm",
                       "online_dpo", "nash_md")
"""`trl` commands other than sft, as TRL's docs name their config files (dpo_config.yaml)."""
_SPEED_PLUGINS = ("liger", "cut_cross_entropy")
"""Axolotl plugins whose kernels compute the same loss faster."""


class Source(dict):
    """The keys a dataset source must have in the preset: path, data_files, subset, split, share …"""


@dataclass
class Setting:
    """One setting of the source config and what the source tool trains with."""

    label: str
    flag_words: tuple[str, ...]
    where: str
    """training.max_length, lora.r, model.name_or_path, lora (None or not), sources, eval_sources …"""
    expected: object


def kind(tool: str, config: dict, name: str = "") -> str:
    """SFT, not SFT, trains nothing, or LLaMA-Factory v1: what the source tool does with the file."""
    if tool == "llama-factory":
        if "model" in config and "model_name_or_path" not in config:
            return V1
        if "model_name_or_path" not in config or "export_dir" in config:
            return NO_TRAINING
        if not config.get("do_train"):  # inference, predict and eval configs
            return NO_TRAINING
        return SFT if config.get("stage", "sft") == "sft" else NOT_SFT
    if tool == "axolotl":
        if "base_model" not in config:
            return NO_TRAINING
        plugins = [str(plugin) for plugin in config.get("plugins") or []]
        if (config.get("rl") or config.get("reward_model") or config.get("process_reward_model")
                or config.get("pretraining_dataset") or any("Diffusion" in plugin for plugin in plugins)):
            return NOT_SFT
        return SFT
    if "compute_environment" in config or "distributed_type" in config:  # an accelerate config
        return NO_TRAINING
    command = name.removesuffix(".yaml").removesuffix("_config")  # TRL's docs name each file for its command
    return NOT_SFT if command in _OTHER_TRL_COMMANDS or "reward_funcs" in config else SFT


def settings(tool: str, config: dict) -> list[Setting]:
    """Every setting of an SFT config that changes what is trained, and the tool's defaults that differ from TRL's."""
    config = {key: value for key, value in config.items() if value is not None}
    out = {"llama-factory": _llama_factory, "axolotl": _axolotl, "trl": _trl}[tool](config)
    handled = {word for setting in out for word in setting.flag_words}
    for key, value in config.items():
        if key in handled or key in NO_EFFECT[tool] or key in COVERED[tool]:
            continue
        if tool == "axolotl" and key == "plugins" and all(any(p in str(v) for p in _SPEED_PLUGINS) for v in value):
            continue
        where = RENAMES.get(key, key)
        out.append(Setting(key, (key,), f"training.{where}", value if _training_field(where) else UNSUPPORTED))
    return out


def _training_field(name: str) -> bool:
    from engine.config.schema import schema

    return name in schema()["training"]


def _s(label: str, where: str, expected: object, *more: str) -> Setting:
    return Setting(label, (label.removeprefix("(default) "), *more), where, expected)


def _llama_factory(config: dict) -> list[Setting]:
    out = [_s("model_name_or_path", "model.name_or_path", config["model_name_or_path"])]
    if "trust_remote_code" in config:
        out.append(_s("trust_remote_code", "model.trust_remote_code", config["trust_remote_code"]))
    method = config.get("finetuning_type", "lora")
    out.append(_s("finetuning_type", "lora", {"lora": True, "full": False}.get(method, UNSUPPORTED)))
    if method == "lora":
        rank = config.get("lora_rank", 8)
        target = config.get("lora_target", "all")
        for key, where, value in (("lora_rank", "lora.r", rank), ("lora_alpha", "lora.lora_alpha", config.get("lora_alpha", 2 * rank)),
                                  ("lora_dropout", "lora.lora_dropout", config.get("lora_dropout", 0.0)),
                                  ("lora_target", "lora.target_modules",
                                   "all-linear" if target == "all" else [t.strip() for t in str(target).split(",")])):
            out.append(_s(key if key in config else f"(default) {key}", where, value))
    bits = config.get("quantization_bit")
    if bits is not None:
        bnb = config.get("quantization_method", "bnb") == "bnb" and bits in (4, 8)
        out.append(_s("quantization_bit", f"quantization.load_in_{bits}bit", True if bnb else UNSUPPORTED,
                      "quantization_method"))
        if bnb and bits == 4:
            out.append(_s("double_quantization" if "double_quantization" in config else "(default) double_quantization",
                          "quantization.bnb_4bit_use_double_quant", config.get("double_quantization", True)))
    out.append(_s("cutoff_len" if "cutoff_len" in config else "(default) cutoff_len", "training.max_length",
                  config.get("cutoff_len", 2048)))
    out.append(_s("learning_rate" if "learning_rate" in config else "(default) learning_rate", "training.learning_rate",
                  float(config.get("learning_rate", 5e-5))))
    off = config.get("disable_gradient_checkpointing", False)
    out.append(_s("disable_gradient_checkpointing" if "disable_gradient_checkpointing" in config
                  else "(default) disable_gradient_checkpointing", "training.activation_checkpointing", not off))
    if "preprocessing_num_workers" in config:
        out.append(_s("preprocessing_num_workers", "training.dataset_num_proc", config["preprocessing_num_workers"]))
    attention = {"fa2": "flash_attention_2", "sdpa": "sdpa", "disabled": "eager", "auto": None}
    if "flash_attn" in config:
        out.append(_s("flash_attn", "model.attn_implementation", attention.get(config["flash_attn"], UNSUPPORTED)))
    if "val_size" in config:
        value = config["val_size"]
        out.append(_s("val_size", "dataset.eval_split", value if isinstance(value, float) and value < 1 else UNSUPPORTED))
    registry_dir = Path(config.get("dataset_dir", "data"))
    for key, where in (("dataset", "sources"), ("eval_dataset", "eval_sources")):
        names = [n.strip() for n in str(config.get(key, "")).split(",") if n.strip()]
        out += _llama_factory_sources(key, where, names, registry_dir, config)
    strategy = config.get("mix_strategy", "concat")
    if "mix_strategy" in config:
        out.append(_s("mix_strategy", "dataset.mix", {"concat": "concatenate", "interleave_under": "interleave",
                                                       "interleave_over": "interleave"}.get(strategy, UNSUPPORTED)))
    template = config.get("template")
    if template is not None:  # alpaca rows in a chat model's template, or LLaMA-Factory's alpaca with its system text
        formats = {source.get("formatting", "alpaca") for source in _registry_entries(config, registry_dir)}
        out.append(_s("template", "sources.template", "chat-template" if formats == {"sharegpt"} and template != "alpaca"
                      else UNSUPPORTED))
    for key in ("bf16", "fp16"):
        if key in config:
            out.append(_s(key, f"training.{key}", config[key]))
    return out


def _registry_entries(config: dict, registry_dir: Path) -> list[dict]:
    import json

    try:
        registry = json.loads((registry_dir / "dataset_info.json").read_text(encoding="utf-8"))
    except OSError:
        return []
    names = [n.strip() for key in ("dataset", "eval_dataset") for n in str(config.get(key, "")).split(",") if n.strip()]
    return [registry[name] for name in names if name in registry]


def _llama_factory_sources(key: str, where: str, names: list[str], registry_dir: Path, config: dict) -> list[Setting]:
    """Each named dataset as the source dataset_info.json gives, with max_samples and its interleave probability."""
    import json

    try:
        registry = json.loads((registry_dir / "dataset_info.json").read_text(encoding="utf-8"))
    except OSError:
        registry = {}
    interleaved = config.get("mix_strategy", "concat") != "concat"
    probabilities = [float(p) for p in str(config.get("interleave_probs", "")).split(",") if p.strip()]
    out = []
    for index, name in enumerate(names):
        entry = registry.get(name)
        if entry is None:
            out.append(Setting(f"{key}: {name}", (repr(name),), f"{where}[{index}]", UNSUPPORTED))
            continue
        if entry.get("file_name"):
            source = Source({"path": os.path.normpath(registry_dir / entry["file_name"])})
        else:
            source = Source(path=entry.get("hf_hub_url"), subset=entry.get("subset"), split=entry.get("split", "train"))
        if "max_samples" in config:
            source["max_rows"] = config["max_samples"]
        if interleaved and len(probabilities) == len(names):
            source["probability"] = probabilities[index]
        out.append(Setting(f"{key}: {name}", (repr(name), key, "max_samples", "interleave_probs"), f"{where}[{index}]",
                           source))
    return out


_AXOLOTL_TYPES = {"alpaca": "alpaca", "chat_template": "chat", "sharegpt": "sharegpt", "completion": "text"}
_AXOLOTL_ATTENTION = ("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")


def _axolotl(config: dict) -> list[Setting]:
    out = [_s("base_model", "model.name_or_path", config["base_model"])]
    for key, where in (("trust_remote_code", "model.trust_remote_code"), ("revision_of_model", "model.revision")):
        if key in config:
            out.append(_s(key, where, config[key]))
    adapter = config.get("adapter")
    out.append(_s("adapter" if adapter else "(default) adapter", "lora",
                  True if adapter in ("lora", "qlora") else False if not adapter else UNSUPPORTED))
    if adapter in ("lora", "qlora"):
        for key, ours in (("lora_r", "r"), ("lora_alpha", "lora_alpha"), ("lora_dropout", "lora_dropout"),
                          ("lora_modules_to_save", "modules_to_save"), ("lora_fan_in_fan_out", "fan_in_fan_out"),
                          ("peft_use_rslora", "use_rslora"), ("lora_target_parameters", "target_parameters")):
            if key in config:
                out.append(_s(key, f"lora.{ours}", config[key]))
        if config.get("lora_target_linear"):
            out.append(_s("lora_target_linear", "lora.target_modules", "all-linear", "lora_target_modules"))
        elif "lora_target_modules" in config:
            out.append(_s("lora_target_modules", "lora.target_modules", config["lora_target_modules"],
                          "lora_target_linear"))
    for key in ("load_in_4bit", "load_in_8bit"):
        if key in config:
            out.append(_s(key, f"quantization.{key}", True if config[key] else None))
    if config.get("load_in_4bit"):
        out.append(_s("(default) bnb_4bit_quant_type", "quantization.bnb_4bit_quant_type", "nf4", "load_in_4bit"))
    checkpointing = config.get("gradient_checkpointing", False)
    for key, ours, value in (("micro_batch_size", "per_device_train_batch_size", config.get("micro_batch_size", 1)),
                             ("num_epochs", "num_train_epochs", config.get("num_epochs", 1.0)),
                             ("lr_scheduler", "lr_scheduler_type", config.get("lr_scheduler", "cosine")),
                             ("sequence_len", "max_length", config.get("sequence_len", 512)),
                             ("optimizer", "optim", config.get("optimizer", "adamw_torch_fused")),
                             ("gradient_checkpointing", "activation_checkpointing",  # offload, offload_disk: Axolotl's
                              checkpointing if isinstance(checkpointing, bool) else UNSUPPORTED),
                             ("weight_decay", "weight_decay", config.get("weight_decay", 0.0)),
                             ("eval_batch_size", "per_device_eval_batch_size",
                              config.get("eval_batch_size", config.get("micro_batch_size", 1)))):
        out.append(_s(key if key in config else f"(default) {key}", f"training.{ours}", value))
    if "sample_packing" in config:
        out.append(_s("sample_packing", "training.packing", config["sample_packing"]))
    if "learning_rate" in config:
        out.append(_s("learning_rate", "training.learning_rate", float(config["learning_rate"])))
    if "warmup_steps" in config:
        out.append(_s("warmup_steps", "training.warmup_steps", config["warmup_steps"], "warmup_ratio"))
    elif "warmup_ratio" in config:
        out.append(_s("warmup_ratio", "training.warmup_steps", config["warmup_ratio"]))
    else:  # Axolotl: min(3% of the steps, 100)
        out.append(_s("(default) warmup_ratio", "training.warmup_steps", 0.03, "warmup_steps"))
    for key in ("bf16", "fp16", "tf32"):
        if key in config:
            out.append(_s(key, f"training.{key}", None if config[key] == "auto" else config[key]))
    if "train_on_inputs" in config:
        out.append(_s("train_on_inputs", "training.completion_only_loss", not config["train_on_inputs"]))
    if "val_set_size" in config and not config.get("test_datasets"):
        out.append(_s("val_set_size", "dataset.eval_split", config["val_set_size"] or None))
    value = config.get("attn_implementation")
    if value is not None:
        out.append(_s("attn_implementation", "model.attn_implementation",
                      value if value in _AXOLOTL_ATTENTION or "/" in str(value) else UNSUPPORTED))
    elif config.get("flash_attention"):
        out.append(_s("flash_attention", "model.attn_implementation", "flash_attention_2"))
    elif config.get("sdp_attention"):
        out.append(_s("sdp_attention", "model.attn_implementation", "sdpa"))
    for key in ("flash_attention", "sdp_attention", "xformers_attention"):
        if key in config and not any(key in setting.flag_words for setting in out):
            out.append(_s(key, "model.attn_implementation", UNSUPPORTED if config[key] else None))
    if "chat_template" in config:
        out.append(_s("chat_template", "sources.template",
                      "chat-template" if config["chat_template"] == "tokenizer_default" else UNSUPPORTED))
    for key, where in (("datasets", "sources"), ("test_datasets", "eval_sources")):
        for index, entry in enumerate(entry for entry in config.get(key) or [] if isinstance(entry, dict)):
            out += _axolotl_source(key, where, index, entry)
    return out


def _axolotl_source(key: str, where: str, index: int, entry: dict) -> list[Setting]:
    """One datasets entry: its path, files, subset and split, weight and shards as the share of its rows; its type."""
    label = f"{key}[{index}]"
    files = entry.get("data_files")
    source = Source(path=entry.get("path"), data_files=files[0] if isinstance(files, list) and len(files) == 1 else files,
                    subset=entry.get("name"), split=entry.get("split", "train"))
    share = float(entry.get("weight", 1)) / int(entry.get("shards") or 1)
    source["share"] = None if share == 1 else share
    kind = entry.get("type")
    out = [Setting(label, (label,), f"{where}[{index}]", source)]
    expected = _AXOLOTL_TYPES.get(kind) if isinstance(kind, str) else None
    out.append(Setting(f"{label}.type", (f"{label}.type",), f"{where}[{index}].format", expected or UNSUPPORTED))
    if kind == "alpaca":  # AlpacaPrompter's instruct style (utils/data/wrappers.py): "Below is an instruction …" first
        out.append(Setting(f"{label}.type", (f"{label}.type",), f"{where}[{index}].template", "alpaca-preamble"))
    return out


def _trl(config: dict) -> list[Setting]:
    out = []
    for key, where in (("model_name_or_path", "model.name_or_path"), ("model_revision", "model.revision"),
                       ("dtype", "model.dtype"), ("torch_dtype", "model.dtype"),
                       ("trust_remote_code", "model.trust_remote_code"),
                       ("attn_implementation", "model.attn_implementation")):
        if key in config:
            out.append(_s(key, where, config[key]))
    peft = bool(config.get("use_peft"))
    out.append(_s("use_peft" if "use_peft" in config else "(default) use_peft", "lora", peft))
    if peft:
        for key, ours, default in (("lora_r", "r", 16), ("lora_alpha", "lora_alpha", 32),
                                   ("lora_dropout", "lora_dropout", 0.05), ("lora_target_modules", "target_modules", None)):
            out.append(_s(key if key in config else f"(default) {key}", f"lora.{ours}", config.get(key, default)))
    for key in ("load_in_4bit", "load_in_8bit"):
        if config.get(key):
            out.append(_s(key, f"quantization.{key}", True))
    if "num_processes" in config:
        out.append(_s("num_processes", "distributed.processes", config["num_processes"]))
    mixture = config.get("datasets")
    if isinstance(mixture, list) and mixture:
        for index, entry in enumerate(mixture):
            source = Source(path=entry.get("path"), subset=entry.get("name"), split=entry.get("split", "train"))
            if entry.get("fraction") is not None:
                source["mixture_share"] = entry["fraction"]
            out.append(Setting(f"datasets[{index}]", (f"datasets[{index}]", "datasets"), f"sources[{index}]", source))
    elif "dataset_name" in config:
        source = Source(path=config["dataset_name"], subset=config.get("dataset_config"),
                        split=config.get("dataset_train_split", "train"))
        out.append(Setting("dataset_name", ("dataset_name", "dataset_config", "dataset_train_split"), "sources[0]", source))
    return out
