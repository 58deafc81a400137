"""Running one fine-tuning run: checks, data, model, SFTTrainer, run directory and events.

Everything a user can get wrong is checked while planning, before the run directory is created,
so a bad config or bad data never leaves a half-written run behind.
"""

from __future__ import annotations

import os
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from engine import __version__
from engine.atomic import write_text_atomic
from engine.config.resolve import resolve_precision
from engine.config.rules import check_hardware_rules
from engine.config.run_config import RunConfig
from engine.config.schema import library_versions
from engine.errors import EXIT_FAILURE, EXIT_OK, EXIT_STOPPED, UserError, raise_problems
from engine.libraries import quiet_libraries
from engine.machine.gpu_choice import choose_training_gpu, choose_training_gpus
from engine.machine.hardware import HardwareReport, hardware_report
from engine.machine.oom import is_out_of_memory, release_memory
from engine.machine.precision import PrecisionDecision
from engine.models.kernels import KernelsDecision
from engine.record.checkpoints import checkpoint_step, holds_every_step
from engine.record.events import EventWriter, Listener, SilentWriter, read_event_log, read_events
from engine.record.rundir import (
    ERROR_LOG,
    FINAL_DIR,
    RUN_FILE,
    checkpoint_to_resume,
    latest_checkpoint,
    recorded,
    resume_point,
    run_dir_of,
    set_aside_incomplete,
)
from engine.record.resume_changes import Change, data_fingerprint, record_changes, refusal, resume_changes
from engine.record.state import RunState
from engine.run.disk_space import after_disk_full, hold_run_dir, is_disk_full
from engine.run.multi.world import World, join_ranks, this_world
from engine.run.trainer import TrainerArguments, build_trainer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, TrainerCallback

    from engine.data.pipeline import PreparedData
    from engine.run.control import RunControl
from engine.yamlio import dump_yaml


@dataclass
class RunRequest:
    """What a caller asks of run_training."""

    config: RunConfig
    output_dir: str | None = None
    """The run directory; training.output_dir when None."""
    resume: str | bool | None = None
    """A checkpoint folder, or True/"latest" for the run directory's latest checkpoint."""
    listeners: list[Listener] = field(default_factory=list)
    """Called with every event (the headless printer, the monitor's queue); they must never block."""
    control: "RunControl | None" = None
    """The RunControl that stop/pause/checkpoint requests arrive through."""
    hardware: Callable[[], HardwareReport] = hardware_report
    """Where the hardware report comes from (NVML; a fake in tests)."""
    gpu: str | None = None
    """The GPU to train on (CUDA index or UUID); None: the one with the most free memory."""
    on_writer: Callable[[EventWriter], None] | None = None
    """Called with the event writer once it exists (the monitor hooks library log capture there)."""
    allow_changes: bool = False
    """Resume even where settings that shape training differ from run.yaml's record (recorded there then)."""


@dataclass
class RunPlan:
    """Everything decided and checked before the run directory exists."""

    config: RunConfig
    run_dir: Path
    checkpoint: str | None
    precision: PrecisionDecision
    hardware: HardwareReport
    tokenizer: "PreTrainedTokenizerBase"
    data: "PreparedData"
    """The rows the trainer gets, with what was said about them."""
    estimate: dict | None
    arguments: TrainerArguments
    """SFTConfig and LoraConfig as the libraries accepted them while planning."""
    kernels: KernelsDecision
    """Whether the model loads with Hub kernels (model.use_kernels), decided once for the run."""
    trained_to: tuple[int, int] | None = None
    """(step, max_steps) when the checkpoint resumed from already holds every step: finish, train no more."""
    fingerprint: str | None = None
    """sha256 of the local data files, recorded in run.yaml so that a resume can tell changed data."""
    changes: list[Change] = field(default_factory=list)
    """Settings that shape training changed since run.yaml's record, allowed for this resume."""

    @property
    def estimate_bytes(self) -> int | None:
        """The estimated peak, when the estimate succeeded."""
        return self.estimate.get("total_bytes") if isinstance(self.estimate, dict) else None


@dataclass
class RunResult:
    """How a run ended."""

    status: str
    """completed, stopped or failed."""
    exit_code: int
    run_dir: str
    final_dir: str | None
    message: str


