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
_loaded: set[str] = set()
"""The tiers imported so far: "base" (torch, transformers, datasets) and "training" (peft, trl)."""


def load_libraries(training: bool = True) -> None:
    """Import torch, transformers and datasets, and with `training` also peft and trl (each tier once)."""
    if ("training" if training else "base") in _loaded:
        return
    with _lock:
        if "base" not in _loaded:
            import torch  # noqa: F401
            import transformers

            for name in ("AutoConfig", "AutoTokenizer", "AutoModel", "AutoModelForCausalLM", "BitsAndBytesConfig",
                         "PreTrainedTokenizerFast"):
                getattr(transformers, name)
            import datasets  # noqa: F401

            _loaded.add("base")
        if training and "training" not in _loaded:
            import transformers

            getattr(transformers, "TrainerCallback")  # imports peft and bitsandbytes: seconds that reading never needs
            import peft  # noqa: F401
            import trl

            getattr(trl, "SFTTrainer"), getattr(trl, "SFTConfig")
            _loaded.add("training")


def quiet_libraries(training: bool = True) -> None:
    """Import the libraries (peft and trl only for `training`) and silence tqdm bars and chatty library logs."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # CPU kernel notices on import
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft)(\..*)?")
    from engine.libraries import load_libraries

    load_libraries(training)
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_warning()
