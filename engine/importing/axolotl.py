"""An Axolotl YAML into a preset: its model, adapter, training keys, and each of its `datasets:` and `test_datasets:`.

Axolotl's QLoRA loads the model with BitsAndBytesConfig(nf4, double quantization, compute dtype of the
run), and its defaults that differ from SFTConfig's (cosine schedule, one epoch, batch size 1, 512 tokens, no
gradient checkpointing) are written into the preset, so it trains the same way.
"""

from __future__ import annotations

from pathlib import Path

from engine.importing.config_reader import ConfigReader, read_dataset_entry, read_sources
from engine.importing.result import ImportResult
from engine.yamlio import YamlMapping

TOOL = "Axolotl"
RENAMED = {"micro_batch_size": "per_device_train_batch_size", "num_epochs": "num_train_epochs",
           "lr_scheduler": "lr_scheduler_type", "optimizer": "optim", "sequence_len": "max_length",
           "sample_packing": "packing", "eval_batch_size": "per_device_eval_batch_size"}
"""Axolotl training keys and the SFTConfig names they became."""
DEFAULTS = {"lr_scheduler": "cosine", "num_epochs": 1.0, "micro_batch_size": 1, "sequence_len": 512}
"""Axolotl's defaults (its config schema) of RENAMED keys whose SFTConfig defaults differ."""
WARMUP = 0.03
"""The share of the steps Axolotl warms up over when neither warmup_steps nor warmup_ratio is set (transformers 5's
warmup_steps takes a share below 1); Axolotl also stops at 100 steps, which a share cannot say."""
ATTENTION = ("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")
"""Axolotl attn_implementation values that are transformers' own (its others are Axolotl patches)."""
LORA_KEYS = {"lora_r": "r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout",
             "lora_target_modules": "target_modules", "lora_modules_to_save": "modules_to_save",
             "lora_fan_in_fan_out": "fan_in_fan_out", "peft_use_rslora": "use_rslora", "peft_use_dora": "use_dora",
             "lora_target_parameters": "target_parameters"}
"""Axolotl adapter keys and the LoraConfig names they became."""
_AUTO_CLASSES = {"model_type": "AutoModelForCausalLM", "tokenizer_type": "AutoTokenizer"}
_NOT_READ = {
    "special_tokens": "sft-wizard keeps the tokenizer's special tokens (it adds a pad token when there is none)",
    "dataset_prepared_path": "sft-wizard prepares the data in memory for each run",
    "pad_to_sequence_len": "sft-wizard pads each batch to its longest row",
    "eval_sample_packing": "evaluation rows are not packed",
    "evals_per_epoch": "set training.eval_strategy and training.eval_steps",
    "saves_per_epoch": "set training.save_strategy and training.save_steps",
    "xformers_attention": "use model.attn_implementation (sdpa or flash_attention_2)",
    "lora_model_dir": "sft-wizard starts new adapters",
    "strict": "an Axolotl loading switch", "debug": "an Axolotl switch",
    "wandb_project": "set training.report_to", "wandb_entity": "set training.report_to",
    "wandb_watch": "set training.report_to", "wandb_name": "set training.report_to",
    "wandb_log_model": "set training.report_to",
    "adam_eps": "Axolotl does not read it (its setting is adam_epsilon), so that run used the default epsilon; "
                "set training.adam_epsilon to change it",
}


def import_axolotl(config: YamlMapping) -> ImportResult:
    """Read an Axolotl config into raw preset data (validated by the caller)."""
    result = ImportResult(raw={"training": {}, "quantization": None, "lora": None, "dataset": {}, "model": {}})
    reader = ConfigReader(result, config, TOOL)
    reader.copy("base_model", "model", "name_or_path")
    reader.copy("trust_remote_code", "model")
    reader.copy("revision_of_model", "model", "revision")
    for key, auto in _AUTO_CLASSES.items():
        if reader.config.get(key) == auto:
            reader.note(key, f"sft-wizard loads with {auto} too")
    _read_attention(reader)
    _read_adapter(reader)
    _read_quantization(reader)
    for key, ours in RENAMED.items():
        if not reader.copy(key, "training", ours) and key in DEFAULTS:
            reader.default("training", ours, DEFAULTS[key], key)
    if not reader.has("eval_batch_size"):
        reader.default("training", "per_device_eval_batch_size", reader.config.get("micro_batch_size", 1),
                       "eval_batch_size is micro_batch_size")
    if not reader.has("gradient_checkpointing"):
        reader.default("training", "activation_checkpointing", False, "gradient_checkpointing: false")
    if not reader.has("warmup_steps") and not reader.has("warmup_ratio"):
        reader.default("training", "warmup_steps", WARMUP, "warmup of 3% of the steps, at most 100 steps")
    _read_precision(reader)
    if reader.config.get("train_on_inputs") is not None:
        reader.copy("train_on_inputs", "training", "completion_only_loss", not config["train_on_inputs"])
        if config["train_on_inputs"]:  # Axolotl then learns every token of chat data too
            reader.result.set("training", "assistant_only_loss", False, "Axolotl train_on_inputs")
    reader.copy("val_set_size", "dataset", "eval_split")
    if config.get("chat_template") == "tokenizer_default":
        reader.note("chat_template", "the model's own chat template, which sft-wizard uses")
    reader.skip("chat_template", "sft-wizard renders conversations with the model's own chat template (tokenizer_default)")
    _read_datasets(reader)
    for key, why in _NOT_READ.items():
        reader.skip(key, why)
    reader.training_keys()
    reader.finish()
    return result


