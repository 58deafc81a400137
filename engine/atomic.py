"""Atomic file writes: a temporary file (or folder) in the same directory, then a rename."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write text to path so readers see either the old file or the whole new one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_folder(staged: str | os.PathLike, final: str | os.PathLike) -> None:
    """Flush a staged folder to disk and rename it to final, replacing a folder of that name; readers see one or the other."""
    staged, final = Path(staged), Path(final)
    _flush_to_disk(staged)
    replaced = final.with_name(f"tmp-{final.name}-replaced")
    if final.exists():
        shutil.rmtree(replaced, ignore_errors=True)
        os.rename(final, replaced)
    os.rename(staged, final)
    _fsync(final.parent)
    shutil.rmtree(replaced, ignore_errors=True)


def _flush_to_disk(folder: Path) -> None:
    """fsync every file and folder under folder, so a rename never names data still in memory."""
    for root, _, files in os.walk(folder):
        for name in files:
            _fsync(Path(root) / name)
        _fsync(Path(root))


def _fsync(path: Path) -> None:
    """fsync one file or folder."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
