"""`check`: every problem a run would hit, found without loading anything heavier than a tokenizer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, TypeVar

from engine.config.resolve import resolve_precision
from engine.config.rules import check_hardware_rules
from engine.errors import UserError, raise_problems
from engine.machine.hardware import hardware_report
from engine.problems import Problem

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from engine.config.run_config import RunConfig
    from engine.data.label.lengths import LengthStats
    from engine.data.preview import Sample
    from engine.machine.hardware import HardwareReport

T = TypeVar("T")


@dataclass
class CheckReport:
    """What `check` found: problems (each with its fix), warnings and facts worth showing."""

    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    precision: str = ""
    stats: "LengthStats | None" = None
    sample: "Sample | None" = None
    """The asked-for training row as the trainer's collator hands it over (engine.data.preview.Sample)."""

    def raise_problems(self) -> None:
        """Raise the UserError listing every problem found, if any."""
        raise_problems(self.problems)


def full_check(config: "RunConfig", hardware: "HardwareReport | None" = None, sample: int | None = None) -> CheckReport:
    """Check hardware fit, the model's modules against LoRA targets, and the data; cut row `sample` into its parts."""
    from engine.libraries import quiet_libraries

    report = CheckReport()
    hardware = hardware or hardware_report()
    report.problems += check_hardware_rules(config, hardware, "preset")
    report.problems += _run_dir_problems(config)
    precision, notes = resolve_precision(config, hardware)
    report.precision = f"{precision.mixed if precision.mixed != 'no' else precision.dtype} — {precision.reason}"
    report.warnings += notes
    quiet_libraries(training=sample is not None)  # only the sample's collator view needs trl's trainer (and peft)
    tokenizer = _collect(report, lambda: _check_model(config, report))
    _collect(report, lambda: _check_kernels(config, report))
    _collect(report, lambda: _check_data(config, tokenizer, report, sample))
    return report


def _run_dir_problems(config: "RunConfig") -> list[Problem]:
    """An earlier run in the run directory, or one that cannot be written: `train` would refuse it."""
    from engine.record.rundir import run_dir_of, run_dir_problem

    problem = run_dir_problem(run_dir_of(config))
    return [] if problem is None else [problem]


def _collect(report: CheckReport, step: Callable[[], T]) -> T | None:
    try:
        return step()
    except UserError as exc:
        report.problems += exc.problems
        return None


def _check_model(config: "RunConfig", report: CheckReport) -> "PreTrainedTokenizerBase | None":
    from engine.models.architecture import lora_targets
    from engine.models.hub import load_tokenizer
    from engine.models.structure import model_structure

    structure = model_structure(config.model)
    report.facts.append(f"model: {structure.model_type}, {structure.total_params / 1e6:,.1f}M parameters, "
                        f"{structure.num_layers} layers, vocabulary {structure.vocab_size:,}")
    if config.lora is not None:
        targets = lora_targets(structure, config.lora.get("target_modules"))
        report.facts.append(f"LoRA targets: {', '.join(targets)}")
    return _collect(report, lambda: load_tokenizer(config.model))


def _check_kernels(config: "RunConfig", report: CheckReport) -> None:
    """Whether the model would load with Hub kernels here (model.use_kernels); `true` that cannot be met is a problem."""
    from engine.models.kernels import decide_model_kernels

    decision = decide_model_kernels(config.model)
    report.facts.append(f"Hub kernels: {'on' if decision.enabled else 'off'} ({decision.reason})")


def _check_data(config: "RunConfig", tokenizer: "PreTrainedTokenizerBase | None", report: CheckReport, sample: int | None) -> None:
    from engine.data.pipeline import prepare_for_training
    from engine.data.preview import CHECKED_ROWS, row_sample, source_tokens

    data = prepare_for_training(config, tokenizer, rows=CHECKED_ROWS)
    report.facts.append(f"data: {data.format} format, template {data.template}, {len(data.train)} train / "
                        f"{len(data.eval) if data.eval is not None else 0} eval rows"
                        f"{f' (masks checked on the first {CHECKED_ROWS})' if len(data.train) > CHECKED_ROWS else ''}")
    if len(data.sources) > 1:
        for entry in source_tokens(data):
            held = f", {entry['eval_rows']} eval" if entry["eval_rows"] else ""
            share = entry["learned_share"]
            report.facts.append(f"source {entry['path']}: {entry['rows']} rows read, {entry['train_rows']} trained{held}"
                                + (f", {share:.0%} of the learned tokens" if share is not None else ""))
    report.facts += data.notes
    if data.stats is not None:
        report.stats = data.stats
        report.facts.append(f"token lengths: median {data.stats.median}, p95 {data.stats.p95}, max {data.stats.max} "
                            f"(max_length {data.stats.max_length})")
    report.warnings += data.warnings
    if sample is not None and tokenizer is not None:
        report.sample = row_sample(data, sample, tokenizer, config)
