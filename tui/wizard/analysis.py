"""A small process pool for the engine's analyses, shared by every app in this process."""

from __future__ import annotations

import atexit
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

_pool: ProcessPoolExecutor | None = None


def _warm() -> None:
    """Import the training libraries in the pool process ahead of the first request."""
    from engine.libraries import quiet_libraries

    quiet_libraries()


def pool() -> ProcessPoolExecutor:
    """The pool (created on first use; spawn, so no Textual state is forked)."""
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_warm)
        atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
    return _pool


def run(function: Callable[..., Any], *args: Any) -> Any:
    """Run function(*args) in the pool and wait (call this from a thread worker, never the UI)."""
    return pool().submit(function, *args).result()
