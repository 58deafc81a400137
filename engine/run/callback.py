"""The TrainerCallbacks: one turns trainer state into events and obeys stop/save/pause requests, one keeps the model card.

With several ranks, rank 0 alone reads the request files and writes events; every request and
the NaN stop become one decision that all ranks take at the same step (engine.run.multi.world).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from engine.machine.telemetry import MemorySampler
from engine.record.events import EventWriter
from engine.record.rank_heartbeats import write_heartbeat
from engine.run.control import RunControl, take_request
from engine.run.model_card import write_model_card
from engine.run.multi.world import World, agree, gather, launcher_alive

if TYPE_CHECKING:
    from torch.optim import Optimizer
    from torch.optim.lr_scheduler import LRScheduler

STOP, CHECKPOINT, PAUSED = range(3)
PAUSE_TICK_SECONDS = 0.2
HEARTBEAT_SECONDS = 2.0


class EventCallback(TrainerCallback):
    """Writes start/log/eval/checkpoint events and applies RunControl between steps, agreed by every rank."""

    def __init__(self, writer: EventWriter, control: RunControl, sampler: MemorySampler, start_fields: dict,
                 world: World = World()):
        self.writer = writer
        self.run_control = control
        self.sampler = sampler
        self.start_fields = start_fields
        self.world = world
        self.failure: str | None = None
        self._last_tokens: tuple[float, float, int] | None = None
        """(tokens seen, time, step) at the previous log, for throughput."""
        self._last_heartbeat = 0.0
        self.train_summary: dict = {}

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: object) -> None:
        self._heartbeat(args, state, force=True)
        if not self.world.main:
            return
        self.writer.emit("start", total_steps=state.max_steps, start_step=state.global_step,
                         num_train_epochs=args.num_train_epochs, **self.start_fields)
        self.writer.emit("status", phase="training")

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: object) -> None:
        self._heartbeat(args, state)
        flags = self._agreed_flags(args.output_dir)
        if flags[PAUSED] and not flags[STOP]:
            self.writer.emit("status", phase="paused")
            while flags[PAUSED] and not flags[STOP]:  # every rank waits here together, ticking the collective
                time.sleep(PAUSE_TICK_SECONDS)
                flags = self._agreed_flags(args.output_dir)
            if not flags[STOP]:
                self.writer.emit("status", phase="training")
        if flags[CHECKPOINT]:
            control.should_save = True
        if flags[STOP]:
            self.run_control.request_stop(self.run_control.stop_reason or "stopped by a signal to another rank")
            control.should_save = True
            control.should_training_stop = True
            self.writer.emit("status", phase="stopping")

    def _agreed_flags(self, run_dir: str) -> list[int]:
        """[stop, checkpoint, paused] as every rank will act on them: rank 0's requests and any rank's signal."""
        rc = self.run_control
        if self.world.main:
            self._take_file_requests(run_dir)
        checkpoint = rc.checkpoint_requested.is_set()
        rc.checkpoint_requested.clear()
        return agree([int(rc.stop_requested.is_set()), int(checkpoint), int(rc.paused.is_set())])

    def _take_file_requests(self, run_dir: str) -> None:
        """Requests from `sft-wizard attach` in another process arrive as files in the run directory."""
        rc = self.run_control
        stop = take_request(run_dir, "stop")
        if stop:
            rc.request_stop("stopped from an attached monitor" if stop == "stop" else stop)
        if take_request(run_dir, "checkpoint"):
            rc.request_checkpoint()
        if take_request(run_dir, "pause"):
            rc.paused.set()
        if take_request(run_dir, "resume"):
            rc.paused.clear()
        if not rc.stop_requested.is_set() and not launcher_alive():
            rc.request_stop("stopped: the sft-wizard process that launched the ranks is gone")

    def _heartbeat(self, args: TrainingArguments, state: TrainerState, force: bool = False) -> None:
        """Leave this rank's step and time in the run directory (several ranks only; run.lock covers one process)."""
        now = time.time()
        if self.world.distributed and (force or now - self._last_heartbeat >= HEARTBEAT_SECONDS):
            self._last_heartbeat = now
            write_heartbeat(args.output_dir, self.world.rank, state.global_step)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: object) -> None:
        self._heartbeat(args, state, force=True)

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs: dict | None = None, **kwargs: object) -> None:
        if not logs:
            return
        if any(k.startswith("eval_") for k in logs):
            if self.world.main:
                metrics = {k: v for k, v in logs.items() if k.startswith("eval_")}
                self.writer.emit("eval", step=state.global_step, epoch=state.epoch, **metrics)
            return
        if "train_runtime" in logs:
            self.train_summary = dict(logs)
            return
        memory = self.sampler.sample()
        diverged = _diverged(logs)
        ranks = gather({"rank": self.world.rank, "step": state.global_step, "diverged": diverged, **memory})
        reported = next((r["diverged"] for r in ranks if r["diverged"]), None)
        if reported:  # the same gathered list on every rank: one decision, at this step, on all of them
            self.failure = (f"{reported} at step {state.global_step}: training diverged. Lower "
                            "training.learning_rate, keep max_grad_norm on, or use bf16 instead of fp16.")
            control.should_training_stop = True
        if self.world.main:
            self._emit_log(args, state, logs, memory, ranks)

    def _emit_log(self, args: TrainingArguments, state: TrainerState, logs: dict, memory: dict, ranks: list[dict]) -> None:
        """The `log` event: trainer metrics, throughput, rank 0's memory and, with several ranks, every rank's."""
        now = time.time()
        tokens_per_second = samples_per_second = None
        tokens = logs.get("num_tokens", getattr(state, "num_input_tokens_seen", None))
        if self._last_tokens and now > self._last_tokens[1]:
            elapsed = now - self._last_tokens[1]
            if tokens:
                tokens_per_second = (tokens - self._last_tokens[0]) / elapsed
            samples_per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
            samples_per_second = (state.global_step - self._last_tokens[2]) * samples_per_step / elapsed
        self._last_tokens = (tokens or 0, now, state.global_step)
        extra = {k: v for k, v in logs.items() if k not in ("loss", "learning_rate", "grad_norm", "epoch", "num_tokens")}
        per_rank = {"ranks": [{k: v for k, v in r.items() if k != "diverged"} for r in ranks]} if self.world.distributed else {}
        self.writer.emit("log", step=state.global_step, total_steps=state.max_steps, epoch=state.epoch,
                         loss=logs.get("loss"), learning_rate=logs.get("learning_rate"), grad_norm=logs.get("grad_norm"),
                         tokens_per_second=tokens_per_second, samples_per_second=samples_per_second, num_tokens=tokens,
                         process_cpu_seconds=time.process_time(),  # throughput per CPU-second on a shared machine
                         **extra, **memory, **per_rank)

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: object) -> None:
        if self.world.main:
            self.writer.emit("checkpoint", step=state.global_step, path=f"{args.output_dir}/checkpoint-{state.global_step}")

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: object) -> None:
        if self.world.main and not self.run_control.stop_requested.is_set():
            self.writer.emit("status", phase="training")


