"""A full disk: told apart from other failures, named with the path and what was kept, and room kept to say so.

While a run trains, its directory holds a small reserve file. When the disk fills, the reserve is given back
and the unfinished save removed, so that error.log and the `end` event can still be written (on a full disk a
traceback would be a 0-byte file and the run would look `died`).
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import UserError
from engine.record.checkpoints import STAGING_PREFIX
from engine.record.rundir import FINAL_DIR, create_run_dir, latest_checkpoint
from engine.units import human_bytes

RESERVE_FILE = ".space-reserve"
RESERVE_BYTES = 1 << 20
"""Room for error.log and the last events once the disk is full."""
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
FULL_TEXTS = ("no space left on device", "disk quota exceeded", "file too large", "storagefull")
"""How a full disk reads inside errors that lost their errno (torch.save, safetensors' Rust writer)."""


def _from_a_write(exc: BaseException) -> bool:
    """Whether an OSError or RuntimeError (what torch.save and safetensors raise) is in exc's chain, not out of memory."""
    from engine.machine.oom import is_out_of_memory

    if is_out_of_memory(exc):
        return False
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (OSError, RuntimeError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def is_disk_full(exc: BaseException, run_dir: Path | None = None) -> bool:
    """Whether exc, or an exception it came from, is a write refused for want of space (or over the file-size limit).

    torch.save loses the errno ("unexpected pos", "iostream error"): a failure while less than the reserve is
    free on the run directory's disk counts as a full disk too.
    """
    if run_dir is not None and _from_a_write(exc):
        try:
            if shutil.disk_usage(run_dir).free < RESERVE_BYTES:
                return True
        except OSError:
            pass
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in FULL_ERRNOS:
            return True
        if any(text in str(seen).lower() for text in FULL_TEXTS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def reserve_space(run_dir: Path) -> None:
    """Hold RESERVE_BYTES in the run directory (a full disk at the start fails here, before training)."""
    path = run_dir / RESERVE_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"\0" * RESERVE_BYTES)  # real blocks, not a sparse file
        os.fsync(fd)
    except OSError:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)


def release_space(run_dir: Path) -> None:
    """Give the reserve back (at the run's end, or for the failure's records)."""
    (run_dir / RESERVE_FILE).unlink(missing_ok=True)


def after_disk_full(run_dir: Path, exc: BaseException) -> str:
    """Free what the failed write used, and the message: the path, what was kept, the space left and the fix."""
    staged = sorted(run_dir.glob(f"{STAGING_PREFIX}*"))
    for folder in staged:  # an unfinished checkpoint: of no use, and it holds the space that is missing
        shutil.rmtree(folder, ignore_errors=True)
    release_space(run_dir)
    path = _failed_path(exc) or (str(staged[-1]) if staged else str(run_dir))
    checkpoint = latest_checkpoint(run_dir)
    kept = [Path(checkpoint).name] if checkpoint else []
    kept += [name for name in (FINAL_DIR, "run.yaml", "events.jsonl") if (run_dir / name).exists()]
    removed = f"; the unfinished {', '.join(f.name for f in staged)} was removed" if staged else ""
    then = (f"continue with `sft-wizard train PRESET --output-dir {run_dir} --resume` (from {Path(checkpoint).name})"
            if checkpoint else "train again")
    return (f"the disk is full: writing {path} failed ({_reason(exc)}). Kept: {', '.join(kept) or 'nothing'}{removed}; "
            f"{human_bytes(shutil.disk_usage(run_dir).free)} free now. Free space there, then {then}.")


def run_dir_refused(run_dir: Path, exc: OSError) -> UserError:
    """The UserError for a run directory that cannot be created or written at the start (nothing was trained)."""
    where = f" ({exc.filename})" if exc.filename and Path(exc.filename) != run_dir else ""
    return UserError(f"cannot write the run directory {run_dir}{where}: {exc.strerror or exc}. "
                     f"{'Free space on its disk' if is_disk_full(exc) else 'Check its permissions'}, or train into "
                     f"another directory with --output-dir.")


def _failed_path(exc: BaseException) -> str | None:
    """The file an OSError in exc's chain names, if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.filename:
            return str(seen.filename)
        seen = seen.__cause__ or seen.__context__
    return None


def _reason(exc: BaseException) -> str:
    """The system's words for the failed write: its errno's, else ENOSPC's (torch.save's own words name no cause)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in FULL_ERRNOS:
            return os.strerror(seen.errno)
        seen = seen.__cause__ or seen.__context__
    return os.strerror(errno.ENOSPC)


@contextmanager
def hold_run_dir(run_dir: Path) -> Iterator[None]:
    """Create the run directory, take run.lock and the reserve until the block ends; UserError, nothing left, if it cannot be written."""
    from engine.record.liveness import RunLock

    created = not run_dir.exists()
    lock = RunLock(run_dir)
    try:
        create_run_dir(run_dir)
        lock.acquire()
        reserve_space(run_dir)
    except OSError as exc:
        lock.release()
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing was trained: leave no half-made run behind
        raise run_dir_refused(run_dir, exc) from None
    try:
        yield
    finally:
        release_space(run_dir)
        lock.release()
