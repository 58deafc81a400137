"""Tutorial code into a preset: the values the code trains with, read without executing it.

The trainer the code trains (`trainer.train()`, else the last SFTTrainer built) is the starting
point: its `args` (TrainingArguments/SFTConfig) give the training settings, its `model` leads to
where the model was loaded (`from_pretrained`, Unsloth's FastLanguageModel) and wrapped in LoRA,
its `train_dataset` to `load_dataset`. Code without a trainer is read call by call. Whatever is not
a literal where the code uses it is listed by name, never guessed.
"""

from __future__ import annotations

import ast
import re
from dataclasses import replace

from engine.config.legacy import REMOVED, RENAMED
from engine.config.schema import schema
from engine.config.templates import ALPACA_TEMPLATES
from engine.errors import UserError
from engine.importing.result import ImportedPreset, ImportResult, finish_preset
from engine.importing.tutorial.interpreter import Interpreter
from engine.importing.tutorial.source import read_tutorial
from engine.importing.tutorial.values import COMMAND_LINE, Call, FunctionValue, Value, describe, is_plain, trace

_TRAINING_ARGS = ("TrainingArguments", "SFTConfig", "Seq2SeqTrainingArguments")
_SECTIONS = {**dict.fromkeys(_TRAINING_ARGS, "training"), "LoraConfig": "lora", "BitsAndBytesConfig": "quantization"}
_SECTION_CLASSES = {"training": "SFTConfig", "lora": "LoraConfig", "quantization": "BitsAndBytesConfig"}
# SFTTrainer keyword arguments that are references to objects built elsewhere in the code.
_TRAINER_REFERENCES = {"model", "args", "train_dataset", "eval_dataset", "peft_config", "formatting_func",
                       "data_collator", "callbacks", "compute_metrics", "optimizers", "processing_class", "tokenizer",
                       "quantization_config", "compute_loss_func", "optimizer_cls_and_kwargs",
                       "preprocess_logits_for_metrics"}
# from_pretrained keyword arguments that are preset settings of the model section.
_MODEL_SETTINGS = {"torch_dtype": "dtype", "dtype": "dtype", "attn_implementation": "attn_implementation",
                   "trust_remote_code": "trust_remote_code", "revision": "revision"}
# from_pretrained keyword arguments about where and how to load, which sft-wizard decides itself.
_LOADING_ONLY = {"device_map", "token", "use_auth_token", "cache_dir", "low_cpu_mem_usage", "use_cache",
                 "local_files_only", "max_memory", "offload_folder"}
# Unsloth's get_peft_model arguments that are LoraConfig's under the same name.
_UNSLOTH_LORA = ("r", "lora_alpha", "lora_dropout", "target_modules", "bias", "use_rslora", "use_dora",
                 "modules_to_save", "init_lora_weights")
# Dataset class methods that build rows in code, and those that read one file.
_DATA_BUILDERS = ("from_dict", "from_list", "from_pandas", "from_generator")
_FILE_READERS = ("from_json", "from_csv", "from_parquet")
_DATA_SOURCES = ("load_dataset", *_DATA_BUILDERS, *_FILE_READERS)


def import_python_code(path: str) -> ImportResult:
    """Read a .py file or .ipynb notebook into raw preset data (validated by the caller)."""
    interpreter = Interpreter()
    try:
        interpreter.run(read_tutorial(path))
    except RecursionError:
        raise UserError(f"{path}: expressions nested too deeply to read; give the tutorial's own code.") from None
    result = ImportResult(raw={"training": {}, "quantization": None, "dataset": {}, "model": {}})
    trainer = interpreter.trained or (interpreter.trainers[-1] if interpreter.trainers else None)
    if trainer is not None:
        _read_trainer(result, trainer)
    elif any(c.short in _SECTIONS or _is_model_loader(c) for c in interpreter.calls):
        _read_calls(result, interpreter.calls)
    else:
        raise UserError(f"{path}: no training code found (no SFTTrainer, SFTConfig/TrainingArguments, LoraConfig "
                        "or from_pretrained call); give the script or notebook that trains the model.")
    _unsloth_notes(result, interpreter.calls)
    if not result.raw["model"].get("name_or_path") and not any(line.startswith("model:") for line in result.not_read):
        result.not_read.append("model: no literal model id where the code loads the model it trains; set model.name_or_path")
    return result


