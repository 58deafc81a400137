"""The run directory: its file names, run.yaml, the latest checkpoint, and refusing to clobber an earlier run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import UserError
from engine.record.checkpoints import (
    CHECKPOINT_NAME,
    INCOMPLETE_PREFIX,
    STAGING_PREFIX,
    TRAINER_STATE,
    CheckpointChoice,
    checkpoint_folders,
    checkpoint_problem,
    choose_checkpoint,
)
from engine.record.events import EVENTS_FILE, read_events
from engine.record.liveness import ALIVE, Liveness, death_note, read_liveness, run_status
from engine.record.run_index import record_run
from engine.yamlio import YamlError, load_yaml

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.yamlio import YamlValue
    from engine.problems import Problem

RUN_FILE = "run.yaml"
FINAL_DIR = "final"
ERROR_LOG = "error.log"


_RUN_FILE_FIX = ("It records the run's resolved config: restore it from a backup, or, to resume a run that did not "
                 "complete, move it aside (--resume writes it again from the preset).")


def run_dir_of(config: "RunConfig", output_dir: str | None = None) -> Path:
    """The run directory: output_dir (--output-dir) or training.output_dir, `~` expanded as SFTConfig does.

    A relative directory stays relative to the working directory training starts in, as it is for SFTConfig;
    the run index records it absolute.
    """
    return Path(os.path.expanduser(output_dir or config.output_dir))


def create_run_dir(run_dir: Path) -> None:
    """Make the run directory and add it to the run index, so `sft-wizard runs` lists it wherever it is."""
    run_dir.mkdir(parents=True, exist_ok=True)
    record_run(run_dir)


def latest_checkpoint(run_dir: str | Path) -> str | None:
    """The newest whole checkpoint: the one resume starts from (a half-written or torn one is passed over).

    transformers' get_last_checkpoint takes the highest checkpoint-N, whole or not; this reads no more than
    the ends of the files (engine.record.checkpoints), so run lists and the monitor call it on the UI thread.
    """
    choice = checkpoint_choice(run_dir)
    return str(choice.path) if choice.path else None


def checkpoint_choice(run_dir: str | Path) -> CheckpointChoice:
    """The newest whole checkpoint of a run directory and the newer ones passed over, with why."""
    return choose_checkpoint(run_dir, model_only=_saves_model_only(run_dir))


def set_aside_incomplete(run_dir: str | Path) -> list[str]:
    """Before a resume: rename each incomplete checkpoint-N to incomplete-checkpoint-N and delete unfinished saves.

    Left in place, an incomplete checkpoint counts as the newest in the Trainer's rotation (save_total_limit),
    which would delete the whole ones written after it. Returns one line per folder, saying what and why.
    """
    folder = Path(run_dir)
    model_only = _saves_model_only(folder)
    lines = []
    for path in checkpoint_folders(folder):
        why = checkpoint_problem(path, model_only)
        if why is None:
            continue
        aside = path.with_name(f"{INCOMPLETE_PREFIX}{path.name}")
        shutil.rmtree(aside, ignore_errors=True)
        path.rename(aside)
        lines.append(f"{path.name} is incomplete ({why}): not resumed from; set aside as {aside.name}")
    for unfinished in sorted(folder.glob(f"{STAGING_PREFIX}checkpoint-*")):
        shutil.rmtree(unfinished, ignore_errors=True)
        lines.append(f"{unfinished.name}: a checkpoint save that never finished, deleted")
    return lines


def _saves_model_only(run_dir: str | Path) -> bool:
    """Whether the run saved checkpoints without optimizer state (training.save_only_model in its run.yaml)."""
    config = recorded(run_dir, "config")
    training = config.get("training") if isinstance(config, dict) else None
    return isinstance(training, dict) and training.get("save_only_model") is True


def read_run_file(run_dir: str | Path) -> dict:
    """run.yaml as data; UserError when the folder is not a run directory."""
    path = Path(run_dir) / RUN_FILE
    try:
        record = load_yaml(path.read_text(encoding="utf-8"))
    except OSError:
        raise UserError(f"{run_dir} has no {RUN_FILE}; is it an sft-wizard run directory?") from None
    except YamlError as exc:
        raise UserError(f"{path} is damaged: not YAML ({exc.problem}{exc.where}). {_RUN_FILE_FIX}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is damaged: byte {exc.start + 1} is not UTF-8. {_RUN_FILE_FIX}") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise UserError(f"{path} is not an sft-wizard run record (no `config` section).")
    return record


def run_config(run_dir: str | Path) -> "RunConfig":
    """The resolved config a run directory was trained with (from its run.yaml)."""
    from engine.config.parsing import parse_config

    return parse_config(read_run_file(run_dir)["config"], str(Path(run_dir) / RUN_FILE))[0]


def checkpoint_to_resume(run_dir: Path, resume: str | bool | None) -> str | None:
    """Refuse a run directory a live process trains in, or an earlier run's; return the checkpoint to resume from."""
    events = read_events(run_dir) if (run_dir / EVENTS_FILE).exists() else []
    life = read_liveness(run_dir)
    status = run_status(events, life)
    if life.state == ALIVE and status == "running":
        raise UserError(f"{run_dir} is being trained right now (pid {life.pid} on {life.host}); watch it with "
                        f"`sft-wizard attach {run_dir}`, or stop it with `sft-wizard stop {run_dir}`.")
    if resume and status == "completed":
        raise UserError(f"{run_dir} holds a completed run: there is nothing to resume (its model is in "
                        f"{run_dir / FINAL_DIR}). To train further, start a new run from it in another directory.")
    if resume:
        if (run_dir / RUN_FILE).exists():
            read_run_file(run_dir)  # a damaged record is said now, not after the run
        return resume_point(run_dir, resume)
    if _nothing_trained(events, status) and not latest_checkpoint(run_dir):
        return None  # nothing was trained: a new attempt appends to the same events.jsonl
    if events or checkpoint_folders(run_dir):
        raise UserError(_holds_a_run(run_dir, events, life, status))
    return None


