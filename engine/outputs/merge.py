"""Merging a run's LoRA adapter into the base model's full weights."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from engine.errors import UserError


def merge_adapter(run_dir: str, output: str | None = None, progress: Callable[[str], None] = print,
                  dtype: str | None = None) -> str:
    """Write base + adapter as one model (safetensors, with tokenizer and run.yaml) and return its path.

    dtype: the weights' dtype (a torch dtype name); by default float32 on the CPU and the model's own on a GPU.
    """
    from engine.libraries import quiet_libraries
    from engine.record.rundir import FINAL_DIR, RUN_FILE

    final = Path(run_dir) / FINAL_DIR
    if not (final / "adapter_config.json").is_file():
        if (final / "config.json").is_file():
            raise UserError(f"{final} is a full model already (no adapter to merge).")
        raise UserError(f"{run_dir} has no finished adapter in {FINAL_DIR}/.")
    target = Path(output) if output else Path(run_dir) / "merged"
    if target.exists() and any(target.iterdir()):
        raise UserError(f"{target} exists and is not empty; choose another --output.")
    quiet_libraries()
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoTokenizer

    progress(f"loading base model and adapter from {final}…")
    if dtype is None:
        dtype = "float32" if not torch.cuda.is_available() else "auto"
    # Merging adds weights and runs no forward pass: Hub kernels (forward code) would only be fetched for nothing.
    model = AutoPeftModelForCausalLM.from_pretrained(final, dtype=dtype if dtype == "auto" else getattr(torch, dtype),
                                                     use_kernels=False)
    progress("merging the adapter into the weights…")
    merged = model.merge_and_unload()
    progress(f"writing {target}…")
    staging = target.with_name(target.name + ".partial")
    merged.save_pretrained(staging, safe_serialization=True)
    AutoTokenizer.from_pretrained(final).save_pretrained(staging)
    if (Path(run_dir) / RUN_FILE).is_file():
        (staging / "sft-wizard-run.yaml").write_text((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8"), encoding="utf-8")
    if target.exists():
        target.rmdir()
    staging.rename(target)
    progress("done")
    return str(target)
