"""The analytic estimate, term by term, against the live tensor bytes counted in one real training step.

Each configuration loads a catalog architecture with random weights (bf16, as on a bf16 GPU), wraps
it as `train` does (PEFT, TRL 1.16's SFTTrainer with its fused LM head, adamw_torch_fused) and runs
two optimizer steps on the CPU under engine.fit.allocation_count, which counts every tensor storage
from allocation to free. The estimate is computed for the same config with `device="cpu"`; it leaves
out the CUDA context and the caching allocator's overhead, which a CPU run does not have, so the
comparison is of the analytic terms only. CPU also differs from CUDA in kernels: SDPA takes the CPU
flash path and the fused LM head folds its tiles in fp32 torch ops instead of Triton (the estimate
models those tiles for device="cpu").
Each count is saved with the library versions in benchmarks/data/allocation-counts.json; --saved
prints the table again from those counts with the estimator as it is now (seconds, no training).
Usage: python benchmarks/allocation_truth.py [--only SUBSTRING] [--saved]
"""

import argparse
import importlib.metadata
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.config.presets import load_preset  # noqa: E402
from engine.fit.estimate import estimate_memory  # noqa: E402
from engine.fit.verdicts import inputs_from_config  # noqa: E402
from engine.models.structure import model_structure  # noqa: E402
from engine.run.counted_step import count_training_step  # noqa: E402

QWEN_05B, LLAMA_1B, QWEN_15B = "Qwen/Qwen2.5-0.5B-Instruct", "meta-llama/Llama-3.2-1B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct"
LORA = ["lora={r: 16, lora_alpha: 32, lora_dropout: 0.0, target_modules: all-linear}"]
LORA_DROPOUT = ["lora={r: 32, lora_alpha: 64, lora_dropout: 0.05, target_modules: all-linear}"]
LORA_QV = ["lora={r: 8, lora_alpha: 16, lora_dropout: 0.0, target_modules: [q_proj, v_proj]}"]
FULL = ["lora=null"]
QLORA = LORA + ["quantization={load_in_4bit: true, bnb_4bit_quant_type: nf4, bnb_4bit_use_double_quant: true, "
                "bnb_4bit_compute_dtype: bfloat16}"]
# (label, model, method overrides, batch, length, checkpointing)
CONFIGS = [
    ("0.5B lora ckpt", QWEN_05B, LORA, 2, 64, True),
    ("0.5B lora", QWEN_05B, LORA, 1, 128, False),
    ("0.5B lora-qv", QWEN_05B, LORA_QV, 2, 64, False),
    ("0.5B lora drop", QWEN_05B, LORA_DROPOUT, 1, 128, False),
    ("0.5B full ckpt", QWEN_05B, FULL, 1, 128, True),
    ("0.5B full", QWEN_05B, FULL, 2, 64, False),
    ("0.5B qlora", QWEN_05B, QLORA, 1, 128, True),
    ("1B lora ckpt", LLAMA_1B, LORA, 1, 128, True),
    ("1B lora-qv", LLAMA_1B, LORA_QV, 2, 64, False),
    ("1B full ckpt", LLAMA_1B, FULL, 1, 64, True),
    ("1.5B lora ckpt", QWEN_15B, LORA, 1, 128, True),
    ("1.5B lora-qv", QWEN_15B, LORA_QV, 1, 64, False),
    ("1.5B qlora", QWEN_15B, QLORA, 1, 64, True),
]
TERMS = ["weights", "trainable_params", "gradients", "optimizer_states", "activations", "logits_and_loss"]
SHORT = {"weights": "weights", "trainable_params": "train", "gradients": "grads", "optimizer_states": "optim",
         "activations": "activ", "logits_and_loss": "logits"}
MIB = 2**20
SAVED = REPO / "benchmarks" / "data" / "allocation-counts.json"
LIBRARIES = ("torch", "transformers", "trl", "peft", "bitsandbytes")


def _versions() -> dict[str, str]:
    return {name: importlib.metadata.version(name) for name in LIBRARIES}


def _count(label: str, config, saved: dict, use_saved: bool) -> tuple[int, str, str]:
    """(peak bytes, phase of the peak, how long it took) counted now, or read from the saved counts."""
    if use_saved:
        entry = saved[label]
        return entry["peak_bytes"], entry["peak_phase"], "saved"
    started = time.monotonic()
    count = count_training_step(config)
    saved[label] = {"peak_bytes": count.peak_bytes, "peak_phase": count.peak_phase, "phase_peaks": count.phase_peaks,
                    "libraries": _versions()}
    SAVED.write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return count.peak_bytes, count.peak_phase, f"{time.monotonic() - started:.0f} s"


def config_for(model: str, method: list[str], batch: int, length: int, checkpointing: bool):
    """The demo preset with a catalog model, a method and a batch shape."""
    overrides = [f"model.name_or_path={model}", "model.attn_implementation=sdpa", *method,
                 f"training.per_device_train_batch_size={batch}", f"training.max_length={length}",
                 f"training.activation_checkpointing={'true' if checkpointing else 'false'}",
                 "training.optim=adamw_torch_fused"]
    return load_preset("demo", overrides)[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="run the configurations whose label contains this")
    parser.add_argument("--saved", action="store_true", help="the counts saved by an earlier run, not new ones")
    args = parser.parse_args()
    saved = json.loads(SAVED.read_text(encoding="utf-8")) if SAVED.exists() else {}
    header = f"{'config':<16} {'b×s':>7} " + " ".join(f"{SHORT[t]:>7}" for t in TERMS)
    print("MiB; estimate terms (logits: chunked, device cpu: no CUDA context or allocator overhead)")
    print(f"{header} {'estimate':>8} {'counted':>8} {'error':>7}  peak phase")
    errors = []
    for label, model, method, batch, length, checkpointing in CONFIGS:
        if args.only not in label or (args.saved and label not in saved):
            continue
        config = config_for(model, method, batch, length, checkpointing)
        inputs = replace(inputs_from_config(config, model_structure(config.model), "bf16"), logits="chunked",
                         device="cpu")
        estimate = estimate_memory(inputs)
        try:
            counted, phase, took = _count(label, config, saved, args.saved)
        except Exception as exc:  # noqa: BLE001 - a configuration the CPU cannot run is reported, not fatal
            print(f"{label:<16} {batch}×{length:<5} could not run on this CPU: {type(exc).__name__}: {exc}"[:160])
            continue
        predicted = estimate.total_bytes
        error = (predicted - counted) / counted
        errors.append(abs(error))
        terms = " ".join(f"{estimate.breakdown[t] / MIB:>7.0f}" for t in TERMS)
        print(f"{label:<16} {f'{batch}×{length}':>7} {terms} {predicted / MIB:>8.0f} {counted / MIB:>8.0f} "
              f"{error:>+7.1%}  {phase} ({took})", flush=True)
    if errors:
        print(f"\n{len(errors)} configurations: mean |error| {sum(errors) / len(errors):.1%}, worst {max(errors):.1%}")


if __name__ == "__main__":
    main()
