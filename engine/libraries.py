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

            _bitsandbytes_kernel_local()
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


BITSANDBYTES_HUB_KERNEL = "kernels-community/quantization-bitsandbytes"


def _bitsandbytes_kernel_local() -> None:
    """Keep bitsandbytes from fetching its CPU 4-bit kernel from the Hub when it is imported.

    bitsandbytes asks the kernels package for it on every import on AVX512-BF16 CPUs, unasked (offline it only
    fails, loudly); its own bundled CPU code does the same work. Other kernels go through model.use_kernels.
    """
    try:
        import kernels
    except ImportError:
        return
    fetch = kernels.get_kernel
    if getattr(fetch, "keeps_bitsandbytes_local", False):
        return

    def get_kernel(repo_id: str, *args: object, **kwargs: object) -> object:
        if repo_id == BITSANDBYTES_HUB_KERNEL:
            raise ImportError(f"sft-wizard does not fetch {repo_id}; bitsandbytes uses its bundled CPU code")
        return fetch(repo_id, *args, **kwargs)

    get_kernel.keeps_bitsandbytes_local = True  # type: ignore[attr-defined]
    kernels.get_kernel = get_kernel


def quiet_libraries(training: bool = True) -> None:
    """Import the libraries (peft and trl only for `training`) and silence tqdm bars and chatty library logs."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # CPU kernel notices on import
    logging.getLogger("kernels").setLevel(logging.ERROR)  # e.g. "Skipping publisher trust check"; the decision says it
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|trl|peft)(\..*)?")
    from engine.libraries import load_libraries

    load_libraries(training)
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_warning()
