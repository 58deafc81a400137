"""A LLaMA-Factory training YAML into a preset, its `dataset` names resolved through dataset_info.json.

LLaMA-Factory's keys are mostly transformers' Seq2SeqTrainingArguments (read into training verbatim) plus its
own model, method and data arguments, mapped here. Its defaults that differ from the libraries' (lora_alpha
twice the rank, lora_target all, double quantization) are written into the preset so it trains the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.config.templates import ALPACA_PREAMBLE
from engine.errors import UserError
from engine.importing.config_reader import ConfigReader, read_dataset_entry, read_sources
from engine.importing.result import ImportResult
from engine.yamlio import YamlMapping, YamlValue

TOOL = "LLaMA-Factory"
ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "system": "system",
                  "history": "history"}
"""LLaMA-Factory's alpaca `columns` names -> sft-wizard's alpaca columns."""
SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "system_tag": "system", "observation_tag": "observation", "function_tag": "function_call"}
"""LLaMA-Factory's sharegpt `tags` and their defaults."""
_ATTENTION = {"fa2": "flash_attention_2", "sdpa": "sdpa", "disabled": "eager"}
CUTOFF_LEN = 2048
"""LLaMA-Factory's cutoff_len when the config does not set it (SFTConfig's max_length is 1024)."""
LEARNING_RATE = 5e-5
"""transformers' Seq2SeqTrainingArguments learning_rate, which LLaMA-Factory trains with (SFTConfig's is 2e-5)."""


def import_llama_factory(config: YamlMapping, path: str) -> ImportResult:
    """Read a LLaMA-Factory training config (and the dataset_info.json it uses) into raw preset data."""
    result = ImportResult(raw={"training": {}, "quantization": None, "lora": None, "dataset": {}, "model": {}})
    reader = ConfigReader(result, config, TOOL)
    reader.copy("model_name_or_path", "model", "name_or_path")
    reader.copy("trust_remote_code", "model")
    if isinstance(reader.config.get("flash_attn"), str) and reader.config["flash_attn"] in _ATTENTION:
        reader.copy("flash_attn", "model", "attn_implementation", _ATTENTION[reader.config["flash_attn"]])
    reader.note("flash_attn", "the model's default attention")
    reader.note("stage", "supervised fine-tuning, what sft-wizard trains")  # other stages are refused before
    if reader.config.get("do_train") is not True:
        result.warnings.append(f"{TOOL}: the file does not set do_train: true, so `llamafactory-cli train` would "
                               "train nothing with it; sft-wizard reads it as the SFT run it describes.")
    reader.note("do_train", "`sft-wizard train` trains")
    _read_method(reader)
    _read_quantization(reader)
    _read_data(reader, path)
    if not reader.copy("cutoff_len", "training", "max_length"):
        reader.default("training", "max_length", CUTOFF_LEN, "cutoff_len")
    if not reader.has("learning_rate"):
        reader.default("training", "learning_rate", LEARNING_RATE, "Seq2SeqTrainingArguments' learning_rate")
    checkpointing = not reader.config.get("disable_gradient_checkpointing", False)
    if not reader.copy("disable_gradient_checkpointing", "training", "activation_checkpointing", checkpointing) \
            and not reader.has("gradient_checkpointing"):
        reader.default("training", "activation_checkpointing", True, "disable_gradient_checkpointing: false")
    reader.copy("preprocessing_num_workers", "training", "dataset_num_proc")
    if reader.config.get("train_on_prompt"):
        reader.copy("train_on_prompt", "training", "completion_only_loss", False)
        reader.result.set("training", "assistant_only_loss", False, f"{TOOL} train_on_prompt")
    reader.note("train_on_prompt", "the prompt is not learned (sft-wizard's default)")
    reader.skip("plot_loss", "sft-wizard's monitor plots the loss live")
    reader.skip("overwrite_cache", "sft-wizard prepares the data afresh for each run")
    reader.training_keys()
    reader.finish()
    return result