def _read_attention(reader: ConfigReader) -> None:
    """attn_implementation, or the older flash_attention / sdp_attention switches, as transformers' attention."""
    value = reader.config.get("attn_implementation")
    if value in ATTENTION or (isinstance(value, str) and "/" in value):  # a Hub kernel repo, as transformers takes it
        reader.copy("attn_implementation", "model")
    reader.skip("attn_implementation", "an Axolotl attention patch; sft-wizard takes transformers' attention "
                                       f"({', '.join(ATTENTION)}) in model.attn_implementation")
    if "attn_implementation" in reader.result.raw["model"]:
        return
    if reader.config.get("flash_attention"):
        reader.copy("flash_attention", "model", "attn_implementation", "flash_attention_2")
    elif reader.config.get("sdp_attention"):
        reader.copy("sdp_attention", "model", "attn_implementation", "sdpa")


def _read_adapter(reader: ConfigReader) -> None:
    adapter = reader.config.get("adapter")
    if adapter not in ("lora", "qlora"):
        if adapter:
            reader.skip("adapter", "sft-wizard trains LoRA/QLoRA adapters or the whole model")
        reader.result.read.append("lora: none (no lora/qlora adapter: Axolotl trains the whole model)")
        for key in [*LORA_KEYS, "lora_target_linear"]:
            reader.skip(key, "used only with adapter: lora or qlora")
        return
    reader.note("adapter", "LoRA adapters (the lora section)")
    reader.result.raw["lora"] = {}
    for key, ours in LORA_KEYS.items():
        reader.copy(key, "lora", ours)
    if reader.config.get("lora_target_linear"):
        if reader.result.raw["lora"].pop("target_modules", None) is not None:
            reader.result.read.append("lora_target_modules: covered by lora_target_linear (every linear layer)")
        reader.copy("lora_target_linear", "lora", "target_modules", "all-linear")
    reader.note("lora_target_linear", "off")


def _read_quantization(reader: ConfigReader) -> None:
    if reader.config.get("load_in_8bit"):
        reader.copy("load_in_8bit", "quantization")
    reader.note("load_in_8bit", "off")
    if not reader.config.get("load_in_4bit"):
        reader.note("load_in_4bit", "off")
        return
    reader.copy("load_in_4bit", "quantization")
    reader.default("quantization", "bnb_4bit_quant_type", "nf4", "QLoRA's BitsAndBytesConfig")
    reader.default("quantization", "bnb_4bit_use_double_quant", True, "QLoRA's BitsAndBytesConfig")
    reader.compute_dtype()


def _read_precision(reader: ConfigReader) -> None:
    """bf16/fp16/tf32: true or false as given; Axolotl's `auto` is sft-wizard's own choice from the GPU."""
    for key in ("bf16", "fp16", "tf32"):
        if reader.config.get(key) == "auto":
            reader.note(key, "auto: sft-wizard chooses the precision from the GPU")
        elif isinstance(reader.config.get(key), bool):
            reader.copy(key, "training")


_TYPES = {"alpaca": ("alpaca", "alpaca-preamble"), "sharegpt": ("sharegpt", "chat-template"),
          "chat_template": ("chat", "chat-template"), "completion": ("text", "none")}
"""Axolotl dataset types -> (dataset.format, dataset.template)."""
DEFAULT_ROLES = {"user": ["human", "user"], "assistant": ["gpt", "assistant"], "system": ["system"], "tool": ["tool"]}
"""The role names Axolotl's chat_template reads when a dataset entry gives no `roles`."""
_ENTRY_KEYS = {"path", "type", "ds_type", "data_files", "name", "split", "field_messages", "message_property_mappings",
               "message_field_role", "message_field_content", "roles", "roles_to_train", "train_on_eos", "field",
               "chat_template", "weight", "shards", "shards_idx"}


def _read_datasets(reader: ConfigReader) -> None:
    """Every `datasets:` entry a training source, every `test_datasets:` entry an evaluation source."""
    entries = [entry for entry in _listed(reader.take("datasets", [])) if isinstance(entry, dict)]
    if not entries:
        reader.result.not_read.append("datasets: no entry with a path; set dataset.path")
    read_sources(reader.result, _one_file_each(reader.result, entries), _read_entry)
    tests = [entry for entry in _listed(reader.take("test_datasets", [])) if isinstance(entry, dict)]
    read_sources(reader.result, _one_file_each(reader.result, tests), _read_test_entry, "eval_sources")
    if tests and reader.has("val_set_size"):
        reader.skip("val_set_size", "Axolotl evaluates on test_datasets when they are given")
    if reader.has("seed") and any("share" in source for source in _sources(reader.result.raw["dataset"])):
        reader.result.set("dataset", "seed", reader.config["seed"], f"{TOOL} seed (it picks a weighted dataset's rows)")


