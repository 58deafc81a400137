"""Reading tutorial code into a preset with `ast`, never executing it.

Keyword arguments of TrainingArguments/SFTConfig, LoraConfig, BitsAndBytesConfig and
SFTTrainer become preset settings; `from_pretrained("...")` gives the model; an Alpaca-style
formatting function gives the template. What is not a literal is reported by name.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config.templates import ALPACA_TEMPLATES
from engine.errors import UserError

_SECTIONS = {"TrainingArguments": "training", "SFTConfig": "training", "Seq2SeqTrainingArguments": "training",
             "LoraConfig": "lora", "BitsAndBytesConfig": "quantization"}
_WELL_KNOWN = {"torch.bfloat16": "bfloat16", "torch.float16": "float16", "torch.float32": "float32",
               "torch.half": "float16", "torch.float": "float32", "torch.bf16": "bfloat16"}
# SFTTrainer keyword arguments that are references to objects built elsewhere in the code.
_TRAINER_REFERENCES = {"model", "args", "train_dataset", "eval_dataset", "peft_config", "formatting_func",
                       "data_collator", "callbacks", "compute_metrics", "optimizers", "processing_class"}


@dataclass
class ImportResult:
    """The preset data read from code, and what was read and not read."""

    raw: dict[str, Any]
    read: list[str] = field(default_factory=list)
    not_read: list[str] = field(default_factory=list)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _literal(node: ast.AST) -> tuple[bool, Any]:
    name = _dotted(node)
    if name in _WELL_KNOWN:
        return True, _WELL_KNOWN[name]
    try:
        return True, ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return False, None


def _template_from_function(function: ast.FunctionDef) -> str | None:
    text = "".join(
        part.value for node in ast.walk(function) if isinstance(node, ast.JoinedStr)
        for part in node.values if isinstance(part, ast.Constant) and isinstance(part.value, str)
    ) + "".join(node.value for node in ast.walk(function) if isinstance(node, ast.Constant) and isinstance(node.value, str))
    for name, pattern in ALPACA_TEMPLATES.items():
        headers = [line for line in pattern["with_input"].splitlines() if line.startswith("###")]
        if all(h in text for h in headers):
            return name
    return None


def import_snippet(path: str) -> ImportResult:
    """Read a Python file into raw preset data (validated by the caller)."""
    try:
        source = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}.") from None
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise UserError(f"{path}: not valid Python at line {exc.lineno}: {exc.msg}. sft-wizard reads code without "
                        "running it, so notebook lines such as `!pip install` must be commented out.") from None
    result = ImportResult(raw={"training": {}, "lora": None, "quantization": None, "dataset": {}, "model": {}})
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        callee = _dotted(node.func)
        short = callee.rsplit(".", 1)[-1]
        if short in _SECTIONS:
            _read_kwargs(result, node, _SECTIONS[short], short)
        elif short == "SFTTrainer":
            _read_trainer(result, node, functions)
        elif short == "from_pretrained" and node.args:
            ok, value = _literal(node.args[0])
            if ok and isinstance(value, str) and "name_or_path" not in result.raw["model"]:
                result.raw["model"]["name_or_path"] = value
                result.read.append(f"model.name_or_path = {value!r} (from {callee})")
            elif not ok:
                result.not_read.append(f"model id in {callee}({ast.unparse(node.args[0])}) is not a literal")
        elif short == "load_dataset" and node.args:
            ok, value = _literal(node.args[0])
            if ok and isinstance(value, str):
                result.raw["dataset"]["path"] = value
                result.read.append(f"dataset.path = {value!r} (from load_dataset)")
        elif short in ("from_dict", "from_list", "from_pandas") and "Dataset" in callee:
            result.not_read.append(f"dataset: built in code with {callee}(...); set dataset.path to a data file")
    if "name_or_path" not in result.raw["model"]:
        result.not_read.append("model: no from_pretrained(\"...\") with a literal id; set model.name_or_path")
    if result.raw["lora"] is None:
        result.raw.pop("lora")
    return result


def _read_kwargs(result: ImportResult, call: ast.Call, section: str, callee: str) -> None:
    target = result.raw.get(section)
    if target is None:
        target = result.raw[section] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            result.not_read.append(f"{callee}(**{ast.unparse(keyword.value)}): unpacked arguments")
            continue
        ok, value = _literal(keyword.value)
        if ok:
            target[keyword.arg] = value
            result.read.append(f"{section}.{keyword.arg} = {value!r} (from {callee})")
        else:
            result.not_read.append(f"{section}.{keyword.arg} = {ast.unparse(keyword.value)} (from {callee}) is not a literal")


def _read_trainer(result: ImportResult, call: ast.Call, functions: dict[str, ast.FunctionDef]) -> None:
    for keyword in call.keywords:
        name = keyword.arg
        if name == "formatting_func":
            function = functions.get(_dotted(keyword.value))
            template = _template_from_function(function) if function else None
            if template:
                result.raw["dataset"]["template"] = template
                result.raw["dataset"]["format"] = "alpaca"
                result.read.append(f"dataset.template = {template} (from {_dotted(keyword.value)}'s headers)")
                # A formatting function yields whole texts, so the loss covered the prompt too.
                result.raw["training"].setdefault("completion_only_loss", False)
                result.read.append("training.completion_only_loss = False (formatting_func trains on the whole text)")
            else:
                result.not_read.append(f"formatting_func {ast.unparse(keyword.value)}: not an Alpaca-style template "
                                       "sft-wizard knows; set dataset.template")
            continue
        if name in ("tokenizer", "processing_class"):
            result.read.append(f"SFTTrainer {name}=: the tokenizer now comes from model.name_or_path (processing_class)")
            continue
        if name in _TRAINER_REFERENCES or name is None:
            continue
        ok, value = _literal(keyword.value)
        if ok:
            result.raw["training"][name] = value
            result.read.append(f"training.{name} = {value!r} (from SFTTrainer)")
        else:
            result.not_read.append(f"SFTTrainer {name}={ast.unparse(keyword.value)} is not a literal")


@dataclass
class ImportedPreset:
    """Tutorial code read into a run config, with what still needs the user."""

    result: ImportResult
    config: Any
    """The RunConfig (fields the code does not set are left empty, never invented)."""
    warnings: list[str]
    to_complete: list[str]
    """Problems to fix before training, such as a model or dataset the code did not name."""


def preset_from_code(path: str, name: str | None = None) -> ImportedPreset:
    """Read tutorial code into a run config: the one import the command line and the wizard share."""
    from engine.config.parsing import parse_config_collecting

    result = import_snippet(path)
    name = name or Path(path).stem
    result.raw["name"] = name
    result.raw["description"] = f"imported from {Path(path).name}"
    result.raw.setdefault("model", {}).setdefault("name_or_path", "")
    result.raw.setdefault("dataset", {}).setdefault("path", "")
    result.raw.setdefault("training", {}).setdefault("output_dir", f"runs/{name}")
    config, warnings, to_complete = parse_config_collecting(result.raw, path)
    return ImportedPreset(result, config, warnings, to_complete)