def resume_point(run_dir: Path, resume: str | bool | None) -> str | None:
    """The checkpoint --resume names: a whole folder, or the run directory's newest whole one (None without --resume)."""
    if not resume:
        return None
    if isinstance(resume, str) and resume not in ("latest", ""):
        folder = Path(resume)
        if not folder.is_dir() or not ((folder / TRAINER_STATE).exists() or CHECKPOINT_NAME.search(folder.name)):
            raise UserError(f"--resume {resume}: not a checkpoint folder (no {TRAINER_STATE}).")
        problem = checkpoint_problem(folder, model_only=_saves_model_only(run_dir))
        if problem:
            raise UserError(f"--resume {resume}: this checkpoint is incomplete ({problem}); resume from an earlier "
                            f"checkpoint-N folder, or with --resume alone from the newest whole one.")
        return resume
    choice = checkpoint_choice(run_dir)
    if choice.path is None and choice.skipped:
        raise UserError(f"--resume: {run_dir} has no whole checkpoint to resume from; each one is incomplete "
                        f"({choice.skipped_text()}). Start the run again in another directory with --output-dir.")
    if choice.path is None:
        raise UserError(f"--resume: {run_dir} has no checkpoint-N folder to resume from.")
    return str(choice.path)


def run_dir_problem(run_dir: str | Path) -> "Problem | None":
    """What a fresh start in run_dir would be refused for (an earlier run, a live one, no way to write); None when free.

    `train` refuses exactly these before it writes anything; `check` and the wizard's Review ask first.
    """
    from engine.problems import Problem

    from engine.record.liveness import read_status

    folder = Path(run_dir)
    if holds_a_run(folder):
        # Said in settings, not command-line flags: the wizard's Review shows it beside its own buttons.
        status = read_status(folder)
        what = "a run being trained right now" if status == "running" else f"a {status} run"
        fix = "Wait for it, or train" if status == "running" else "Train"
        resume = " or resume that run" if status in ("stopped", "died", "failed") else ""
        return Problem(f"training.output_dir = {folder} already holds {what}.", ("training.output_dir",),
                       f"{fix} in a free directory ({free_run_dir(folder)}){resume}.")
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and (not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK)):
        what = "is not a folder" if not existing.is_dir() else "cannot be written"
        return Problem(f"training.output_dir = {run_dir}: {existing} {what}.", ("training.output_dir",),
                       "Choose a directory you can write.")
    return None


def holds_a_run(run_dir: str | Path) -> bool:
    """Whether a fresh start in run_dir would be refused because an earlier (or live) run is there."""
    try:
        checkpoint_to_resume(Path(run_dir), None)
    except UserError:
        return True
    return False


def free_run_dir(run_dir: str | Path) -> Path:
    """run_dir itself when a new run may start there, else the first free run_dir-2, run_dir-3, …"""
    folder = Path(run_dir)
    number = 1
    candidate = folder
    while holds_a_run(candidate):
        number += 1
        candidate = folder.with_name(f"{folder.name}-{number}")
    return candidate


def _holds_a_run(run_dir: Path, events: list[dict], life: Liveness, status: str) -> str:
    """Why a fresh start in run_dir is refused, and what to do instead."""
    elsewhere = "choose another directory with --output-dir (or training.output_dir)"
    if status != "died":
        return f"{run_dir} already holds a run ({status}); resume it with --resume, or {elsewhere}."
    choice = checkpoint_choice(run_dir)
    checkpoint = choice.path
    if checkpoint is None and choice.skipped:
        return (f"{run_dir} holds a run that {death_note(events, life)}, and no checkpoint of it is whole "
                f"({choice.skipped_text()}); {elsewhere}.")
    if checkpoint is None:
        return f"{run_dir} holds a run that {death_note(events, life)}, before any checkpoint; {elsewhere}."
    return (f"{run_dir} holds a run that {death_note(events, life)}; continue it from {Path(checkpoint).name} "
            f"with --resume, or {elsewhere}.")


def recorded(run_dir: str | Path, key: str) -> "YamlValue":
    """One top-level entry of a run's run.yaml, or None when there is no readable record."""
    try:
        return read_run_file(run_dir).get(key)
    except UserError:
        return None


def _nothing_trained(events: list[dict], status: str) -> bool:
    """Whether every attempt in these events failed or died before a single training step was logged."""
    return bool(events) and status in ("failed", "died") and not any(e.get("event") == "log" for e in events)