def plan_run(request: RunRequest, world: World = World()) -> RunPlan:
    """Check the machine, the run directory and the data, and decide precision; UserError for anything to fix.

    A rank of a launched run checks only what its launcher could not (the launcher checked the run directory).
    """
    hardware, gpu_note = _choose_gpus(request, world)  # before the libraries: importing bitsandbytes starts CUDA
    config = request.config
    run_dir = run_dir_of(config, request.output_dir)
    problems = check_hardware_rules(config, hardware, "preset")
    raise_problems(problems)
    precision, precision_notes = resolve_precision(config, hardware)
    # The run directory and a resume's changes are judged before the libraries are imported (seconds): a run
    # directory that is taken, or a resume on changed settings, is refused at once.
    owns_run_dir = world.main and not world.launched
    checkpoint = checkpoint_to_resume(run_dir, request.resume) if owns_run_dir else resume_point(run_dir, request.resume)
    events_note = read_event_log(run_dir).note(run_dir) if owns_run_dir else None
    trained_to = holds_every_step(checkpoint) if checkpoint else None
    fingerprint = data_fingerprint(config) if world.main else None  # it reads every data byte: the record is rank 0's
    changes = resume_changes(run_dir, config, fingerprint) if checkpoint and world.main and not trained_to else []
    if changes and owns_run_dir and not request.allow_changes:
        raise UserError(refusal(run_dir, changes))
    quiet_libraries()
    from engine.data.pipeline import prepare_for_training
    from engine.models.hub import load_tokenizer
    from engine.models.kernels import decide_model_kernels
    from engine.run.trainer import trainer_arguments

    arguments = trainer_arguments(config, precision, str(run_dir), hardware.training_gpu is not None)  # refusals come now
    kernels = decide_model_kernels(config.model)
    tokenizer = load_tokenizer(config.model)
    data = prepare_for_training(config, tokenizer)
    data.warnings += precision_notes + [note for note in (gpu_note, kernels.note, events_note) if note]
    estimate = (recorded(run_dir, "estimate") if checkpoint else None) or _estimate_record(config, hardware, precision)
    return RunPlan(config, run_dir, checkpoint, precision, hardware, tokenizer, data, estimate, arguments, kernels,
                   trained_to, fingerprint, changes)


def run_training(request: RunRequest) -> RunResult:
    """Train a config in this process (one process, or one rank of a launched run) to the end or until stopped.

    UserError for anything the user must fix. engine.run.multi.launcher.train_or_launch starts several ranks.
    """
    from engine.run.control import RunControl, discard_requests

    world = this_world()
    plan = plan_run(request, world)
    control = request.control or RunControl()
    if not world.main or world.launched:  # the launcher (or rank 0) holds the run directory
        return _train_in_run_dir(plan, request, control, world)
    if plan.trained_to:
        return finish_trained_run(plan, request)
    with hold_run_dir(plan.run_dir):  # run.lock held until the run ends; the OS drops it if this process dies
        discard_requests(plan.run_dir)
        return _train_in_run_dir(plan, request, control, world)


def finish_trained_run(plan: RunPlan, request: RunRequest) -> RunResult:
    """Resume of a run trained to its last step that never ended (killed writing final/): final/ from the checkpoint.

    Training again from there would run a step past max_steps and save over final/; the run ends `completed`.
    """
    from engine.run.finish import final_source, write_final

    step, max_steps = plan.trained_to or (0, 0)
    final_dir, source = plan.run_dir / FINAL_DIR, final_source(str(plan.checkpoint), plan.config)
    with hold_run_dir(plan.run_dir):
        writer = EventWriter(plan.run_dir, request.listeners)
        try:
            writer.emit("status", phase="warning", message=f"{Path(str(plan.checkpoint)).name} holds all {max_steps} "
                        f"steps: the run had finished training, so none is trained again; final/ is written from "
                        f"{source.name}. To train further, start a new run from final/ in another directory.")
            writer.emit("status", phase="saving")
            write_final(source, final_dir)
            message = f"training completed at step {step} of {max_steps}; final/ written from {source.name}"
            summary = {**RunState.from_events(read_events(plan.run_dir)).summary(), "global_step": step}
            writer.emit("end", status="completed", final_path=str(final_dir), message=message, **summary)
            return RunResult("completed", EXIT_OK, str(plan.run_dir), str(final_dir), message)
        except UserError as exc:
            writer.emit("end", status="failed", final_path=None, message=str(exc))
            raise
        except Exception as exc:
            (plan.run_dir / ERROR_LOG).write_text(traceback.format_exc(), encoding="utf-8")
            writer.emit("end", status="failed", final_path=None, message=_failure_message(exc))
            return RunResult("failed", EXIT_FAILURE, str(plan.run_dir), None,
                             f"{_failure_message(exc)} (traceback in {plan.run_dir / ERROR_LOG})")
        finally:
            writer.close()


