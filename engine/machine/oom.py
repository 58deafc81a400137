"""Running out of GPU memory: recognising it in whatever form a library raises it, and freeing memory after it."""

from __future__ import annotations

import gc
import sys
import traceback
from typing import Iterator

OUT_OF_MEMORY_TEXTS = ("out of memory", "cublas_status_alloc_failed")
"""Lower-cased text of the RuntimeErrors that CUDA ("CUDA error: out of memory"), cuBLAS and bitsandbytes raise."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an exception, or one that caused it, is a failed GPU memory allocation."""
    return any(_names_out_of_memory(link) for link in _causes(exc))


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then the ones it was raised from or while handling."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _names_out_of_memory(exc: BaseException) -> bool:
    """Whether this one exception is torch's OutOfMemoryError or a RuntimeError saying an allocation failed."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and any(text in str(exc).lower() for text in OUT_OF_MEMORY_TEXTS)


def release_memory(exc: BaseException | None = None) -> None:
    """Free what a failed step held: its tracebacks (and its causes'), unreachable objects and CUDA's cached blocks.

    A cleared frame still holds its function, and a patched forward's closure holds the model
    (TRL's fused LM head): the tracebacks themselves go, so the model is garbage before gc runs.
    """
    for link in list(_causes(exc)) if exc is not None else []:
        traceback.clear_frames(link.__traceback__)
        link.__traceback__ = None
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
