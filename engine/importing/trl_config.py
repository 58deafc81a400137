"""A `trl sft --config` YAML into a preset: SFTConfig keys verbatim, ModelConfig and ScriptArguments keys mapped.

`trl sft` builds LoraConfig from ModelConfig only when `use_peft` is true, and BitsAndBytesConfig from
`load_in_4bit`/`load_in_8bit` with the model's dtype as compute dtype (trl.trainer.utils.get_quantization_config).
"""

from __future__ import annotations

from engine.importing.config_reader import ConfigReader, read_dataset_entry, read_sources
from engine.importing.result import ImportResult
from engine.yamlio import YamlMapping

TOOL = "trl sft"
MODEL_KEYS = {"model_name_or_path": "name_or_path", "model_revision": "revision", "dtype": "dtype",
              "torch_dtype": "dtype", "trust_remote_code": "trust_remote_code",
              "attn_implementation": "attn_implementation"}
"""ModelConfig keys of the model section."""
LORA_KEYS = {"lora_r": "r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout",
             "lora_target_modules": "target_modules", "lora_target_parameters": "target_parameters",
             "lora_modules_to_save": "modules_to_save", "lora_task_type": "task_type", "use_rslora": "use_rslora",
             "use_dora": "use_dora"}
"""ModelConfig keys of LoraConfig, used when use_peft is true."""
LORA_DEFAULTS = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "task_type": "CAUSAL_LM", "bias": "none"}
"""ModelConfig's LoRA defaults, which `trl sft` passes to LoraConfig when the config does not set them."""
KEYS = {*MODEL_KEYS, *LORA_KEYS, "use_peft", "load_in_4bit", "load_in_8bit", "bnb_4bit_quant_type",
        "use_bnb_nested_quant", "bnb_4bit_quant_storage", "dataset_name", "dataset_config", "dataset_train_split",
        "dataset_test_split", "dataset_streaming", "ignore_bias_buffers", "datasets", "streaming", "test_split_size",
        "num_processes"}
"""The ModelConfig, ScriptArguments and DatasetMixtureConfig keys and accelerate's num_processes; with SFTConfig's,
what `trl sft` reads."""


def import_trl_config(config: YamlMapping) -> ImportResult:
    """Read a trl sft config's keys into raw preset data (validated by the caller)."""
    result = ImportResult(raw={"training": {}, "quantization": None, "lora": None, "dataset": {}, "model": {}})
    reader = ConfigReader(result, config, TOOL)
    for key, ours in MODEL_KEYS.items():
        reader.copy(key, "model", ours)
    _read_lora(reader)
    _read_quantization(reader)
    _read_dataset(reader)
    reader.copy("num_processes", "distributed", "processes")  # `trl` passes it to accelerate launch
    reader.training_keys()
    reader.finish()
    return result


def _read_lora(reader: ConfigReader) -> None:
    if not reader.take("use_peft", False):
        reader.result.read.append("lora: none (use_peft is not true: trl sft trains the whole model)")
        for key in LORA_KEYS:
            reader.skip(key, "trl sft uses it only with use_peft: true")
        return
    reader.result.read.append("use_peft = True: LoRA adapters (the lora section)")
    reader.result.raw["lora"] = {}
    for key, ours in LORA_KEYS.items():
        target = reader.config.get(key)
        if key == "lora_target_modules" and isinstance(target, list) and len(target) == 1:
            reader.copy(key, "lora", ours, target[0])  # as ModelConfig does: one name is a name, not a list
        else:
            reader.copy(key, "lora", ours)
    for key, value in LORA_DEFAULTS.items():
        if key not in reader.result.raw["lora"]:
            reader.default("lora", key, value, "ModelConfig / get_peft_config")


def _read_quantization(reader: ConfigReader) -> None:
    four, eight = bool(reader.config.get("load_in_4bit")), bool(reader.config.get("load_in_8bit"))
    for key, on in (("load_in_4bit", four), ("load_in_8bit", eight)):
        if not on:
            reader.note(key, "off")
    if eight and not four:
        reader.copy("load_in_8bit", "quantization")
    if not four:
        for key in ("bnb_4bit_quant_type", "use_bnb_nested_quant", "bnb_4bit_quant_storage"):
            reader.skip(key, "trl sft uses it only with load_in_4bit: true")
        return
    reader.copy("load_in_4bit", "quantization")
    if not reader.copy("bnb_4bit_quant_type", "quantization"):
        reader.default("quantization", "bnb_4bit_quant_type", "nf4", "ModelConfig.bnb_4bit_quant_type")
    reader.copy("use_bnb_nested_quant", "quantization", "bnb_4bit_use_double_quant")
    reader.copy("bnb_4bit_quant_storage", "quantization")
    dtype = reader.config.get("dtype") or reader.config.get("torch_dtype")
    if dtype not in (None, "auto"):
        reader.result.set("quantization", "bnb_4bit_compute_dtype", dtype, f"{TOOL} dtype (its compute dtype)")


def _read_mixture_entry(result: ImportResult, entry: dict, index: str) -> None:
    """One DatasetMixtureConfig entry: path, name, data_dir/data_files, split, and its fraction of the mixture."""
    where = f"{TOOL} datasets{index}"
    if entry.get("data_dir") and not entry.get("data_files"):  # load_dataset reads data_dir/** then
        entry = {**entry, "data_files": f"{str(entry['data_dir']).rstrip('/')}/**"}
    read_dataset_entry(result, entry, where)
    if entry.get("fraction") is not None:
        result.set("dataset", "mixture_share", entry["fraction"], f"{where}.fraction")
    if entry.get("columns") is not None:
        result.read.append(f"{where}.columns = {entry['columns']!r}: sft-wizard reads the columns its format needs")
    for key in sorted(set(entry) - {"path", "name", "data_dir", "data_files", "split", "fraction", "columns"}):
        result.not_read.append(f"{where}.{key} = {entry[key]!r}: no sft-wizard setting ({TOOL})")


def _read_dataset(reader: ConfigReader) -> None:
    mixture = reader.config.get("datasets")
    if isinstance(mixture, list) and mixture:
        reader.take("datasets")
        read_sources(reader.result, [entry for entry in mixture if isinstance(entry, dict)], _read_mixture_entry)
        fractions = [entry.get("fraction") for entry in mixture if isinstance(entry, dict)]
        if any(fraction is not None for fraction in fractions):
            reader.result.set("dataset", "mixture_share_of", "rows", f"{TOOL} datasets[].fraction (shares of the "
                              "mixture's rows)")
            reader.result.warnings.append(f"{TOOL} datasets[].fraction: trl keeps the first rows of each dataset; "
                                          "sft-wizard picks that many rows with dataset.seed")
        reader.copy("test_split_size", "dataset", "eval_split")
        reader.skip("streaming", "sft-wizard reads the whole dataset")
    if "path" in reader.result.raw["dataset"]:
        reader.skip("dataset_name", "trl sft ignores it when `datasets` is given")
    reader.copy("dataset_name", "dataset", "path")
    reader.copy("dataset_config", "dataset", "subset")
    if reader.config.get("dataset_train_split") == "train":
        reader.note("dataset_train_split", "the default split (dataset.split)")
    reader.copy("dataset_train_split", "dataset", "split")
    reader.skip("dataset_test_split", "sft-wizard evaluates on dataset.eval_split or dataset.eval_path; set one of them")
    reader.skip("dataset_streaming", "sft-wizard reads the whole dataset")
    reader.skip("ignore_bias_buffers", "a DDP debugging switch sft-wizard does not have")