def _read_method(reader: ConfigReader) -> None:
    kind = reader.take("finetuning_type", "lora")
    if kind == "full":
        reader.result.read.append("lora: none (finetuning_type: full trains the whole model)")
    if kind != "lora":
        if kind != "full":
            reader.result.not_read.append(f"finetuning_type = {kind!r}: sft-wizard trains LoRA or the whole model; "
                                          "the preset trains the whole model unless you add a lora section")
        for key in ("lora_rank", "lora_alpha", "lora_dropout", "lora_target"):
            reader.skip(key, "used only with finetuning_type: lora")
        return
    reader.result.read.append("finetuning_type = 'lora': LoRA adapters (the lora section)")
    reader.result.raw["lora"] = {}
    if not reader.copy("lora_rank", "lora", "r"):
        reader.default("lora", "r", 8, "lora_rank")
    if not reader.copy("lora_alpha", "lora"):
        reader.default("lora", "lora_alpha", 2 * reader.result.raw["lora"]["r"], "lora_alpha is twice lora_rank")
    if not reader.copy("lora_dropout", "lora"):
        reader.default("lora", "lora_dropout", 0.0, "lora_dropout")
    target = reader.config.get("lora_target", "all")
    modules = "all-linear" if target == "all" else [name.strip() for name in str(target).split(",")]
    if not reader.copy("lora_target", "lora", "target_modules", modules):
        reader.default("lora", "target_modules", modules, "lora_target: all")
    reader.copy("use_rslora", "lora")
    reader.copy("use_dora", "lora")
    reader.copy("additional_target", "lora", "modules_to_save",
                [name.strip() for name in str(reader.config.get("additional_target", "")).split(",")])


def _read_quantization(reader: ConfigReader) -> None:
    bits = reader.config.get("quantization_bit")
    method = reader.config.get("quantization_method", "bnb")
    if bits is None:
        return
    if method != "bnb" or bits not in (4, 8):
        reader.skip("quantization_bit", f"sft-wizard quantizes with bitsandbytes to 4 or 8 bits, not {method} {bits}-bit")
        reader.skip("quantization_method", "see quantization_bit")
        return
    reader.note("quantization_method", "bitsandbytes")
    if bits == 8:
        reader.copy("quantization_bit", "quantization", "load_in_8bit", True)
        return
    reader.copy("quantization_bit", "quantization", "load_in_4bit", True)
    if not reader.copy("quantization_type", "quantization", "bnb_4bit_quant_type"):
        reader.default("quantization", "bnb_4bit_quant_type", "nf4", "quantization_type")
    if not reader.copy("double_quantization", "quantization", "bnb_4bit_use_double_quant"):
        reader.default("quantization", "bnb_4bit_use_double_quant", True, "double_quantization")
    reader.compute_dtype()


def _names(value: YamlValue) -> list[str]:
    return [str(name).strip() for name in (value if isinstance(value, list) else str(value).split(",")) if str(name).strip()]


