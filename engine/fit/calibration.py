"""Published measured peaks (vram-measured.csv) turned into estimator inputs, for accuracy checks."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from pathlib import Path

from engine.fit.estimate import FIRST_CONSTANTS, Constants, Estimate, MemoryInputs, estimate_memory, logit_bytes
from engine.models.structure import structure_for_config
from engine.units import GIB

UNITS = {"GB": 1e9, "GiB": GIB, "MiB": 2**20, "MB": 1e6}


@dataclass
class ReferenceRow:
    """One measured configuration and what was measured."""

    id: str
    model: str
    measured_bytes: float
    kind: str
    weights_only: bool
    inputs: MemoryInputs
    certainty: str
    split: str = "fit"
    """fit (used to calibrate the constants) or held-out (never used for fitting)."""


def _structure(row: dict) -> object:
    experts = re.match(r"(\d+)", row["experts"] or "")
    config = {
        "model_type": "mixtral" if experts else "llama",
        "hidden_size": int(row["hidden"]), "num_hidden_layers": int(row["layers"]),
        "num_attention_heads": int(row["heads"]), "num_key_value_heads": int(row["kv_heads"]),
        "intermediate_size": int(row["ffn"]), "vocab_size": int(row["vocab"]),
        "tie_word_embeddings": row["tied"] == "yes",
    }
    if experts:
        config.update(num_local_experts=int(experts.group(1)), num_experts_per_tok=2)
    return structure_for_config(config)


def _number(text: str, default: int = 0) -> int:
    match = re.match(r"\s*(\d+)", text or "")
    return int(match.group(1)) if match else default


def load_reference(path: str | Path) -> list[ReferenceRow]:
    """The rows of vram-measured.csv whose settings are known, as estimator inputs."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            structure = _structure(row)
            method, weights = row["method"], row["weights"]
            quantized = "int4" in weights or "nf4" in weights
            targets = row["lora_targets"]
            lora_r = _number(row["lora_r"]) or None
            target_list = structure.lora_candidates if targets == "all-linear" else [t.strip() for t in targets.split(",") if t.strip()]
            inputs = MemoryInputs(
                structure=structure,
                batch_size=_number(row["batch"], 1), seq_len=_number(row["seq"], 1),
                quantization="4bit" if quantized else None,
                double_quant="nf4" in weights and row["framework"] == "qlora",
                lora_r=lora_r if method.startswith(("lora", "qlora")) else None,
                lora_targets=target_list,
                # "lora+emb": the embedding and lm_head are trained in full too (modules_to_save)
                lora_extra_trainable=structure.embedding_params + structure.lm_head_params if "emb" in method else 0,
                optimizer=row["optimizer"] or "adamw_torch",
                checkpointing=row["grad_ckpt"] == "yes",
                attention="sdpa" if row["attn"] in ("flash", "sdpa", "") else row["attn"],
                # 2023-24 HF Trainer + PEFT stacks (prepare_model_for_kbit_training) cast the non-quantized
                # weights of bitsandbytes models to fp32; PEFT skips that cast for GPTQ models.
                upcast_non_quantized="nf4" in weights and "peft" in row["framework"],
                # the LM head of the stack the row was measured with: every published table materialised the logits
                logits=row.get("logits") or "full",
            )
            rows.append(ReferenceRow(row["id"], row["model"], float(row["measured"]) * UNITS[row["unit"]], row["kind"],
                                     "weights only" in method, inputs, row["certainty"], row.get("split") or "fit"))
    return rows


def predicted_bytes(row: ReferenceRow) -> tuple[float, Estimate]:
    """What the estimator predicts for the quantity the row measured."""
    estimate = estimate_memory(row.inputs)
    if row.weights_only:
        return estimate.breakdown["weights"], estimate
    return estimate.total_bytes, estimate


def error_table(path: str | Path) -> list[tuple[ReferenceRow, float, float]]:
    """(row, predicted bytes, signed relative error) for every reference row."""
    out = []
    for row in load_reference(path):
        predicted, _ = predicted_bytes(row)
        out.append((row, predicted, (predicted - row.measured_bytes) / row.measured_bytes))
    return out


def load_rows(paths: list[str | Path]) -> list[ReferenceRow]:
    """The rows of several measurement files, in order."""
    return [row for path in paths for row in load_reference(path)]


def errors(rows: list[ReferenceRow], constants: Constants) -> list[float]:
    """Signed relative error of the estimate, with these constants, for every row."""
    out = []
    for row in rows:
        estimate = estimate_memory(row.inputs, constants)
        predicted = estimate.breakdown["weights"] if row.weights_only else estimate.total_bytes
        out.append((predicted - row.measured_bytes) / row.measured_bytes)
    return out


def _grid(low: float, high: float, step: float) -> list[float]:
    return [round(low + i * step, 6) for i in range(int(round((high - low) / step)) + 1)]


def fit_constants(rows: list[ReferenceRow]) -> Constants:
    """The constants that minimise mean + a quarter of the worst absolute error over `rows` (grid search).

    Only the allocator share, the CUDA context and the 16-bit and quantized logit bytes are fitted;
    weights-only rows do not depend on them and are skipped. Each row's prediction is linear in
    the logit bytes, so one breakdown per row makes the search cheap.
    """
    parts = []
    for row in rows:
        if row.weights_only:
            continue
        breakdown = estimate_memory(row.inputs, FIRST_CONSTANTS).breakdown
        logits_per_byte = breakdown["logits_and_loss"] / logit_bytes(row.inputs, FIRST_CONSTANTS)
        rest = sum(v for k, v in breakdown.items() if k not in ("logits_and_loss", "cuda_context", "allocator_overhead"))
        parts.append((rest, logits_per_byte, row.inputs.quantization is not None, row.measured_bytes))
    best, best_score = FIRST_CONSTANTS, float("inf")
    for overhead in _grid(0.0, 0.15, 0.01):
        for context in _grid(0.3, 1.5, 0.1):
            for bytes16 in _grid(4.0, 12.0, 0.5):
                for bytes_quantized in _grid(4.0, 12.0, 0.5):
                    errs = [abs((rest + per * (bytes_quantized if quantized else bytes16)) * (1 + overhead)
                                + context * GIB - measured) / measured
                            for rest, per, quantized, measured in parts]
                    score = sum(errs) / len(errs) + max(errs) / 4
                    if score < best_score:
                        best_score = score
                        best = replace(FIRST_CONSTANTS, allocator_overhead=overhead, cuda_context_bytes=context * GIB,
                                       logit_bytes_16bit=bytes16, logit_bytes_quantized=bytes_quantized)
    return best

