"""Which importer reads a file, told from its content: tutorial code, or a LLaMA-Factory, Axolotl or `trl sft` YAML."""

from __future__ import annotations

from pathlib import Path

from engine.errors import UserError
from engine.importing.axolotl import import_axolotl
from engine.importing.llama_factory import import_llama_factory
from engine.importing.not_sft import not_sft, refuse_other_data
from engine.importing.python_code import import_python_code
from engine.importing.result import ImportedPreset, ImportResult, finish_preset
from engine.importing.trl_config import KEYS as TRL_KEYS
from engine.importing.trl_config import import_trl_config
from engine.yamlio import YamlError, YamlMapping, YamlValue, load_yaml

_CODE_SUFFIXES = (".py", ".ipynb")
_YAML_SUFFIXES = (".yaml", ".yml")
LLAMA_FACTORY_KEYS = {"stage", "finetuning_type", "template", "cutoff_len", "dataset_dir", "lora_rank", "lora_target",
                      "quantization_bit", "val_size", "max_samples", "adapter_name_or_path", "infer_backend", "export_dir",
                      "pref_beta", "pref_loss"}
"""Keys only a LLaMA-Factory config (training, inference or export) has."""
LLAMA_FACTORY_V1_KEYS = {"train_dataset", "peft_config", "model_class", "kernel_config", "dist_config", "quant_config",
                         "init_config", "optim_config", "batching_strategy", "sample_backend"}
"""Keys of LLaMA-Factory v1's config (`model:` plus these), which no v0 LLaMA-Factory or Axolotl config has."""
AXOLOTL_KEYS = {"base_model", "micro_batch_size", "sequence_len", "num_epochs", "adapter", "lora_target_linear",
                "sample_packing", "val_set_size", "lr_scheduler"}
"""Keys only an Axolotl config has."""
EXPECTED = ("a LLaMA-Factory training YAML (model_name_or_path with stage, finetuning_type, template, dataset …), "
            "an Axolotl YAML (base_model, datasets, micro_batch_size, sequence_len …) or a `trl sft --config` YAML "
            "(model_name_or_path, dataset_name and SFTConfig keys)")


def config_kind(config: YamlMapping) -> str | None:
    """llama-factory-v1, llama-factory, axolotl or trl when the mapping's keys are one of those tools' configs, else None."""
    keys = set(config)
    if "model" in keys and keys & LLAMA_FACTORY_V1_KEYS and not keys & {"base_model", "model_name_or_path"}:
        return "llama-factory-v1"
    if keys & AXOLOTL_KEYS and "model_name_or_path" not in keys:
        return "axolotl"
    if "model_name_or_path" in keys and keys & LLAMA_FACTORY_KEYS:
        return "llama-factory"
    if keys & {"model_name_or_path", "dataset_name"} or (keys & TRL_KEYS and "datasets" in keys):
        return "trl"
    return None


def _yaml_mapping(path: str, text: str, required: bool) -> YamlMapping | None:
    """The file's YAML mapping; None when it is not one and need not be (code), UserError when it must."""
    try:
        data: YamlValue = load_yaml(text)
    except YamlError as exc:
        if not required:
            return None
        raise UserError(f"{path}: not valid YAML{exc.where}: {exc.problem}; expected {EXPECTED}.") from None
    if isinstance(data, dict):
        return data
    if required:
        raise UserError(f"{path}: the YAML is not a mapping of settings; expected {EXPECTED}.")
    return None


def import_file(path: str) -> ImportResult:
    """Read a tutorial script or notebook, or another tool's training config, into raw preset data."""
    return _import_kind(path)[1]


def _import_kind(path: str) -> tuple[str | None, ImportResult]:
    """The tool whose config the file is (None for code) and its raw preset data; UserError for what is not SFT."""
    if path.lower().endswith(_CODE_SUFFIXES):
        return None, import_python_code(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}.") from None
    yaml_named = path.lower().endswith(_YAML_SUFFIXES)
    config = _yaml_mapping(path, text, required=yaml_named)
    kind = config_kind(config) if config is not None else None
    if kind == "llama-factory-v1":
        raise UserError(f"{path}: a LLaMA-Factory v1 config (`model`, `train_dataset`, `peft_config` …, for LLaMA-Factory's "
                        "v1 trainer): not supported yet; sft-wizard imports LLaMA-Factory's training YAML "
                        "(model_name_or_path, stage: sft, finetuning_type, dataset …), so nothing was written.")
    what = not_sft(kind, config, path, text) if kind else None
    if what:
        raise UserError(f"{path}: {what}. sft-wizard trains SFT (supervised fine-tuning) only, so nothing was written.")
    if kind == "axolotl":
        return kind, import_axolotl(config)
    if kind == "llama-factory":
        return kind, import_llama_factory(config, path)
    if kind == "trl":
        return kind, import_trl_config(config)
    if yaml_named:
        raise UserError(f"{path}: a YAML file sft-wizard cannot import (keys: {', '.join(map(str, list(config)[:8]))}); "
                        f"expected {EXPECTED}. A sft-wizard preset needs no import: use it with `check` or `train`.")
    return None, import_python_code(path)


def preset_from_file(path: str, name: str | None = None) -> ImportedPreset:
    """Read a file into a run config: the one import the command line and the wizard share."""
    kind, result = _import_kind(path)
    imported = finish_preset(result, path, name)
    if kind == "trl":  # its keys name no format: the local data tells a DPO or KTO config from an SFT one
        refuse_other_data(imported.config.dataset, path)
    return imported