def _unsloth_notes(result: ImportResult, calls: list[Call]) -> None:
    """Unsloth helpers that change what is trained in ways a preset does not say by itself."""
    for call in calls:
        if call.short == "get_chat_template":
            result.not_read.append(f"tokenizer: {describe(call)} puts Unsloth's template on the tokenizer; sft-wizard "
                                   "uses the model's own chat template")
        elif call.short == "train_on_responses_only":
            result.not_read.append("train_on_responses_only(trainer, ...): the code computes the loss on the assistant "
                                   "replies only; set training.assistant_only_loss: true where the model's chat template "
                                   "marks them ({% generation %})")


def _read_trainer(result: ImportResult, trainer: Call) -> None:
    args, model = trainer.argument(1, "args"), trainer.argument(0, "model")
    config = trace(args, lambda c: c.short in _TRAINING_ARGS)
    # With a model id, SFTTrainer loads the model itself with SFTConfig(model_init_kwargs=...).
    init = config.kwargs.get("model_init_kwargs") if config is not None and isinstance(model, str) else None
    if config is not None:
        _read_call(result, replace(config, kwargs={k: v for k, v in config.kwargs.items()
                                                   if not (k == "model_init_kwargs" and isinstance(init, dict))}), "training")
    elif args is not None:
        result.not_read.append(f"training: {trainer.short}(args={describe(args)}) is not built in this file")
    _read_trainer_keywords(result, trainer)
    loader = trace(model, _is_model_loader)
    if isinstance(model, str):
        result.set("model", "name_or_path", model, trainer.short)
        if isinstance(init, dict):
            _read_loader(result, Call(f"{config.short}(model_init_kwargs)", kwargs=init), with_id=False)
    elif loader is not None:
        _read_loader(result, loader)
    else:
        result.not_read.append(f"model: {trainer.short}'s model is {describe(model)}, not a literal id nor loaded "
                               "from one in this file; set model.name_or_path")
    if "quantization_config" in trainer.kwargs:
        _read_quantization(result, trainer.kwargs["quantization_config"], trainer.short)
    _read_lora(result, trainer, model, loader)
    _read_dataset(result, trainer.argument(3, "train_dataset"), trainer.short)
    if trainer.kwargs.get("eval_dataset") is not None:
        result.not_read.append(f"eval_dataset={describe(trainer.kwargs['eval_dataset'])}: sft-wizard evaluates on "
                               "dataset.eval_split or dataset.eval_path; set one of them")


def _read_trainer_keywords(result: ImportResult, trainer: Call) -> None:
    for name, value in trainer.kwargs.items():
        if name == "formatting_func":
            _read_formatting(result, value, "formatting_func")
        elif name in ("tokenizer", "processing_class"):
            result.read.append(f"{trainer.short} {name}=: the tokenizer now comes from model.name_or_path (processing_class)")
        elif name not in _TRAINER_REFERENCES:
            _read_value(result, "training", name, value, trainer.short)
    for written in trainer.unpacked:
        result.not_read.append(f"{trainer.short}({written}): arguments whose values only running the code gives")


def _read_call(result: ImportResult, call: Call, section: str) -> None:
    """Every keyword argument of a configuration call into one preset section."""
    if result.raw.get(section) is None:
        result.raw[section] = {}
    for name, value in call.kwargs.items():
        _read_value(result, section, name, value, call.short)
    for written in call.unpacked:
        if written == COMMAND_LINE:
            result.not_read.append(f"{section}: {call.short} takes its values from the command line; set those you "
                                   "pass there (--learning_rate …) in the preset")
        else:
            result.not_read.append(f"{call.short}({written}): arguments whose values only running the code gives")


def _read_value(result: ImportResult, section: str, name: str, value: Value, where: str) -> None:
    """One setting if it is a literal; a name the library class does not have is listed, not kept."""
    if section in _SECTION_CLASSES and name not in schema()[section] and (section, name) not in RENAMED \
            and (section, name) not in REMOVED:  # a field of the code's own subclass, a keyword of an old release
        result.not_read.append(f"{section}.{name} = {describe(value)} (from {where}): not a setting of "
                               f"{_SECTION_CLASSES[section]}")
    elif is_plain(value):
        result.set(section, name, value, where)
    else:
        result.not_read.append(f"{section}.{name} = {describe(value)} (from {where}) is not a literal")


def _is_model_loader(call: Call) -> bool:
    return call.short == "from_pretrained" and not any(
        word in call.owner for word in ("Tokenizer", "Processor", "Config", "PeftModel"))