class ModelCardCallback(TrainerCallback):
    """Puts the run's card back after each checkpoint: TRL writes its own to the run directory as it saves."""

    def __init__(self, run_dir: str | Path, card: str) -> None:
        self.run_dir = run_dir
        self.card = card

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: object) -> None:
        if state.is_world_process_zero:
            write_model_card(self.run_dir, self.card)


class ResumedLearningRate(TrainerCallback):
    """On resume, the rate the config asks for: the Trainer loads the scheduler's base rates from the checkpoint,
    so a changed (and allowed) training.learning_rate would silently be ignored."""

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       optimizer: "Optimizer | None" = None, lr_scheduler: "LRScheduler | None" = None, **kwargs: object) -> None:
        base_rates = getattr(lr_scheduler, "base_lrs", None)
        if optimizer is None or lr_scheduler is None or not base_rates or all(rate == args.learning_rate for rate in base_rates):
            return
        new = args.learning_rate
        for group, old in zip(optimizer.param_groups, base_rates):  # the schedule's factor kept, the base replaced
            group["lr"] = group["lr"] * new / old if old else new
            group["initial_lr"] = new
        lr_scheduler.base_lrs = [new] * len(base_rates)
        lr_scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]  # what get_last_lr() reports


def _diverged(logs: dict) -> str | None:
    """What went non-finite in a train log: the loss, or the gradient norm (the Trainer's logging_nan_inf_filter
    hides a NaN loss behind the running average, while the NaN gradients it leaves reach every rank)."""
    for key, name in (("loss", "the loss"), ("grad_norm", "the gradient norm")):
        value = logs.get(key)
        if isinstance(value, float) and not math.isfinite(value):
            return f"{name} became {value}"
    return None
