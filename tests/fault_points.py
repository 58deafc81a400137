"""Faults at planned points, shared by the crash tests and benchmarks/fault_campaign.py.

KILL_DURING_SAVE kills the training process with SIGKILL inside a checkpoint save; died_after makes a copy of a
finished run directory as it would be had its process died after a given step's checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from engine.record.events import read_events

KILL_DURING_SAVE = """
import os, signal, sys
from transformers import Trainer
save = Trainer._save_optimizer_and_scheduler
def dying(self, output_dir):  # the model is written, the optimizer state not yet: kill -9 now
    if self.state.global_step == int(sys.argv[1]):
        os.kill(os.getpid(), signal.SIGKILL)
    return save(self, output_dir)
Trainer._save_optimizer_and_scheduler = dying
from engine.cli.main import main
sys.exit(main(sys.argv[2:]))
"""
"""`python -c KILL_DURING_SAVE STEP train ...`: the command line, killed while saving checkpoint-STEP."""


def died_after(finished: Path, run_dir: Path, step: int) -> Path:
    """A copy of the finished run at run_dir as if its process died after step `step`'s checkpoint."""
    shutil.copytree(finished, run_dir)
    shutil.rmtree(run_dir / "final")
    for later in run_dir.glob("checkpoint-*"):
        if int(later.name.split("-")[1]) > step:
            shutil.rmtree(later)
    events = [e for e in read_events(run_dir) if e["event"] != "end" and e.get("step", 0) <= step]
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return run_dir
