"""Rules across fields, checked before any model loads; each problem names the fix."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config.dataset_rules import dataset_problems
from engine.config.distributed_rules import distributed_hardware_problems, distributed_problems, distributed_warnings
from engine.problems import Problem

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.machine.hardware import HardwareReport

_INTEGRATIONS = {"wandb": "wandb", "tensorboard": "tensorboard", "mlflow": "mlflow", "comet_ml": "comet_ml",
                 "clearml": "clearml", "dvclive": "dvclive", "neptune": "neptune", "trackio": "trackio",
                 "swanlab": "swanlab", "codecarbon": "codecarbon", "azure_ml": "azureml", "dagshub": "dagshub"}


def _positive(config: "RunConfig", key: str, minimum: float, strict: bool, problems: list[Problem], source: str) -> None:
    value = config.training.get(key)
    if value is None:
        return
    bad = value <= minimum if strict else value < minimum
    if bad:
        relation = ">" if strict else ">="
        problems.append(Problem(f"training.{key} = {value!r} must be {relation} {minimum:g}.", (f"training.{key}",),
                                source=source))


def check_config_rules(config: "RunConfig", source: str) -> tuple[list[Problem], list[str]]:
    """Problems and warnings that follow from the config alone (no hardware, no model)."""
    problems = [
        *_number_problems(config, source),
        *_precision_problems(config, source),
        *_evaluation_problems(config, source),
        *_save_best_problems(config, source),
        *_load_best_problems(config, source),
        *_quantization_problems(config, source),
        *_lora_problems(config, source),
        *_model_and_dataset_problems(config, source),
        *_report_to_problems(config, source),
        *distributed_problems(config, source),
    ]
    return problems, _config_warnings(config) + distributed_warnings(config)


def _number_problems(config: "RunConfig", source: str) -> list[Problem]:
    """Training numbers outside their range: rates, batch sizes, lengths, epochs, step intervals, clipping."""
    problems: list[Problem] = []
    _positive(config, "learning_rate", 0, True, problems, source)
    for key in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
        _positive(config, key, 1, False, problems, source)
    _positive(config, "max_length", 1, False, problems, source)
    _positive(config, "num_train_epochs", 0, True, problems, source)
    for key in ("save_steps", "eval_steps", "logging_steps"):
        _positive(config, key, 0, True, problems, source)
    max_grad_norm = config.training.get("max_grad_norm")
    if max_grad_norm is not None and max_grad_norm < 0:
        problems.append(Problem(f"training.max_grad_norm = {max_grad_norm!r} must be >= 0", ("training.max_grad_norm",),
                                "(0 turns clipping off).", source))
    return problems


def _precision_problems(config: "RunConfig", source: str) -> list[Problem]:
    """Mixed-precision flags that contradict each other (fp16 and bf16 both on)."""
    t = config.training
    if t.get("fp16") is True and t.get("bf16") is True:
        return [Problem("training.fp16 and training.bf16 are both true;", ("training.fp16", "training.bf16"),
                        "choose one (or leave both out for auto).", source)]
    return []


def _evaluation_problems(config: "RunConfig", source: str) -> list[Problem]:
    """An eval strategy without evaluation data, or evaluation data given twice or as a bad share."""
    problems: list[Problem] = []
    dataset = config.dataset
    eval_strategy = config.training_value("eval_strategy")
    has_eval_data = dataset.eval_split is not None or dataset.eval_path or dataset.eval_sources
    if eval_strategy != "no" and not has_eval_data:
        problems.append(Problem(f"training.eval_strategy = {eval_strategy!r} needs evaluation data:",
                                ("training.eval_strategy", "dataset.eval_split"),
                                "set dataset.eval_split (e.g. 0.1) or dataset.eval_path.", source))
    given = [key for key in ("eval_split", "eval_path", "eval_sources") if getattr(dataset, key) not in (None, [])]
    if len(given) > 1:
        problems.append(Problem(f"dataset.{' and dataset.'.join(given)} are {'both' if len(given) == 2 else 'all'} set;",
                                tuple(f"dataset.{key}" for key in given), "use one.", source))
    if dataset.eval_split is not None and not 0 < dataset.eval_split < 1:
        problems.append(Problem(f"dataset.eval_split = {dataset.eval_split!r} must be between 0 and 1 (a share of rows).",
                                ("dataset.eval_split",), source=source))
    return problems


def _save_best_problems(config: "RunConfig", source: str) -> list[Problem]:
    """save_strategy best with no metric to judge "best" by, or no evaluation to compute it (the trainer refuses both)."""
    value = config.training_value
    if value("save_strategy") != "best":
        return []
    problems: list[Problem] = []
    metric_defaults = value("load_best_model_at_end") or value("lr_scheduler_type") in ("reduce_lr_on_plateau", "greedy")
    if value("metric_for_best_model") is None and not metric_defaults:
        problems.append(Problem("training.save_strategy = 'best' needs training.metric_for_best_model, the metric that "
                                "decides which checkpoint is best;", ("training.metric_for_best_model", "training.save_strategy"),
                                "set it (e.g. --set training.metric_for_best_model=eval_loss) or use save_strategy steps.",
                                source))
    if value("eval_strategy") == "no":
        problems.append(Problem("training.save_strategy = 'best' saves when an evaluation finds a better metric, but "
                                "training.eval_strategy is 'no';", ("training.eval_strategy", "training.save_strategy"),
                                "set training.eval_strategy (e.g. steps) and give evaluation data.", source))
    return problems


def _load_best_problems(config: "RunConfig", source: str) -> list[Problem]:
    """load_best_model_at_end without evaluation, or with save and eval strategies/steps that do not line up."""
    value = config.training_value
    if not value("load_best_model_at_end"):
        return []
    eval_strategy = value("eval_strategy")
    save_strategy = value("save_strategy")
    fields = ("training.load_best_model_at_end", "training.eval_strategy", "training.save_strategy")
    if eval_strategy == "no":
        return [Problem("training.load_best_model_at_end needs evaluation:", fields,
                        f"set training.eval_strategy to {save_strategy!r} (the save strategy) and give evaluation data.",
                        source)]
    if save_strategy == "best":  # the trainer saves on every new best: no strategies to line up
        return []
    if save_strategy != eval_strategy:
        return [Problem(f"training.load_best_model_at_end needs save_strategy ({save_strategy!r}) and "
                        f"eval_strategy ({eval_strategy!r}) to match.", fields, source=source)]
    if eval_strategy == "steps":
        save_steps = value("save_steps")
        eval_steps = config.training.get("eval_steps") or value("logging_steps")
        if save_steps and eval_steps and save_steps >= 1 and eval_steps >= 1 and save_steps % eval_steps:
            return [Problem(f"training.load_best_model_at_end needs save_steps ({save_steps:g}) to be a "
                            f"multiple of eval_steps ({eval_steps:g});", ("training.save_steps", "training.eval_steps"),
                            f"e.g. save_steps: {eval_steps * max(1, round(save_steps / eval_steps)):g}.", source)]
    return []


def _quantization_problems(config: "RunConfig", source: str) -> list[Problem]:
    """A quantization section with no or both bit widths, an unknown 4-bit type or dtype, or no LoRA to train."""
    problems: list[Problem] = []
    q = config.quantization or {}
    if q.get("load_in_4bit") and q.get("load_in_8bit"):
        problems.append(Problem("quantization.load_in_4bit and quantization.load_in_8bit are both true;",
                                ("quantization.load_in_4bit", "quantization.load_in_8bit"), "choose one.", source))
    if q and not (q.get("load_in_4bit") or q.get("load_in_8bit")):
        problems.append(Problem("quantization is set but neither load_in_4bit nor load_in_8bit is true;",
                                ("quantization.load_in_4bit",),
                                "set one, or `quantization: null` for 16-bit weights.", source))
    if q.get("bnb_4bit_quant_type") not in (None, "nf4", "fp4"):
        problems.append(Problem(f"quantization.bnb_4bit_quant_type = {q['bnb_4bit_quant_type']!r} must be nf4 or fp4.",
                                ("quantization.bnb_4bit_quant_type",), source=source))
    if q and config.lora is None:
        problems.append(Problem("a quantized model cannot be fully fine-tuned;", ("lora", "quantization"),
                                "set `lora:` (QLoRA) or `quantization: null`.", source))
    return problems + _quantization_dtype_problems(q, source)


def _quantization_dtype_problems(q: dict, source: str) -> list[Problem]:
    """bnb_4bit_compute_dtype or bnb_4bit_quant_storage values that name no torch dtype."""
    return [Problem(f"quantization.{key} = {q[key]!r} is not a torch dtype;", (f"quantization.{key}",),
                    f"use one of: {', '.join(torch_dtype_names())}.", source)
            for key in ("bnb_4bit_compute_dtype", "bnb_4bit_quant_storage")
            if q.get(key) is not None and not is_torch_dtype_name(q[key])]


_COMMON_DTYPE_NAMES = frozenset({"bfloat16", "float16", "float32", "float64", "uint8", "int8", "int16", "int32"})
"""Names every torch has, answered without importing torch (config rules run on the UI thread)."""


def is_torch_dtype_name(name: object) -> bool:
    """Whether torch has a dtype of this name (`getattr(torch, name)`); imports torch only for uncommon names."""
    if not isinstance(name, str):
        return False
    if name in _COMMON_DTYPE_NAMES:
        return True
    import torch

    return isinstance(getattr(torch, name, None), torch.dtype)


def torch_dtype_names() -> list[str]:
    """Every dtype name torch has, sorted (bfloat16, float16, float32, uint8, ...)."""
    import torch

    return sorted(name for name in dir(torch) if isinstance(getattr(torch, name, None), torch.dtype))


def _lora_problems(config: "RunConfig", source: str) -> list[Problem]:
    """LoRA rank and dropout outside their ranges."""
    problems: list[Problem] = []
    lora = config.lora or {}
    if "r" in lora and lora["r"] < 1:
        problems.append(Problem(f"lora.r = {lora['r']!r} must be >= 1.", ("lora.r",), source=source))
    if "lora_dropout" in lora and not 0 <= lora["lora_dropout"] < 1:
        problems.append(Problem(f"lora.lora_dropout = {lora['lora_dropout']!r} must be in [0, 1).", ("lora.lora_dropout",),
                                source=source))
    return problems


def _model_and_dataset_problems(config: "RunConfig", source: str) -> list[Problem]:
    """An empty model path, or a dataset (each source of a mixture) that cannot be read as given."""
    problems: list[Problem] = []
    if not config.model.name_or_path:
        problems.append(Problem("model.name_or_path is empty;", ("model.name_or_path",),
                                "give a Hub id, a local directory or tiny-demo.", source))
    return problems + dataset_problems(config.dataset, source)


def _report_to_problems(config: "RunConfig", source: str) -> list[Problem]:
    """report_to integrations whose package is not installed."""
    problems: list[Problem] = []
    for name in _report_targets(config.training_value("report_to")):
        module = _INTEGRATIONS.get(name)
        if module and importlib.util.find_spec(module) is None:
            problems.append(Problem(f"training.report_to includes {name!r}, but the {module} package is not installed;",
                                    ("training.report_to",), f"`pip install {module}` or --set training.report_to=none.",
                                    source))
    return problems


def _config_warnings(config: "RunConfig") -> list[str]:
    """Settings that are allowed but have surprising effects (auto_find_batch_size, push_to_hub)."""
    warnings: list[str] = []
    t = config.training
    if t.get("auto_find_batch_size"):
        warnings.append("training.auto_find_batch_size halves the batch on OOM without raising gradient accumulation, "
                        "which silently changes the effective batch size; `sft-wizard estimate` suggests a batch that fits instead.")
    if t.get("push_to_hub"):
        warnings.append("training.push_to_hub needs network access to the Hub and a token.")
    return warnings


def _report_targets(report_to: object) -> list[str]:
    if report_to in (None, "none"):
        return []
    if isinstance(report_to, str):
        return [report_to]
    return [str(x) for x in report_to or []]


def needs_bitsandbytes(config: "RunConfig") -> dict[str, object]:
    """The settings of this config that need bitsandbytes and a CUDA GPU, with their values."""
    needs: dict[str, object] = {}
    q = config.quantization or {}
    for key in ("load_in_4bit", "load_in_8bit"):
        if q.get(key):
            needs[f"quantization.{key}"] = True
    optim = str(config.training_value("optim"))
    if "8bit" in optim or "paged" in optim or "bnb" in optim:
        needs["training.optim"] = optim
    return needs


def _named(needs: dict[str, object]) -> str:
    """`quantization.load_in_4bit and training.optim = paged_adamw_8bit`: the settings as the user wrote them."""
    return " and ".join(name if value is True else f"{name} = {value}" for name, value in needs.items())


def check_hardware_rules(config: "RunConfig", hardware: "HardwareReport", source: str) -> list[Problem]:
    """Problems running this config on this machine's hardware (each with the fix)."""
    problems = []
    gpu = hardware.training_gpu
    bnb_needs = needs_bitsandbytes(config)
    if bnb_needs and gpu is None:
        fixes = []
        if any(name.startswith("quantization.") for name in bnb_needs):
            fixes.append("--set quantization=null")
        if "training.optim" in bnb_needs:
            fixes.append("--set training.optim=adamw_torch")
        problems.append(Problem(f"{_named(bnb_needs)} need bitsandbytes on a CUDA GPU, and this machine has none "
                                f"({hardware.nvml_error or 'no visible GPU'}).", tuple(bnb_needs),
                                f"Run it on a GPU machine, or use {' '.join(fixes)}.", source))
    elif bnb_needs and importlib.util.find_spec("bitsandbytes") is None:
        problems.append(Problem(f"{_named(bnb_needs)} need bitsandbytes;", tuple(bnb_needs),
                                "`pip install bitsandbytes`.", source))
    if config.training.get("fp16") is True and gpu is None:
        problems.append(Problem("training.fp16 needs a CUDA GPU, and this machine has none;", ("training.fp16",),
                                "use --set training.fp16=false (fp32 on CPU) or leave fp16/bf16 out for auto.", source))
    wants_bf16 = config.training.get("bf16") is True or config.model.dtype == "bfloat16"
    if wants_bf16 and gpu is not None and not gpu.bf16:
        cc = ".".join(map(str, gpu.compute_capability))
        problems.append(Problem(f"bf16 was asked for, but {gpu.name} (compute capability {cc}) has no native bf16 "
                                "(it needs 8.0+);", ("training.bf16", "model.dtype"),
                                "use fp16 (--set training.bf16=false --set training.fp16=true "
                                "--set model.dtype=float16) or leave precision on auto.", source))
    return problems + deepspeed_problems(config, source) + distributed_hardware_problems(config, hardware, source)


def deepspeed_problems(config: "RunConfig", source: str) -> list[Problem]:
    """training.deepspeed where the deepspeed package is not installed, or names a config file that is not there."""
    value = config.training.get("deepspeed")
    if not value:
        return []
    if importlib.util.find_spec("deepspeed") is None:
        return [Problem(f"training.deepspeed = {value!r} needs DeepSpeed, which is not installed here;",
                        ("training.deepspeed",), "`pip install deepspeed` (CUDA machines), or --set training.deepspeed=null "
                        "(one GPU trains without it; to shard across GPUs, distributed.strategy: fsdp needs no extra "
                        "package).", source)]
    if isinstance(value, str) and not Path(value).expanduser().is_file():
        return [Problem(f"training.deepspeed = {value!r}: no such DeepSpeed config file (looked from {Path.cwd()});",
                        ("training.deepspeed",), "give the path of its JSON file, or --set training.deepspeed=null.",
                        source)]
    return []