def _choose_gpus(request: RunRequest, world: World) -> tuple[HardwareReport, str | None]:
    """The GPUs this process may use: one chosen GPU in one process; a launched rank's were chosen by its launcher."""
    if world.distributed:
        return request.hardware(), None
    if request.config.distributed.active:
        return choose_training_gpus(request.hardware(), request.config.distributed.processes, request.hardware)
    return choose_training_gpu(request.hardware(), request.gpu, request.hardware)


def _train_in_run_dir(plan: RunPlan, request: RunRequest, control: "RunControl", world: World = World()) -> RunResult:
    """Write the run's records (rank 0) and train, turning any failure into an `end` event."""
    writer = EventWriter(plan.run_dir, request.listeners) if world.main else SilentWriter()
    if request.on_writer and world.main:
        request.on_writer(writer)
    try:
        if world.main:
            _write_records(plan, writer)
        return _train(plan, writer, control, world)
    except UserError as exc:
        writer.emit("end", status="failed", final_path=None, message=str(exc))
        raise
    except BaseException as exc:
        log = ERROR_LOG if world.main else f"error-rank-{world.rank}.log"
        full = world.main and is_disk_full(exc, plan.run_dir)
        message = after_disk_full(plan.run_dir, exc) if full else _failure_message(exc)
        (plan.run_dir / log).write_text((f"{message}\n\n" if full else "") + traceback.format_exc(), encoding="utf-8")
        release_memory(exc)
        writer.emit("end", status="failed", final_path=None, message=message)
        if isinstance(exc, KeyboardInterrupt):
            return RunResult("stopped", EXIT_STOPPED, str(plan.run_dir), None, "interrupted without saving")
        return RunResult("failed", EXIT_FAILURE, str(plan.run_dir), None,
                         f"{message} (traceback in {plan.run_dir / log})")
    finally:
        writer.close()


def _write_records(plan: RunPlan, writer: EventWriter) -> None:
    """run.yaml for a new run (a resumed run keeps its own; one moved aside, damaged, is written again), and changes allowed on resume."""
    if not (plan.checkpoint and (plan.run_dir / RUN_FILE).exists()):
        _write_run_file(plan)
    if plan.changes:
        record_changes(plan.run_dir, plan.config, plan.changes, checkpoint_step(str(plan.checkpoint)) or 0,
                       plan.fingerprint)
        writer.emit("status", phase="warning", message="resumed with changed settings (recorded in run.yaml): "
                    + "; ".join(str(change) for change in plan.changes))


def _estimate_record(config: RunConfig, hardware: HardwareReport, precision: PrecisionDecision) -> dict | None:
    """The memory estimate for run.yaml, on the hardware and in the precision planned; it never blocks training."""
    try:
        from engine.fit.verdicts import default_targets, fit_report
        from engine.models.structure import model_structure

        return fit_report(config, model_structure(config.model), default_targets(hardware, None), precision.mixed).to_dict()
    except Exception as exc:  # the estimate is advice, not a precondition
        return {"error": f"{type(exc).__name__}: {exc}"}