def _listed(value: object) -> list:
    return value if isinstance(value, list) else []


def _sources(dataset: dict) -> list[dict]:
    return dataset.get("sources") or [dataset]


def _one_file_each(result: ImportResult, entries: list[dict]) -> list[dict]:
    """Entries whose local folder lists several data_files, as one entry per file (Axolotl reads each as a path)."""
    out = []
    for entry in entries:
        files = entry.get("data_files")
        if files and Path(str(entry.get("path"))).is_dir():
            files = files if isinstance(files, list) else [files]
            if len(files) > 1:
                result.read.append(f"{TOOL} datasets {entry.get('path')!r}: its {len(files)} data_files, one source each")
            # load_dataset(folder, data_files=...) reads them relative to the folder, as Axolotl does
            folder = Path(str(entry.get("path")))
            out += [{**entry, "path": str(folder / str(file)), "data_files": None} for file in files]
        else:
            out.append(entry)
    return out


def _read_test_entry(result: ImportResult, entry: dict, index: str) -> None:
    _read_entry(result, entry, index, "test_datasets")


def _read_entry(result: ImportResult, entry: dict, index: str, listed_as: str = "datasets") -> None:
    """One datasets: entry: its file or Hub id, its type, its weight and how its messages and turns are read."""
    where = f"{TOOL} {listed_as}{index}"
    read_dataset_entry(result, entry, where)
    _read_weight(result, entry, where)
    kind = entry.get("type")
    if kind in _TYPES:
        fmt, template = _TYPES[kind]
        result.set("dataset", "format", fmt, f"{where}.type {kind}")
        result.set("dataset", "template", template, f"{where}.type {kind}")
    elif kind == "input_output":
        result.warnings.append(f"{where}.type input_output: the file's `segments` (text with a `label` each) are read "
                               "by sft-wizard's data reader, which learns the labelled segments")
    else:
        result.not_read.append(f"{where}.type = {kind!r}: sft-wizard reads alpaca, chat_template, sharegpt, completion "
                               "and input_output data; set dataset.format")
    if kind == "completion" and entry.get("field", "text") != "text":
        result.set("dataset", "columns", {"text": entry["field"]}, f"{where}.field")
    if kind == "chat_template":
        _read_messages(result, entry, where)
    for key in sorted(set(entry) - _ENTRY_KEYS):
        result.not_read.append(f"{where}.{key} = {entry[key]!r}: no sft-wizard setting")


def _read_weight(result: ImportResult, entry: dict, where: str) -> None:
    """weight (a fraction of the rows, picked at random) and shards (one of N shards) as the source's share."""
    weight, shards = entry.get("weight"), entry.get("shards")
    share = (weight if isinstance(weight, (int, float)) and weight != 1 else 1) / (shards if isinstance(shards, int) and shards > 1 else 1)
    if share != 1:
        result.set("dataset", "share", share, f"{where}.weight/shards")
    if isinstance(shards, int) and shards > 1:
        result.warnings.append(f"{where}.shards = {shards}: Axolotl trains shard {entry.get('shards_idx', 0)} of the "
                               f"shuffled rows; sft-wizard trains a share of 1/{shards} of them picked with "
                               "dataset.seed, as many rows but not the same ones")


def _read_messages(result: ImportResult, entry: dict, where: str) -> None:
    """field_messages, the message keys, role names and which turns and end-of-turn tokens are learned."""
    column = entry.get("field_messages", "messages")
    if column != "messages":
        result.set("dataset", "columns", {"messages": column}, f"{where}.field_messages")
    keys = dict(entry.get("message_property_mappings") or {})
    for legacy, key in (("message_field_role", "role"), ("message_field_content", "content")):
        if entry.get(legacy):
            keys.setdefault(key, entry[legacy])
    for key in sorted(set(keys) - {"role", "content"}):
        result.not_read.append(f"{where}.message_property_mappings.{key} = {keys.pop(key)!r}: sft-wizard maps role "
                               "and content only")
    keys = {key: value for key, value in keys.items() if key != value}
    if keys:
        result.set("dataset", "message_keys", keys, f"{where}.message_property_mappings")
    if entry.get("roles"):
        result.set("dataset", "roles", dict(entry["roles"]), f"{where}.roles")
    elif keys:  # Axolotl names ShareGPT's roles for the chat template itself
        result.raw["dataset"]["roles"] = dict(DEFAULT_ROLES)
        result.read.append(f"dataset.roles = {DEFAULT_ROLES!r} ({TOOL}'s default role names)")
    if entry.get("roles_to_train") is not None:
        result.set("dataset", "roles_to_train", list(entry["roles_to_train"]), f"{where}.roles_to_train")
    if entry.get("train_on_eos") is not None:
        result.set("dataset", "train_on_eos", entry["train_on_eos"], f"{where}.train_on_eos")
    if entry.get("chat_template") not in (None, "tokenizer_default"):
        result.not_read.append(f"{where}.chat_template = {entry['chat_template']!r}: sft-wizard renders conversations "
                               "with the model's own chat template")
