"""Finishing a run whose training reached its last step but that ended before final/ was whole (killed writing it).

Resuming it trains nothing more: the Trainer would have saved the model as it was after the last step (or,
with load_best_model_at_end, the best checkpoint's), and that checkpoint holds exactly those files. They are
copied into a staging folder and renamed to final/, replacing whatever part of final/ was written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from engine.atomic import replace_folder
from engine.config.run_config import RunConfig
from engine.errors import UserError
from engine.record.checkpoints import STAGING_PREFIX, WEIGHT_FILES, WEIGHT_INDEXES, checkpoint_problem, is_training_state


def final_source(checkpoint: str | Path, config: RunConfig) -> Path:
    """The checkpoint final/ is made from: the last one, or the best one when the run loads the best at its end."""
    last = Path(checkpoint)
    if not config.training.get("load_best_model_at_end"):
        return last
    try:
        best = json.loads((last / "trainer_state.json").read_bytes()).get("best_model_checkpoint")
    except (OSError, ValueError, AttributeError):
        best = None
    return Path(best) if best and checkpoint_problem(best) is None else last


def write_final(source: Path, final: Path) -> None:
    """Copy a checkpoint's model files (not its optimizer, scheduler and trainer state) to final/, whole or not at all."""
    if not any((source / name).is_file() for name in (*WEIGHT_FILES, *WEIGHT_INDEXES)):
        raise UserError(f"{source} holds its weights only in shards (FSDP sharded state dict), which final/ cannot "
                        f"be made from here; gather them with `accelerate merge-weights {source} OUTPUT`.")
    staging = final.with_name(f"{STAGING_PREFIX}{final.name}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    for path in source.iterdir():
        if is_training_state(path):
            continue
        if path.is_dir():
            shutil.copytree(path, staging / path.name)
        else:
            shutil.copy2(path, staging / path.name)
    replace_folder(staging, final)
