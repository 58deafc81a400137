"""Whether a checkpoint folder can be resumed from: every file the Trainer reads back is there and whole.

Cheap enough for the UI thread: JSON files are parsed, while for torch files (zip archives) and safetensors
files only their ends are read (the zip directory, the header and the length it promises). A torn write
(a kill, a full disk) cuts a file short, which these reads tell as torch.load and safetensors would.
The file names are transformers' (tests/test_checkpoints.py holds them to the library's constants).
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

CHECKPOINT_NAME = re.compile(r"^checkpoint\-(\d+)$")
"""transformers.trainer_utils._re_checkpoint: the names the Trainer saves and resumes from."""
STAGING_PREFIX = "tmp-"
"""A save in progress: tmp-checkpoint-N/ (engine.run.whole_checkpoints); transformers' glob checkpoint-* never sees it."""
INCOMPLETE_PREFIX = "incomplete-"
"""An incomplete checkpoint-N set aside when a run resumes, kept for whatever can be saved from it."""
TRAINER_STATE = "trainer_state.json"
OPTIMIZER_FILES = ("optimizer.pt", "optimizer.bin")
SCHEDULER = "scheduler.pt"
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "pytorch_model.bin")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
FSDP_MODEL = "pytorch_model_fsdp"
CHECKED_IF_PRESENT = ("adapter_config.json", "config.json", "scaler.pt")
RNG_STATE = re.compile(r"^rng_state(_\d+)?\.pth$")


@dataclass
class CheckpointChoice:
    """The newest whole checkpoint of a run directory, and the newer ones passed over with the reason."""

    path: Path | None = None
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def skipped_text(self) -> str:
        """The skipped checkpoints by name with their reasons, for one line of output."""
        return "; ".join(f"{path.name}: {why}" for path, why in self.skipped)


def checkpoint_step(path: str | Path) -> int | None:
    """The step in a checkpoint-N folder's name, or None for any other name."""
    match = CHECKPOINT_NAME.search(Path(path).name)
    return int(match[1]) if match else None


def checkpoint_folders(run_dir: str | Path) -> list[Path]:
    """The checkpoint-N folders of a run directory, newest (highest N) first."""
    folder = Path(run_dir)
    if not folder.is_dir():
        return []
    found = [path for path in folder.iterdir() if checkpoint_step(path) is not None and path.is_dir()]
    return sorted(found, key=lambda path: checkpoint_step(path) or 0, reverse=True)


def choose_checkpoint(run_dir: str | Path, model_only: bool = False) -> CheckpointChoice:
    """The newest checkpoint that is whole, with each newer one that is not and why.

    model_only: the run saved no optimizer state (training.save_only_model), so none is required.
    """
    choice = CheckpointChoice()
    for path in checkpoint_folders(run_dir):
        problem = checkpoint_problem(path, model_only)
        if problem is None:
            choice.path = path
            return choice
        choice.skipped.append((path, problem))
    return choice


def checkpoint_problem(folder: str | Path, model_only: bool = False) -> str | None:
    """Why the Trainer could not resume from this folder (a file missing, empty or cut short); None when whole."""
    folder = Path(folder)
    if not folder.is_dir():
        return "not a folder"
    checks = [_state_problem(folder), _weights_problem(folder)]
    if not model_only:
        checks.append(_optimizer_problem(folder))
    for name in CHECKED_IF_PRESENT:
        if (folder / name).exists():
            checks.append(_file_problem(folder / name))
    checks += [_torch_problem(path) for path in folder.iterdir() if RNG_STATE.match(path.name)]
    return next((problem for problem in checks if problem), None)


