"""Importing and quieting torch, transformers, trl, peft and datasets once, from whichever thread asks first.

transformers resolves names lazily; two threads importing it at the same time can see a
half-initialised module ("cannot import name 'AutoModel'"). Every path that needs these
libraries goes through load_libraries(), which imports them under one lock.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings

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


def quiet_libraries() -> None:
    """Silence tqdm bars and chatty library logs; warnings still reach the log handlers."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # CPU kernel notices on import
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft)(\..*)?")
    from engine.libraries import load_libraries

    load_libraries()
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_warning()