def dataset_registry(config: dict, path: str) -> tuple[Path | None, dict]:
    """The folder of the dataset_info.json the config uses (its dataset_dir, else beside it) and its entries."""
    folder = Path(path).parent
    named = config.get("dataset_dir")
    candidates = [folder / named, Path(named), folder] if named else [folder, folder / "data", Path("data")]
    for candidate in candidates:
        info = candidate / "dataset_info.json"
        if info.is_file():
            try:
                registry = json.loads(info.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise _unreadable(info, exc) from None
            if not isinstance(registry, dict) or not all(isinstance(entry, dict) for entry in registry.values()):
                raise UserError(f"{info}: a dataset_info.json maps each dataset name to its entry "
                                "({\"name\": {\"file_name\": ..., \"formatting\": ...}}); fix the file.")
            return candidate, registry
    return None, {}


def _unreadable(info: Path, exc: Exception) -> Exception:
    from engine.errors import UserError

    return UserError(f"{info}: not a readable dataset_info.json ({exc}); fix the file or remove dataset_dir.")


def _read_data(reader: ConfigReader, path: str) -> None:
    """dataset and eval_dataset (names in dataset_info.json), each a source, mixed as mix_strategy says."""
    folder, registry = dataset_registry(reader.config, path)
    if folder is not None:
        reader.note("dataset_dir", f"its dataset_info.json is {folder / 'dataset_info.json'}")
    else:
        reader.skip("dataset_dir", "holds no dataset_info.json")
    names = _names(reader.take("dataset", ""))
    if not names:
        reader.result.not_read.append("dataset: the config names no dataset; set dataset.path")
    max_rows = reader.take("max_samples")

    def read_one(result: ImportResult, name: str, index: str) -> None:
        _read_entry(result, name, registry.get(name), folder)
        if max_rows is not None and result.raw["dataset"].get("path"):
            result.set("dataset", "max_rows", max_rows, f"{TOOL} max_samples (the first rows of each dataset)")

    read_sources(reader.result, [name for name in names if _known(reader.result, name, registry, folder)], read_one)
    evaluated = _names(reader.take("eval_dataset", ""))
    read_sources(reader.result, [name for name in evaluated if _known(reader.result, name, registry, folder)],
                 read_one, "eval_sources")
    _read_mix(reader, len(reader.result.raw.get("dataset", {}).get("sources") or [None]))  # the datasets read, not those named
    value = reader.config.get("val_size")
    if value == 0:
        reader.note("val_size", "no evaluation split")
    elif isinstance(value, float) and 0 < value < 1:
        reader.copy("val_size", "dataset", "eval_split")
        if len(names) > 1:
            reader.result.read.append(f"val_size: {TOOL} holds out a share of the mixed rows; sft-wizard holds out "
                                      "that share of each source's rows")
    reader.skip("val_size", "a number of rows; sft-wizard holds out a share (dataset.eval_split, 0 < x < 1)")
    _read_template(reader)


def _known(result: ImportResult, name: str, registry: dict, folder: Path | None) -> bool:
    """Whether dataset_info.json has the name; if not, listed as not read."""
    if name in registry:
        return True
    where = f"not in {folder / 'dataset_info.json'}" if folder else "no dataset_info.json beside the config"
    result.not_read.append(f"dataset {name!r}: {where}, so only LLaMA-Factory's bundled registry knows it; set "
                           "dataset.path (or a source's path) to its file or Hub id")
    return False


_STOPPING = {"interleave_under": "first_exhausted", "interleave_over": "all_exhausted"}
"""LLaMA-Factory's interleaving mix_strategy values and datasets' stopping strategies."""


def _read_mix(reader: ConfigReader, count: int) -> None:
    """mix_strategy and interleave_probs: concatenated, or interleaved with each dataset's probability."""
    strategy = reader.config.get("mix_strategy", "concat")
    if count < 2:
        reader.note("mix_strategy", "one dataset, nothing to mix")
        reader.note("interleave_probs", "one dataset, nothing to mix")
        return
    if strategy == "concat":
        reader.note("mix_strategy", "concatenated (dataset.mix: concatenate)")
        reader.skip("interleave_probs", f"{TOOL} reads it only with mix_strategy interleave_under or interleave_over")
        return
    if strategy not in _STOPPING:
        reader.skip("mix_strategy", "sft-wizard concatenates or interleaves (interleave_under, interleave_over)")
        return
    dataset = reader.result.raw["dataset"]
    reader.copy("mix_strategy", "dataset", "mix", "interleave")
    reader.result.set("dataset", "stopping_strategy", _STOPPING[strategy], f"{TOOL} mix_strategy {strategy}")
    probabilities = [float(p) for p in _names(reader.take("interleave_probs", ""))]
    sources = dataset.get("sources", [])
    if probabilities and len(probabilities) == len(sources):
        for index, (source, probability) in enumerate(zip(sources, probabilities)):
            source["probability"] = probability
            reader.result.read.append(f"dataset.sources[{index}].probability = {probability!r} (from {TOOL} "
                                      "interleave_probs)")
    elif probabilities:
        reader.result.not_read.append(f"interleave_probs = {probabilities!r}: not one per dataset read "
                                      f"({len(sources)}); set each source's probability")
    reader.result.set("dataset", "seed", reader.config.get("seed", 42), f"{TOOL} seed, which interleaves the datasets")


def _read_entry(result: ImportResult, name: str, entry: dict, folder: Path) -> None:
    """One dataset_info.json entry: the file or Hub id, its formatting and its columns/tags mapping."""
    where = f"{TOOL} dataset_info.json {name!r}"
    if entry.get("file_name"):
        result.set("dataset", "path", str(folder / entry["file_name"]), f"{where} file_name")
    elif entry.get("hf_hub_url"):
        read_dataset_entry(result, entry, where, path_key="hf_hub_url", subset_key="subset")
    else:
        result.not_read.append(f"dataset {name!r}: {entry!r} names no file_name or hf_hub_url; set dataset.path")
        return
    for key in ("ms_hub_url", "om_hub_url", "script_url", "folder", "num_samples", "cloud_file_name"):
        if key in entry and not (key.endswith("hub_url") and "path" in result.raw["dataset"]):
            result.not_read.append(f"dataset {name!r} {key} = {entry[key]!r}: no sft-wizard setting")
    if entry.get("ranking"):
        result.not_read.append(f"dataset {name!r} ranking: preference data (chosen/rejected); sft-wizard trains SFT")
    formatting = entry.get("formatting", "alpaca")
    columns = dict(entry.get("columns") or {})
    if formatting == "alpaca":
        result.set("dataset", "format", "alpaca", f"{where} formatting")
        mapped = {ALPACA_COLUMNS[key]: column for key, column in columns.items() if key in ALPACA_COLUMNS}
    elif formatting == "sharegpt":
        mapped = _sharegpt(result, where, columns.pop("messages", "conversations"), dict(entry.get("tags") or {}))
        for key in ("system", "tools"):
            if key in columns:
                mapped[key] = columns[key]
    else:
        result.not_read.append(f"dataset {name!r} formatting = {formatting!r}: sft-wizard reads alpaca and sharegpt")
        return
    known = ALPACA_COLUMNS if formatting == "alpaca" else ("system", "tools")
    for key, column in columns.items():
        if key not in known:
            result.not_read.append(f"dataset {name!r} columns.{key} = {column!r}: no sft-wizard column for {formatting} data")
    mapped = {ours: theirs for ours, theirs in mapped.items() if ours != theirs}
    if mapped:
        result.set("dataset", "columns", mapped, f"{where} columns")


def _sharegpt(result: ImportResult, where: str, column: str, tags: dict) -> dict:
    """The sharegpt entry's format, message keys and role names; the columns mapping of its messages column."""
    given, tags = tags, {**SHAREGPT_TAGS, **tags}
    keys = {ours: tags[f"{ours}_tag"] for ours in ("role", "content") if tags[f"{ours}_tag"] != ours}
    roles = {ours: tags[f"{theirs}_tag"] for ours, theirs in (("user", "user"), ("assistant", "assistant"),
                                                               ("system", "system"), ("tool", "observation"))
             if tags[f"{theirs}_tag"] != ours}
    if all(tags[key] == default for key, default in SHAREGPT_TAGS.items()):
        result.set("dataset", "format", "sharegpt", f"{where} formatting")
        return {"conversations": column}
    result.set("dataset", "format", "chat", f"{where} formatting with tags")
    if keys:
        result.set("dataset", "message_keys", keys, f"{where} tags")
    if roles:
        result.set("dataset", "roles", roles, f"{where} tags")
    if "function_tag" in given:
        result.not_read.append(f"{where} tags.function_tag = {given['function_tag']!r}: tool-call turns are read from "
                               "sharegpt data with the default tags only")
    return {"messages": column}


def _read_template(reader: ConfigReader) -> None:
    """LLaMA-Factory's prompt template, for each source: alpaca's is sft-wizard's; a chat model's is the tokenizer's own."""
    template = reader.take("template")
    if template is None:
        return
    dataset = reader.result.raw["dataset"]
    sources = [(f"dataset.sources[{i}]", s) for i, s in enumerate(dataset.get("sources", []))] or [("dataset", dataset)]
    sources += [(f"dataset.eval_sources[{i}]", s) for i, s in enumerate(dataset.get("eval_sources", []))]
    for where, source in sources:
        fmt = source.get("format")
        if template == "alpaca":
            _set(reader.result, where, source, "alpaca", f"{TOOL} template")
        elif fmt in ("chat", "sharegpt"):
            _set(reader.result, where, source, "chat-template", f"{TOOL} template {template!r}: sft-wizard renders "
                 "conversations with the model's own chat template, which for the model it was made for is the same")
        elif fmt == "alpaca":
            reader.result.not_read.append(
                f"template = {template!r} for {where}: LLaMA-Factory writes alpaca rows as chat turns in this template; "
                "sft-wizard writes them with the alpaca prompt (template); convert the data to chat to train with the "
                "model's chat template")
        else:
            reader.result.not_read.append(f"template = {template!r} for {where}: sft-wizard renders chat data with the "
                                          "model's own chat template and instruction data with the alpaca prompt")
    if template == "alpaca":
        reader.result.warnings.append(
            f"{TOOL} template alpaca starts each prompt with the system text \"{ALPACA_PREAMBLE}\" and writes the "
            "input under the instruction; sft-wizard's alpaca template has no such preamble and gives the input its own "
            "\"### Input:\" header, so this preset trains slightly different prompts. To train with the preamble, put "
            "it in a `system` column of the data; prompt the trained model the way it was trained.")


def _set(result: ImportResult, where: str, source: dict, template: str, why: str) -> None:
    source["template"] = template
    result.read.append(f"{where}.template = {template!r} (from {why})")
