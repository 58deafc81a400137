"""Checkpoints that appear whole or not at all: written in tmp-checkpoint-N/, renamed to checkpoint-N when complete.

transformers 5 writes checkpoint-N in place, trainer_state.json last, so a kill, a second Ctrl-C or a full
disk during a save leaves a checkpoint-N that get_last_checkpoint resumes from. (transformers PR #27820 once
staged saves in tmp-checkpoint-N; that was taken out again.) Here the Trainer's own _save_checkpoint runs with
a staging folder as its output folder; once every rank has written its part, the process that saves flushes
the files to disk, renames the checkpoint into place and rotates old checkpoints as the Trainer would have.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints
from trl import SFTTrainer

from engine.atomic import replace_folder
from engine.record.checkpoints import STAGING_PREFIX

if TYPE_CHECKING:
    import optuna
    from torch import nn


class WholeCheckpointTrainer(SFTTrainer):
    """SFTTrainer whose checkpoint-N folders are complete whenever they exist."""

    _staging: str | None = None

    def _get_output_dir(self, trial: "optuna.Trial | dict[str, object] | None") -> str:
        return self._staging or super()._get_output_dir(trial)

    def _save_checkpoint(self, model: "nn.Module", trial: "optuna.Trial | dict[str, object] | None") -> None:
        run_dir = Path(super()._get_output_dir(trial))
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        staging = run_dir / f"{STAGING_PREFIX}{name}"
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)  # an earlier save of this step that never finished
        self.accelerator.wait_for_everyone()
        self._staging = str(staging)
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging = None
        self.accelerator.wait_for_everyone()  # every rank's part (RNG states, shards) is in the staging folder
        if self.args.should_save:
            self._name_best_checkpoint(staging, run_dir / name)
            replace_folder(staging / name, run_dir / name)  # an incomplete checkpoint-N of this step is replaced
            staging.rmdir()
            rotate_checkpoints(output_dir=str(run_dir), save_total_limit=self.args.save_total_limit,
                               best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=True)
        self.accelerator.wait_for_everyone()

    def _name_best_checkpoint(self, staging: Path, final: Path) -> None:
        """The best checkpoint as it will be named once in place, in the state and in the staged trainer_state.json."""
        best = self.state.best_model_checkpoint
        if best and Path(best).parent == staging:
            self.state.best_model_checkpoint = str(final)
            self.state.save_to_json(str(staging / final.name / "trainer_state.json"))