def _read_loader(result: ImportResult, loader: Call, with_id: bool = True) -> None:
    """The model id and loading settings of a from_pretrained call (transformers' or Unsloth's)."""
    where = loader.name
    if with_id:
        model_id = loader.argument(0, "pretrained_model_name_or_path", "model_name", "model_id")
        if isinstance(model_id, str):
            result.set("model", "name_or_path", model_id, where)
        else:
            result.not_read.append(f"model: {where}({describe(model_id)}): the model id is not a literal")
    for name, value in loader.kwargs.items():
        if name in _MODEL_SETTINGS and value is not None:
            _read_value(result, "model", _MODEL_SETTINGS[name], value, where)
        elif name == "quantization_config":
            _read_quantization(result, value, where)
        elif name in ("load_in_4bit", "load_in_8bit") and value is not False:
            _read_value(result, "quantization", name, value, where)
        elif name == "max_seq_length":
            training = result.raw["training"]
            if not any(key in training for key in ("max_length", "max_seq_length")):
                _read_value(result, "training", "max_length", value, where)
        elif name not in _LOADING_ONLY and name not in _MODEL_SETTINGS and value not in (None, False) and name not in (
                "pretrained_model_name_or_path", "model_name", "model_id", "load_in_4bit", "load_in_8bit"):
            result.not_read.append(f"{where}({name}={describe(value)}): no preset setting")


def _read_quantization(result: ImportResult, value: Value, where: str) -> None:
    config = trace(value, lambda c: c.short == "BitsAndBytesConfig")
    if config is not None:
        _read_call(result, config, "quantization")
    elif value is not None:
        result.not_read.append(f"quantization: {where}(quantization_config={describe(value)}) is not a BitsAndBytesConfig "
                               "built in this file")


def _read_lora(result: ImportResult, trainer: Call, model: Value, loader: Call | None) -> None:
    """LoRA from the trainer's peft_config, or from get_peft_model around the model it trains."""
    if "peft_config" in trainer.kwargs:
        value = trainer.kwargs["peft_config"]
        config = trace(value, lambda c: c.short == "LoraConfig")
        if config is not None:
            _read_call(result, config, "lora")
        elif value is None:
            result.read.append("lora: none (peft_config=None trains the whole model)")
        else:
            result.not_read.append(f"lora: peft_config={describe(value)} is not a LoraConfig built in this file; "
                                   "the preset trains the whole model unless you add a lora section")
        return
    wrapped = trace(model, lambda c: c.short == "get_peft_model")
    if wrapped is not None and wrapped.owner in ("FastLanguageModel", "FastModel"):
        for name, value in wrapped.kwargs.items():
            if name in _UNSLOTH_LORA:
                _read_value(result, "lora", name, value, wrapped.name)
            elif name == "use_gradient_checkpointing" and value not in (None, False):
                result.set("training", "gradient_checkpointing", True, f"{wrapped.name}(use_gradient_checkpointing={value!r})")
            elif name != "max_seq_length" and value is not None:
                result.not_read.append(f"{wrapped.name}({name}={describe(value)}): no LoraConfig setting")
    elif wrapped is not None:
        value = wrapped.argument(1, "peft_config")
        config = trace(value, lambda c: c.short == "LoraConfig")
        if config is not None:
            _read_call(result, config, "lora")
        else:
            result.not_read.append(f"lora: get_peft_model(..., {describe(value)}) is not a LoraConfig built in this file")
    elif loader is None and not isinstance(model, str):
        result.not_read.append("lora: the model is made outside this file, so whether it trains LoRA adapters is "
                               "not known; add a lora section for LoRA")
    else:
        result.read.append("lora: none (the code trains the whole model)")


def _read_dataset(result: ImportResult, value: Value, where: str) -> None:
    """dataset.path (and subset, split, template) from where the training data was loaded."""
    source = trace(value, lambda c: c.short in _DATA_SOURCES)
    if value is None:
        result.not_read.append(f"dataset: {where} is given no train_dataset that this file builds; set dataset.path")
        return
    if source is None:
        result.not_read.append(f"dataset: {where}(train_dataset={describe(value)}) is not loaded from a literal file "
                               "or Hub id in this file; set dataset.path")
        return
    _read_data_source(result, source)
    mapped = trace(value, lambda c: c.short == "map" and bool(c.args) and isinstance(c.args[0], FunctionValue))
    if mapped is not None:
        _read_formatting(result, mapped.args[0], "dataset.map")


