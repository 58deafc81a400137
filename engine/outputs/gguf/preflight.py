"""What an export starts from (a run's final/ and its base), and every check made before minutes of conversion."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import UserError
from engine.outputs.gguf.converter import K_QUANTS, QUANTISER_HELP, converter_dir, find_quantiser, known_architectures
from engine.units import human_bytes

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt")


@dataclass
class ExportSource:
    """A finished run as an export sees it: its final/ folder, the weights to convert and how it was trained."""

    run_dir: Path
    final: Path
    is_adapter: bool
    weights_dir: Path
    """The folder whose config.json and weights become the GGUF: final/ itself, or the base model for an adapter."""
    config: dict
    trained_dtype: str
    fmt: str
    template: str
    quantization: dict | None
    notes: list[str] = field(default_factory=list)

    @property
    def architecture(self) -> str:
        """The model class name config.json states (what the converter dispatches on)."""
        return (self.config.get("architectures") or ["(none in config.json)"])[0]

    def weights_bytes(self) -> int:
        """Bytes of weight files in weights_dir: about what a 16-bit model needs again on disk."""
        return sum(p.stat().st_size for p in self.weights_dir.iterdir() if p.suffix in WEIGHT_SUFFIXES)


def export_source(run_dir: str | Path) -> ExportSource:
    """Read a run directory for export; UserError when it is not a run or has no final/ model."""
    from engine.record.rundir import FINAL_DIR, read_run_file, run_config

    root = Path(run_dir)
    if not root.is_dir():
        raise UserError(f"{run_dir} is not a directory; give the run directory a training wrote (see `sft-wizard runs`).")
    record = read_run_file(root)
    final = root / FINAL_DIR
    is_adapter = (final / "adapter_config.json").is_file()
    if not (is_adapter or (final / "config.json").is_file()):
        raise UserError(f"{run_dir} has no finished model in {FINAL_DIR}/ (the run has not finished, or failed); "
                        f"finish it with `sft-wizard train ... --resume --output-dir {run_dir}`, or stop a live run "
                        f"with `sft-wizard stop {run_dir}`, which saves {FINAL_DIR}/.")
    config = run_config(root)
    weights_dir = _base_dir(config) if is_adapter else final
    data = record.get("data") or {}
    return ExportSource(root, final, is_adapter, weights_dir, _read_config(weights_dir),
                        str((record.get("precision") or {}).get("dtype") or "float32"),
                        str(data.get("format") or config.dataset.format).split(" + ")[0],  # a mixture: its first source's
                        str(data.get("template") or config.dataset.template).split(" + ")[0],
                        config.quantization)


def preflight(source: ExportSource, output: Path, quant: str) -> None:
    """Every problem that would make the export fail, found before any work, as one UserError; notes what is done instead."""
    problems = []
    if quant in K_QUANTS and find_quantiser() is None:
        problems.append(f"--quant {quant} needs llama.cpp's C quantiser, which this machine does not have: {QUANTISER_HELP}.")
    if source.architecture not in known_architectures():
        problems.append(f"architecture {source.architecture} (config.json of {source.weights_dir}) is not one llama.cpp's "
                        f"converter (commit in {converter_dir()}/SOURCE.md) knows; set LLAMA_CPP_DIR to a newer llama.cpp "
                        "checkout that converts it, or export with transformers' own formats (`sft-wizard merge`).")
    problems += _stored_quantized(source)
    problems += _tokenizer_problems(source)
    problems += _disk_problems(source, output)
    if problems:
        raise UserError(problems[0], problems)
    if source.quantization:
        source.notes.append(f"the base was trained {8 if source.quantization.get('load_in_8bit') else 4}-bit (QLoRA): "
                            f"the adapter is merged into the base's 16-bit weights from {source.weights_dir}")


def check_free_space(needed: int, free: int, where: Path) -> str | None:
    """The problem when `free` bytes at `where` are fewer than `needed`, else None."""
    if free >= needed:
        return None
    return (f"not enough disk space at {where}: the export needs about {human_bytes(needed)} (twice the model) and "
            f"{human_bytes(free)} is free; free some space or choose --output on another disk.")


def _base_dir(config: "RunConfig") -> Path:
    """The local folder of a run's base model (tiny-demo, a folder, or the Hub cache); UserError when it is not here."""
    from engine.models.hub import model_location

    location = model_location(config.model)
    if Path(location).is_dir():
        return Path(location)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(location, revision=config.model.revision, local_files_only=True))
    except Exception as exc:  # noqa: BLE001 (huggingface_hub raises several kinds when a snapshot is missing)
        raise UserError(f"the run's base model {location} is not on this machine ({type(exc).__name__}); download it "
                        f"(`hf download {location}`) so its adapter can be merged.") from None


def _read_config(folder: Path) -> dict:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{folder}/config.json cannot be read ({exc}).") from None


def _stored_quantized(source: ExportSource) -> list[str]:
    """A base stored 4/8-bit (bitsandbytes) has no 16-bit weights to merge into or convert."""
    method = (source.config.get("quantization_config") or {}).get("quant_method")
    if method != "bitsandbytes":
        return []
    return [f"{source.weights_dir} is stored quantized (bitsandbytes): there are no 16-bit weights to convert; train "
            "from the 16-bit original of this model (the Hub id without -bnb-4bit) with quantization: set, which loads "
            "it 4-bit for training and keeps the 16-bit weights for export."]


def _tokenizer_problems(source: ExportSource) -> list[str]:
    """The tokenizer must fit the embedding (one row per token), and chat runs need the chat template they trained on."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.final)
    rows = source.config.get("vocab_size") or (source.config.get("text_config") or {}).get("vocab_size")
    problems = []
    if rows is not None and len(tokenizer) > rows:
        problems.append(f"the tokenizer in {source.final} has {len(tokenizer)} tokens but the model's embedding has "
                        f"{rows} rows; tokens were added without model.resize_token_embeddings(len(tokenizer)); "
                        "resize and retrain, or remove the added tokens.")
    if source.fmt in ("chat", "sharegpt") and not tokenizer.chat_template:
        problems.append(f"the tokenizer in {source.final} has no chat template, but the run trained on {source.fmt} "
                        "data; save the template the run used with the tokenizer (tokenizer.chat_template).")
    return problems


def _disk_problems(source: ExportSource, output: Path) -> list[str]:
    parent = next((p for p in (output, *output.parents) if p.exists()), Path("."))
    problem = check_free_space(2 * source.weights_bytes(), shutil.disk_usage(parent).free, parent)
    return [problem] if problem else []
