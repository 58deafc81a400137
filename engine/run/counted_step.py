"""One real SFTTrainer training step of a config, with random weights, counted tensor by tensor (see allocation_count).

It runs where it is (the CPU here) in the precision the run would have on a bf16 GPU, through the
same model loading, PEFT wrapping, fused LM head and optimizer that `train` uses. The peak counted
is over two optimizer steps, so the second step's forward runs with the optimizer states in place; it
starts when training does, after loading (random initialisation briefly holds more than a checkpoint load).
"""

from __future__ import annotations

import shutil
import tempfile
from typing import TYPE_CHECKING

from engine.fit.allocation_count import AllocationCount, counting_mode
from engine.machine.precision import PrecisionDecision

if TYPE_CHECKING:
    from transformers import TrainerCallback

    from engine.config.run_config import RunConfig

GPU_PRECISION = PrecisionDecision("bfloat16", "bf16", False, "the precision of a bf16 GPU, run on the CPU")
STEPS = 2


def _phase_callback(count: AllocationCount) -> "TrainerCallback":
    """A TrainerCallback that labels the count's phases: forward and backward, optimizer step."""
    from transformers import TrainerCallback

    class _Phases(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            count.begin(f"step {state.global_step + 1} forward+backward")

        def on_pre_optimizer_step(self, args, state, control, **kwargs):
            count.begin(f"step {state.global_step + 1} optimizer")

        def on_step_end(self, args, state, control, **kwargs):
            count.begin("between steps")

    return _Phases()


def count_training_step(config: "RunConfig", precision: PrecisionDecision = GPU_PRECISION) -> AllocationCount:
    """The live tensor bytes of loading `config`'s model with random weights and training STEPS steps on full rows."""
    from engine.libraries import quiet_libraries
    from engine.run.probe import PROBE_TRAINING_ARGS, _random_model, _synthetic_rows, _tokenizer
    from engine.run.trainer import build_trainer

    quiet_libraries()
    count = AllocationCount()
    tokenizer = _tokenizer(config, random_init=True)
    with counting_mode(count):
        count.begin("loading")
        model = _random_model(config, precision)
        count.add_tensors(list(model.parameters()) + list(model.buffers()))
        batch = int(config.training_value("per_device_train_batch_size") or 1)
        length = int(config.training_value("max_length") or 1024)
        rows = _synthetic_rows(int(model.config.get_text_config().vocab_size), length, batch * STEPS)
        folder = tempfile.mkdtemp(prefix="sft-wizard-count-")
        try:
            trainer = build_trainer(config, precision, model, tokenizer, rows, None, folder, on_gpu=False,
                                    callbacks=[_phase_callback(count)],
                                    extra_args=PROBE_TRAINING_ARGS | {"max_steps": STEPS})
            count.add_tensors(list(trainer.model.parameters()))
            count.restart_peak("training")
            trainer.train()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return count
