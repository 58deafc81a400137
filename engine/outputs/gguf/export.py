"""Exporting a finished run as a GGUF for llama.cpp, Ollama and LM Studio, with its Modelfile, checked by reading it back."""

from __future__ import annotations

import importlib.util
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.errors import UserError
from engine.outputs.gguf.converter import K_QUANTS, QUANTS, convert, quantise
from engine.outputs.gguf.modelfile import CHAT_FORMATS, RunUsage, modelfile_text, readme_text, training_format
from engine.outputs.gguf.preflight import export_source, preflight

CHECK_PROMPT = "What is the capital of France?"
"""The prompt the export answers with the fine-tuned model and the exported file (the demo's prompt)."""

EXTRA_HELP = "pip install 'sft-wizard[gguf]' (scripts/setup.sh installs it)"


@dataclass
class GgufExport:
    """What an export wrote and what reading it back found."""

    run_dir: Path
    folder: Path
    gguf: Path
    name: str
    """The model name the README suggests for `ollama create`."""
    seconds: float
    summary_lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def export_gguf(run_dir: str, quant: str = "q8_0", output: str | None = None,
                progress: Callable[[str], None] = print) -> GgufExport:
    """Convert a run's final/ model (merged first when it is an adapter) to one GGUF folder, written whole or not at all."""
    if quant not in QUANTS:
        raise UserError(f"--quant {quant}: choose one of {', '.join(QUANTS)}.")
    _require_packages()
    from engine.libraries import quiet_libraries

    quiet_libraries(training=False)  # no library noise (kernel notices, progress bars) among the export's lines
    source = export_source(run_dir)
    target = Path(output) if output else source.run_dir / "gguf"
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UserError(f"{target} exists and is not empty; choose another --output.")
    preflight(source, target, quant)
    gguf_name = f"model-{quant}.gguf"
    beside = files_beside(source, gguf_name)  # before minutes of converting: a Modelfile Ollama cannot read refuses now
    for note in source.notes:
        progress(note)
    staging = _staging_folder(target)
    started = time.monotonic()
    from engine.outputs.gguf.readback import read_summary

    try:
        weights = _weights_to_convert(source, staging, progress)
        progress(f"converting {weights} with llama.cpp's convert_hf_to_gguf.py to {quant}…")
        warnings: list[str] = []
        if quant in K_QUANTS:
            convert(weights, staging / "model-f16.gguf", "f16", ollama_name(source.run_dir), progress)
            warnings = quantise(staging / "model-f16.gguf", staging / gguf_name, quant, progress)
            (staging / "model-f16.gguf").unlink()
        else:
            convert(weights, staging / gguf_name, quant, ollama_name(source.run_dir), progress)
        if weights != source.final:
            shutil.rmtree(weights)
        summary = read_summary(staging / gguf_name)  # a file that does not read back is never put in place
        beside.write(staging, quant, summary.lines(), warnings)
        staging.chmod(0o755)  # mkdtemp makes it private; the export is an ordinary folder
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return GgufExport(source.run_dir, target, target / gguf_name, ollama_name(source.run_dir), time.monotonic() - started,
                      summary.lines() + warnings[-1:], beside.notes)


def ollama_name(run_dir: Path) -> str:
    """A model name Ollama accepts, from the run directory's name."""
    return re.sub(r"[^a-z0-9._-]+", "-", run_dir.resolve().name.lower()).strip("-.") or "fine-tuned"


def _require_packages() -> None:
    """The converter needs sentencepiece, reading back needs PyPI's gguf: the optional `gguf` extra."""
    missing = [name for name in ("gguf", "sentencepiece") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"GGUF export needs the Python package(s) {', '.join(missing)}: {EXTRA_HELP}.")


def _weights_to_convert(source, staging: Path, progress: Callable[[str], None]) -> Path:
    """final/ for a full fine-tune; for an adapter, base + adapter merged into staging in the dtype it trained in."""
    if not source.is_adapter:
        return source.final
    from engine.outputs.merge import merge_adapter

    progress(f"merging the LoRA adapter into the base model in {source.trained_dtype} (the dtype it trained in)…")
    return Path(merge_adapter(str(source.run_dir), str(staging / "merged-hf"), progress=lambda line: None,
                              dtype=source.trained_dtype))


def _staging_folder(target: Path) -> Path:
    """A private folder beside target to write into; UserError when target's folder cannot be made or written."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.partial-"))
    except OSError as exc:
        raise UserError(f"--output {target}: cannot write there ({exc.strerror or exc}); choose a folder you can "
                        "write to.") from None


@dataclass
class FilesBeside:
    """The Modelfile, the run's prompt format for the README, and notes: made before converting, written after."""

    name: str
    gguf_name: str
    run_dir: str
    modelfile: str
    usage: RunUsage
    notes: list[str]

    def write(self, folder: Path, quant: str, contents: list[str], warnings: list[str]) -> None:
        """Modelfile and README.md into folder, the README with the tensor types the file really holds."""
        (folder / "Modelfile").write_text(self.modelfile, encoding="utf-8")
        (folder / "README.md").write_text(readme_text(self.name, self.gguf_name, quant, self.run_dir, self.usage,
                                                      contents, warnings), encoding="utf-8")


def files_beside(source, gguf_name: str) -> FilesBeside:
    """The Modelfile text, the prompt format and notes on the template and system prompt; UserError when Ollama cannot read one."""
    from transformers import AutoTokenizer

    from engine.outputs.generate import run_prompt
    from engine.outputs.gguf.system_prompt import shared_system_prompt
    from engine.record.rundir import run_config

    tokenizer = AutoTokenizer.from_pretrained(source.final)
    layout, note = training_format(tokenizer, source.fmt, source.template)
    system = shared_system_prompt(run_config(source.run_dir))
    usage = RunUsage(source.fmt in CHAT_FORMATS, source.fmt, source.template,
                     run_prompt(tokenizer, source.fmt, source.template, CHECK_PROMPT))
    notes = [note] + ([f"system prompt of every training row written as SYSTEM: {system[:60]!r}"] if system else [])
    return FilesBeside(ollama_name(source.run_dir), gguf_name, str(source.run_dir), modelfile_text(gguf_name, layout, system),
                       usage, notes)
