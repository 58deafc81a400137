"""The TrainerCallback that turns trainer state into events and obeys stop/save/pause requests."""

from __future__ import annotations

import math
import time
from typing import Any

from transformers import TrainerCallback

from engine.machine.telemetry import MemorySampler
from engine.record.events import EventWriter
from engine.run.control import RunControl, take_request


class EventCallback(TrainerCallback):
    """Writes start/log/eval/checkpoint events and applies RunControl between steps."""

    def __init__(self, writer: EventWriter, control: RunControl, sampler: MemorySampler, start_fields: dict):
        self.writer = writer
        self.run_control = control
        self.sampler = sampler
        self.start_fields = start_fields
        self.failure: str | None = None
        self._last_tokens: tuple[float, float, int] | None = None
        """(tokens seen, time, step) at the previous log, for throughput."""
        self.train_summary: dict = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        self.writer.emit("start", total_steps=state.max_steps, start_step=state.global_step,
                         num_train_epochs=args.num_train_epochs, **self.start_fields)
        self.writer.emit("status", phase="training")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        rc = self.run_control
        self._take_file_requests(args.output_dir)
        if rc.paused.is_set():
            self.writer.emit("status", phase="paused")
            while rc.paused.is_set() and not rc.stop_requested.is_set():
                self._take_file_requests(args.output_dir)
                time.sleep(0.1)
            if not rc.stop_requested.is_set():
                self.writer.emit("status", phase="training")
        if rc.checkpoint_requested.is_set():
            rc.checkpoint_requested.clear()
            control.should_save = True
        if rc.stop_requested.is_set():
            control.should_save = True
            control.should_training_stop = True
            self.writer.emit("status", phase="stopping")

    def _take_file_requests(self, run_dir: str) -> None:
        """Requests from `sft-wizard attach` in another process arrive as files in the run directory."""
        rc = self.run_control
        if take_request(run_dir, "stop"):
            rc.request_stop("stopped from an attached monitor")
        if take_request(run_dir, "checkpoint"):
            rc.request_checkpoint()
        if take_request(run_dir, "pause"):
            rc.paused.set()
        if take_request(run_dir, "resume"):
            rc.paused.clear()

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        if any(k.startswith("eval_") for k in logs):
            metrics = {k: v for k, v in logs.items() if k.startswith("eval_")}
            self.writer.emit("eval", step=state.global_step, epoch=state.epoch, **metrics)
            return
        if "train_runtime" in logs:
            self.train_summary = dict(logs)
            return
        loss = logs.get("loss")
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
        self.writer.emit("log", step=state.global_step, total_steps=state.max_steps, epoch=state.epoch, loss=loss,
                         learning_rate=logs.get("learning_rate"), grad_norm=logs.get("grad_norm"),
                         tokens_per_second=tokens_per_second, samples_per_second=samples_per_second, num_tokens=tokens,
                         process_cpu_seconds=time.process_time(),  # throughput per CPU-second on a shared machine
                         **extra, **self.sampler.sample())
        if isinstance(loss, float) and not math.isfinite(loss):
            self.failure = (f"the loss became {loss} at step {state.global_step}: training diverged. Lower "
                            "training.learning_rate, keep max_grad_norm on, or use bf16 instead of fp16.")
            control.should_training_stop = True

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.writer.emit("checkpoint", step=state.global_step, path=f"{args.output_dir}/checkpoint-{state.global_step}")

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and not self.run_control.stop_requested.is_set():
            self.writer.emit("status", phase="training")