def _failure_message(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()[0][:400]
    if is_out_of_memory(exc):
        return f"CUDA out of memory. {text} Run `sft-wizard estimate` for a batch size that fits."
    return text


def _write_run_file(plan: RunPlan) -> None:
    from engine.run.probe import saved_probe

    gpu, data = plan.hardware.training_gpu, plan.data
    record = {
        "config": plan.config.to_dict(),
        "precision": asdict(plan.precision),
        "kernels": plan.kernels.to_dict(),
        "device": gpu.name if gpu else f"cpu ({plan.hardware.cpu_count} cores)",
        "data": {"format": data.format, "template": data.template, "fingerprint": plan.fingerprint,
                 "train_rows": len(data.trained),
                 "eval_rows": len(data.evaluated) if data.evaluated is not None else 0,
                 "sources": data.source_counts(), "seed": plan.config.dataset.seed, "warnings": data.warnings,
                 "learned": data.notes},
        "estimate": plan.estimate,
        "probe": saved_probe(plan.config),
        "versions": {"sft-wizard": __version__, **library_versions()},
    }
    if plan.config.optimized:
        record["optimized"] = plan.config.optimized
    write_text_atomic(plan.run_dir / RUN_FILE, dump_yaml(record))


def _device_fields(plan: RunPlan) -> dict:
    """The device's memory when planned and the precision: what out-of-memory advice needs, even before the start."""
    gpu, precision = plan.hardware.training_gpu, plan.precision
    return {"precision": precision.mixed if precision.mixed != "no" else precision.dtype,
            "device_total_bytes": gpu.total_bytes if gpu else plan.hardware.ram_total_bytes,
            "device_free_bytes": gpu.free_bytes if gpu else plan.hardware.ram_available_bytes}


def _start_fields(plan: RunPlan, world: World) -> dict:
    """What the `start` event says about the run, beside the step counts the callback adds."""
    gpu, precision, data = plan.hardware.training_gpu, plan.precision, plan.data
    return {"num_train_examples": len(data.trained),
            "num_eval_examples": len(data.evaluated) if data.evaluated is not None else 0,
            "sources": data.source_counts(),
            "precision_reason": precision.reason, "device": gpu.name if gpu else "cpu", **_device_fields(plan),
            "resumed_from": plan.checkpoint, "run_dir": str(plan.run_dir), "name": plan.config.name,
            "pid": os.getpid(), "estimate_bytes": plan.estimate_bytes, "world_size": world.world_size,
            "strategy": plan.config.distributed.strategy if world.distributed else "single"}


def _train(plan: RunPlan, writer: EventWriter, control: "RunControl", world: World) -> RunResult:
    from engine.machine.telemetry import MemorySampler
    from engine.models.loading import load_model
    from engine.run.callback import EventCallback, ModelCardCallback, ResumedLearningRate
    from engine.run.model_card import model_card, write_model_card

    on_gpu = plan.hardware.training_gpu is not None
    set_aside = set_aside_incomplete(plan.run_dir) if plan.checkpoint and world.main else []
    for warning in plan.data.warnings + set_aside:
        writer.emit("status", phase="warning", message=warning)
    writer.emit("status", phase="loading model", **_device_fields(plan))  # an OOM while loading is advised on them
    if world.distributed:
        join_ranks(on_gpu)
    model = load_model(plan.config.model, plan.precision, plan.config.quantization, kernels=plan.kernels)
    callback = EventCallback(writer, control, MemorySampler("cuda" if on_gpu else "cpu"), _start_fields(plan, world),
                             world)
    card = model_card(plan.config)
    callbacks: list[TrainerCallback] = [callback, ModelCardCallback(plan.run_dir, card)] if world.main else [callback]
    if plan.checkpoint:
        callbacks.append(ResumedLearningRate())
    writer.emit("status", phase="tokenizing")
    trainer = build_trainer(plan.config, plan.precision, model, plan.tokenizer, plan.data.trained, plan.data.evaluated,
                            str(plan.run_dir), on_gpu=on_gpu, callbacks=callbacks, arguments=plan.arguments)
    trainer.train(resume_from_checkpoint=plan.checkpoint)

    if callback.failure:
        writer.emit("end", status="failed", final_path=None, message=callback.failure,
                    last_checkpoint=latest_checkpoint(plan.run_dir), global_step=trainer.state.global_step,
                    epoch=trainer.state.epoch)
        return RunResult("failed", EXIT_FAILURE, str(plan.run_dir), None, callback.failure)
    writer.emit("status", phase="saving")
    final_dir = plan.run_dir / FINAL_DIR
    trainer.save_model(str(final_dir))  # every rank: saving is collective under FSDP and ZeRO-3
    stopped = control.stop_requested.is_set() and trainer.state.global_step < trainer.state.max_steps  # else all ran
    status = "stopped" if stopped else "completed"
    message = control.stop_reason if stopped else "training completed"
    code = EXIT_STOPPED if stopped else EXIT_OK
    if not world.main:
        return RunResult(status, code, str(plan.run_dir), str(final_dir), message)
    plan.tokenizer.save_pretrained(str(final_dir))
    for folder in (plan.run_dir, final_dir):  # in place of TRL's card (a local base model is None there) and PEFT's blank
        write_model_card(folder, card)
    summary = RunState.from_events(read_events(plan.run_dir)).summary()
    summary["train_runtime"] = callback.train_summary.get("train_runtime")
    summary["global_step"] = trainer.state.global_step
    summary["epoch"] = trainer.state.epoch  # the last log came up to logging_steps earlier
    writer.emit("end", status=status, final_path=str(final_dir), message=message, **summary)
    return RunResult(status, code, str(plan.run_dir), str(final_dir), message)
