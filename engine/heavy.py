"""Importing torch, transformers, trl, peft and datasets once, from whichever thread asks first.

transformers resolves names lazily; two threads importing it at the same time can see a
half-initialised module ("cannot import name 'AutoModel'"). Every path that needs these
libraries goes through load_libraries(), which imports them under one lock.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_loaded = False


def load_libraries() -> None:
    """Import the training libraries (no-op after the first call)."""
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        import torch  # noqa: F401
        import transformers

        for name in ("AutoConfig", "AutoTokenizer", "AutoModel", "AutoModelForCausalLM", "BitsAndBytesConfig",
                     "TrainerCallback", "PreTrainedTokenizerFast"):
            getattr(transformers, name)
        import datasets  # noqa: F401
        import peft  # noqa: F401
        import trl

        getattr(trl, "SFTTrainer"), getattr(trl, "SFTConfig")
        _loaded = True
