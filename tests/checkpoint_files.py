"""Checkpoint folders for tests that need no training: the files a LoRA checkpoint has, small but well formed."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path


def whole_checkpoint(folder: Path, step: int = 1, max_steps: int = 100) -> Path:
    """A checkpoint-like folder the completeness rule accepts: state, adapter, optimizer, scheduler, RNG state."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": max_steps}))
    (folder / "adapter_config.json").write_text(json.dumps({"r": 8}))
    write_safetensors(folder / "adapter_model.safetensors")
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        write_zip(folder / name)
    return folder


def write_safetensors(path: Path, values: int = 4) -> None:
    """A safetensors file of one float32 tensor."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [values], "data_offsets": [0, 4 * values]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * (4 * values))


def write_zip(path: Path) -> None:
    """A zip archive, the container torch.save writes."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")


def cut_short(path: Path, keep: float = 0.5) -> None:
    """Truncate a file to a share of its length, as a kill or a full disk leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