def holds_every_step(folder: str | Path) -> tuple[int, int] | None:
    """(global_step, max_steps) when a checkpoint's trainer_state.json says its training reached max_steps; else None."""
    try:
        state = json.loads((Path(folder) / TRAINER_STATE).read_bytes())
        step, max_steps = int(state["global_step"]), int(state["max_steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (step, max_steps) if 0 < max_steps <= step else None


def is_training_state(path: Path) -> bool:
    """Whether a file or folder of a checkpoint is there only to resume training (not part of the saved model)."""
    name = path.name
    return (name in (TRAINER_STATE, *OPTIMIZER_FILES, SCHEDULER, "scaler.pt", "latest", "zero_to_fp32.py")
            or bool(RNG_STATE.match(name)) or (path.is_dir() and ("optimizer" in name or name.startswith("global_step"))))


def _state_problem(folder: Path) -> str | None:
    """What is wrong with trainer_state.json (written last by the Trainer: its absence means an unfinished save)."""
    path = folder / TRAINER_STATE
    if not path.is_file():
        return f"no {TRAINER_STATE} (the save did not finish)"
    try:
        state = json.loads(path.read_bytes())
    except ValueError:
        return f"{TRAINER_STATE} is not valid JSON (cut short)"
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        return f"{TRAINER_STATE} has no global_step"
    return None


def _weights_problem(folder: Path) -> str | None:
    """What is wrong with the model or adapter weights: none there, or a file cut short."""
    files = [folder / name for name in WEIGHT_FILES if (folder / name).exists()]
    indexes = [folder / name for name in WEIGHT_INDEXES if (folder / name).exists()]
    sharded = [path for path in folder.iterdir() if path.name.startswith(FSDP_MODEL)]
    if not files and not indexes and not sharded:
        return "no model or adapter weights"
    for index in indexes:
        problem = _index_problem(index)
        if problem:
            return problem
    return next((problem for problem in map(_file_problem, files + sharded) if problem), None)


def _index_problem(index: Path) -> str | None:
    """A sharded model's index and every shard it names."""
    try:
        shards = set(json.loads(index.read_bytes())["weight_map"].values())
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"{index.name} is not valid JSON (cut short)"
    return next((problem for problem in (_file_problem(index.parent / name) for name in sorted(shards)) if problem),
                None)


def _optimizer_problem(folder: Path) -> str | None:
    """The optimizer and scheduler states: torch files, or the sharded folders FSDP and DeepSpeed write."""
    deepspeed = [path for path in folder.iterdir() if path.is_dir() and path.name.startswith("global_step")]
    sharded = [path for path in folder.iterdir() if path.is_dir() and "optimizer" in path.name]
    files = [folder / name for name in OPTIMIZER_FILES if (folder / name).exists()]
    if not (files or sharded or deepspeed):
        return f"no {OPTIMIZER_FILES[0]} (the save did not finish)"
    problem = next((p for p in map(_file_problem, files + sharded + deepspeed) if p), None)
    if problem or deepspeed:  # DeepSpeed keeps the scheduler in its own state
        return problem
    if not (folder / SCHEDULER).exists():
        return f"no {SCHEDULER} (the save did not finish)"
    return _file_problem(folder / SCHEDULER)


def _file_problem(path: Path) -> str | None:
    """Whether one file (or a sharded folder) is there and whole, by its kind."""
    if path.is_dir():
        return None if any(path.iterdir()) else f"{path.name}/ is empty"
    if not path.is_file():
        return f"{path.name} is missing"
    if path.stat().st_size == 0:
        return f"{path.name} is empty"
    if path.suffix == ".safetensors":
        return _safetensors_problem(path)
    if path.suffix == ".json":
        try:
            json.loads(path.read_bytes())
        except ValueError:
            return f"{path.name} is not valid JSON (cut short)"
        return None
    return _torch_problem(path)


def _torch_problem(path: Path) -> str | None:
    """A torch.save file is a zip archive whose directory is written last: a file cut short has none."""
    try:
        with zipfile.ZipFile(path) as archive:
            size = path.stat().st_size
            if any(info.header_offset + info.compress_size > size for info in archive.infolist()):
                return f"{path.name} is cut short ({size} bytes)"
    except (zipfile.BadZipFile, OSError, ValueError):
        return f"{path.name} is cut short or damaged ({_size(path)} bytes; torch.load would fail)"
    return None


def _safetensors_problem(path: Path) -> str | None:
    """A safetensors file: an 8-byte header length, a JSON header, then exactly the bytes the header promises."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as handle:
            (header_length,) = struct.unpack("<Q", handle.read(8))
            if 8 + header_length > size:
                raise ValueError("header beyond the end")
            header = json.loads(handle.read(header_length))
        ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    except (struct.error, ValueError, KeyError, TypeError, IndexError, AttributeError, OSError):
        return f"{path.name} is cut short or damaged ({size} bytes)"
    if 8 + header_length + max(ends, default=0) != size:
        return f"{path.name} is cut short ({size} of {8 + header_length + max(ends, default=0)} bytes)"
    return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