def _read_data_source(result: ImportResult, call: Call) -> None:
    """dataset.path from load_dataset(...) or Dataset.from_json/csv/parquet(...); data built in code is listed."""
    if call.short in _DATA_BUILDERS:
        result.not_read.append(f"dataset: built in code with {call.name}(...); set dataset.path to a data file")
        return
    name = call.argument(0, "path") if call.short == "load_dataset" else call.short.removeprefix("from_")
    files = call.argument(0, "path_or_paths") if call.short in _FILE_READERS else call.kwargs.get("data_files")
    if isinstance(files, dict):
        files = files.get("train")
    if isinstance(files, list) and len(files) == 1:
        files = files[0]
    if name in ("json", "csv", "parquet", "text") and isinstance(files, str):
        result.set("dataset", "path", files, f"{call.short}({name!r}, ...)" if call.short == "load_dataset" else call.name)
    elif isinstance(name, str) and name not in ("json", "csv", "parquet", "text"):
        result.set("dataset", "path", name, "load_dataset")
        subset = call.argument(1, "name")
        if isinstance(subset, str):
            result.set("dataset", "subset", subset, "load_dataset")
    else:
        result.not_read.append(f"dataset: {call.name}({describe(name)}, data_files={describe(files)}) names no single "
                               "literal file or Hub id; set dataset.path")
        return
    split = call.kwargs.get("split")
    if isinstance(split, str) and split != "train":
        result.set("dataset", "split", split, call.short)


def _read_formatting(result: ImportResult, value: Value, where: str) -> None:
    found = _template_of(value) if isinstance(value, FunctionValue) else None
    name = describe(value)
    if found is None and isinstance(value, FunctionValue) and any(
            isinstance(node, ast.Attribute) and node.attr == "apply_chat_template" for node in ast.walk(value.node)):
        result.set("dataset", "template", "chat-template", f"{name}: tokenizer.apply_chat_template")
        return
    if found is None:
        result.not_read.append(f"{where} {name}: not an Alpaca-style template sft-wizard knows; set dataset.template")
        return
    template, extra = found
    result.set("dataset", "template", template, f"{name}'s headers")
    result.raw["dataset"]["format"] = "alpaca"
    if extra:
        shown = extra if len(extra) <= 60 else extra[:57] + "..."
        result.not_read.append(f"dataset.template: the code's prompt also holds {shown!r}, which the {template} "
                               "template does not write")
    # A formatting function yields whole texts, so the loss covered the prompt too.
    result.set("training", "completion_only_loss", False, f"{where}: the code trains on the whole text")


def _template_of(function: FunctionValue) -> tuple[str, str] | None:
    """The Alpaca template whose headers the function's prompt holds, and any other text of that prompt."""
    prompts: list[str] = []
    for node in ast.walk(function.node):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            prompts.append(node.value)
        elif isinstance(node, ast.JoinedStr):
            prompts.append("".join(str(p.value) for p in node.values if isinstance(p, ast.Constant)))
        elif isinstance(node, ast.Name) and isinstance(bound := function.scope.lookup(node.id), str):
            prompts.append(bound)
    for name, pattern in ALPACA_TEMPLATES.items():
        headers = [line for line in pattern["with_input"].splitlines() if line.startswith("###")]
        for prompt in prompts + ["".join(prompts)]:
            if all(h in prompt for h in headers):
                extra = prompt if prompt in prompts else ""
                for header in headers:
                    extra = extra.replace(header, "")
                return name, re.sub(r"\{\w*\}", "", extra).strip()
    return None


def _read_calls(result: ImportResult, calls: list[Call]) -> None:
    """Code without a trainer: the last configuration call of each kind, the first model and dataset loaded."""
    for callee, section in _SECTIONS.items():
        found = [c for c in calls if c.short == callee]
        if found and not (section == "training" and result.raw["training"]):
            _read_call(result, found[-1], section)
    loader = next((c for c in calls if _is_model_loader(c)), None)
    if loader is not None:
        _read_loader(result, loader)
    source = next((c for c in calls if c.short in _DATA_SOURCES), None)
    if source is not None:
        _read_data_source(result, source)


def preset_from_code(path: str, name: str | None = None) -> ImportedPreset:
    """Read tutorial code into a run config."""
    return finish_preset(import_python_code(path), path, name)
