"""Running one fine-tuning run: checks, data, model, SFTTrainer, run directory and events.

Everything a user can get wrong is checked before the run directory is created, so a bad
config or bad data never leaves a half-written run behind.
"""

from __future__ import annotations

import logging
import os
import traceback
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from engine import __version__
from engine.atomic import write_text_atomic
from engine.build import lora_kwargs, resolve_precision, sft_kwargs
from engine.config import RunConfig
from engine.errors import EXIT_FAILURE, EXIT_OK, EXIT_STOPPED, UserError
from engine.events import EVENTS_FILE, EventWriter, Listener, read_events, run_status
from engine.hardware import HardwareReport, hardware_report
from engine.rules import check_hardware_rules
from engine.schema import library_versions
from engine.yamlio import dump_yaml

RUN_FILE = "run.yaml"
FINAL_DIR = "final"
ERROR_LOG = "error.log"


@dataclass
class RunResult:
    """How a run ended."""

    status: str
    """completed, stopped or failed."""
    exit_code: int
    run_dir: str
    final_dir: str | None
    message: str


def quiet_libraries() -> None:
    """Silence tqdm bars and chatty library logs; warnings still reach the log handlers."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # CPU kernel notices on import
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft)(\..*)?")
    from engine.heavy import load_libraries

    load_libraries()
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_warning()


def latest_checkpoint(run_dir: str) -> str | None:
    """The newest checkpoint-N folder of a run directory."""
    checkpoints = sorted(Path(run_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1)
    return str(checkpoints[-1]) if checkpoints else None


def _check_run_dir(run_dir: Path, resume: str | bool | None) -> str | None:
    """Refuse to clobber an earlier run; return the checkpoint to resume from, if any."""
    if resume:
        if isinstance(resume, str) and resume not in ("latest", ""):
            if not (Path(resume) / "trainer_state.json").is_file():
                raise UserError(f"--resume {resume}: not a checkpoint folder (no trainer_state.json).")
            return resume
        checkpoint = latest_checkpoint(str(run_dir))
        if checkpoint is None:
            raise UserError(f"--resume: {run_dir} has no checkpoint-N folder to resume from.")
        return checkpoint
    if (run_dir / EVENTS_FILE).exists() or latest_checkpoint(str(run_dir)):
        status = run_status(read_events(run_dir))
        raise UserError(f"{run_dir} already holds a run ({status}); resume it with --resume, or choose another "
                        "directory with --output-dir (or training.output_dir).")
    return None


def run_training(config: RunConfig, *, output_dir: str | None = None, resume: str | bool | None = None,
                 listeners: list[Listener] | None = None, control: Any = None,
                 hardware: HardwareReport | None = None, estimate: dict | None = None,
                 on_writer: Callable[[EventWriter], None] | None = None) -> RunResult:
    """Train config to the end (or until stopped); UserError for anything the user must fix."""
    quiet_libraries()
    from engine.callback import EventCallback
    from engine.control import RunControl

    control = control or RunControl()
    run_dir = Path(output_dir or config.output_dir)
    hardware = hardware or hardware_report()
    problems = check_hardware_rules(config, hardware, "preset")
    if problems:
        raise UserError(problems[0], problems)
    precision, precision_notes = resolve_precision(config, hardware)
    checkpoint = _check_run_dir(run_dir, resume)

    from engine.data import check_lengths, length_stats, prepare_data
    from engine.models import load_tokenizer

    tokenizer = load_tokenizer(config.model)
    data = prepare_data(config.dataset, tokenizer)
    max_length = config.training_value("max_length")
    data.warnings += check_lengths(length_stats(data.train, tokenizer, max_length), f"dataset {config.dataset.path}")
    data.warnings += precision_notes

    if estimate is None:
        estimate = _estimate_record(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    writer = EventWriter(run_dir, listeners)
    if on_writer:
        on_writer(writer)
    if not checkpoint:
        _write_run_file(run_dir, config, precision, hardware, data, estimate)
    elif (run_dir / RUN_FILE).is_file():
        from engine.yamlio import load_yaml

        estimate = (load_yaml((run_dir / RUN_FILE).read_text(encoding="utf-8")) or {}).get("estimate") or estimate
    try:
        estimate_bytes = estimate.get("total_bytes") if isinstance(estimate, dict) else None
        return _train(config, run_dir, checkpoint, precision, hardware, data, tokenizer, writer, control, EventCallback,
                      estimate_bytes)
    except UserError as exc:
        writer.emit("end", status="failed", final_path=None, message=str(exc))
        raise
    except BaseException as exc:
        (run_dir / ERROR_LOG).write_text(traceback.format_exc(), encoding="utf-8")
        message = _failure_message(exc)
        writer.emit("end", status="failed", final_path=None, message=message)
        if isinstance(exc, KeyboardInterrupt):
            return RunResult("stopped", EXIT_STOPPED, str(run_dir), None, "interrupted without saving")
        return RunResult("failed", EXIT_FAILURE, str(run_dir), None, f"{message} (traceback in {run_dir / ERROR_LOG})")
    finally:
        writer.close()


def _estimate_record(config: RunConfig) -> dict | None:
    """The memory estimate for run.yaml; an estimator problem never blocks training."""
    try:
        from engine.memory_cli import fit_for_config

        return fit_for_config(config).to_dict()
    except Exception as exc:  # the estimate is advice, not a precondition
        return {"error": f"{type(exc).__name__}: {exc}"}


def _failure_message(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:400]
    if "out of memory" in text.lower():
        return f"CUDA out of memory. {text} Run `sft-wizard estimate` for a batch size that fits."
    return text


def _write_run_file(run_dir: Path, config: RunConfig, precision: Any, hardware: HardwareReport, data: Any,
                    estimate: dict | None) -> None:
    from engine.probe import saved_probe

    gpu = hardware.training_gpu
    record = {
        "config": config.to_dict(),
        "precision": asdict(precision),
        "device": gpu.name if gpu else f"cpu ({hardware.cpu_count} cores)",
        "data": {"format": data.format, "template": data.template, "train_rows": len(data.train),
                 "eval_rows": len(data.eval) if data.eval is not None else 0, "warnings": data.warnings},
        "estimate": estimate,
        "probe": saved_probe(config),
        "versions": {"sft-wizard": __version__, **library_versions()},
    }
    write_text_atomic(run_dir / RUN_FILE, dump_yaml(record))


def _train(config: RunConfig, run_dir: Path, checkpoint: str | None, precision: Any, hardware: HardwareReport,
           data: Any, tokenizer: Any, writer: EventWriter, control: Any, callback_cls: Any,
           estimate_bytes: int | None) -> RunResult:
    from engine.models import load_model
    from engine.telemetry import MemorySampler

    gpu = hardware.training_gpu
    for warning in data.warnings:
        writer.emit("status", phase="warning", message=warning)
    writer.emit("status", phase="loading model")
    model = load_model(config.model, precision, config.quantization)
    sampler = MemorySampler("cuda" if gpu is not None else "cpu")
    start_fields = {"num_train_examples": len(data.train), "num_eval_examples": len(data.eval) if data.eval is not None else 0,
                    "precision": precision.mixed if precision.mixed != "no" else precision.dtype,
                    "precision_reason": precision.reason,
                    "device": gpu.name if gpu else "cpu", "device_total_bytes": gpu.total_bytes if gpu else hardware.ram_total_bytes,
                    "resumed_from": checkpoint, "run_dir": str(run_dir), "name": config.name, "pid": os.getpid(),
                    "estimate_bytes": estimate_bytes}
    callback = callback_cls(writer, control, sampler, start_fields)
    writer.emit("status", phase="tokenizing")
    trainer = build_trainer(config, precision, model, tokenizer, data.train, data.eval, str(run_dir),
                            on_gpu=gpu is not None, callbacks=[callback])
    trainer.train(resume_from_checkpoint=checkpoint)

    if callback.failure:
        writer.emit("end", status="failed", final_path=None, message=callback.failure,
                    last_checkpoint=latest_checkpoint(str(run_dir)))
        return RunResult("failed", EXIT_FAILURE, str(run_dir), None, callback.failure)
    writer.emit("status", phase="saving")
    final_dir = run_dir / FINAL_DIR
    trainer.save_model(str(final_dir))
    tokenizer.save_pretrained(str(final_dir))
    stopped = control.stop_requested.is_set()
    status = "stopped" if stopped else "completed"
    summary = _summary(run_dir, callback.train_summary)
    summary["global_step"] = trainer.state.global_step
    message = control.stop_reason if stopped else "training completed"
    writer.emit("end", status=status, final_path=str(final_dir), message=message, **summary)
    return RunResult(status, EXIT_STOPPED if stopped else EXIT_OK, str(run_dir), str(final_dir), message)


def build_trainer(config: RunConfig, precision: Any, model: Any, tokenizer: Any, train: Any, evaluation: Any,
                  output_dir: str, on_gpu: bool, callbacks: list, extra_args: dict | None = None) -> Any:
    """The SFTTrainer for a config: the one place trainer arguments are assembled."""
    from peft import LoraConfig
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import SFTConfig, SFTTrainer

    try:
        args = SFTConfig(**{**sft_kwargs(config, precision, output_dir, on_gpu), **(extra_args or {})})
    except (ValueError, TypeError) as exc:
        raise UserError(f"training settings rejected by trl.SFTConfig: {exc}") from None
    lora = lora_kwargs(config)
    try:
        trainer = SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=evaluation,
                             processing_class=tokenizer, peft_config=LoraConfig(**lora) if lora else None,
                             callbacks=callbacks)
    except ValueError as exc:
        raise UserError(f"SFTTrainer rejected the setup: {exc}") from None
    trainer.remove_callback(PrinterCallback)  # the event stream prints instead
    trainer.remove_callback(ProgressCallback)
    return trainer


def _summary(run_dir: Path, train_logs: dict) -> dict:
    events = read_events(run_dir)
    losses = [e for e in events if e["event"] == "log" and isinstance(e.get("loss"), (int, float))]
    evals = [e for e in events if e["event"] == "eval" and isinstance(e.get("eval_loss"), (int, float))]
    best = min(evals, key=lambda e: e["eval_loss"]) if evals else None
    return {
        "final_loss": losses[-1]["loss"] if losses else None,
        "first_loss": losses[0]["loss"] if losses else None,
        "best_eval_loss": best["eval_loss"] if best else None,
        "best_eval_step": best["step"] if best else None,
        "train_runtime": train_logs.get("train_runtime"),
        "global_step": (losses[-1]["step"] if losses else None),
    }
