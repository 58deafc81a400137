"""llama.cpp's HF → GGUF converter (vendored in third_party/llama_cpp/) and its quantiser: where they are and how they run."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

from engine.errors import UserError
from third_party import LLAMA_CPP_DIR

VENDORED_DIR = LLAMA_CPP_DIR
LLAMA_CPP_COMMIT = "0c1e57098"
"""The llama.cpp commit the vendored converter comes from (see third_party/llama_cpp/SOURCE.md)."""

CONVERTER_QUANTS = ("f16", "bf16", "q8_0")
"""Types convert_hf_to_gguf.py writes itself, in Python: no compiler needed."""

K_QUANTS = ("q4_k_m",)
"""Types only llama.cpp's C quantiser (llama-quantize) writes, from an f16 GGUF."""

QUANTS = CONVERTER_QUANTS + K_QUANTS

QUANTISER_HELP = ("get llama.cpp's `llama-quantize` and put it on PATH: llama.cpp's prebuilt release "
                  "(https://github.com/ggml-org/llama.cpp/releases, llama-bNNNN-bin-ubuntu-x64.tar.gz on Linux x86-64: "
                  "built on Ubuntu 22.04, it runs on glibc 2.35 or newer, Debian 12 included), "
                  "`conda install -c conda-forge llama.cpp` or `brew install llama.cpp`; or build it with "
                  "`cmake -B build && cmake --build build --target llama-quantize` in a llama.cpp checkout and set "
                  "LLAMA_CPP_DIR to that checkout; or export --quant q8_0, which needs no compiler")

_FALLBACK_LINE = re.compile(r"falling back to|required fallback quantization")
_TENSOR_LINE = re.compile(r"^INFO:hf-to-gguf:(\S+?),\s+torch\.\w+ --> (\w+), shape")


def converter_dir() -> Path:
    """The llama.cpp folder whose convert_hf_to_gguf.py runs: $LLAMA_CPP_DIR when it has one, else the vendored copy."""
    own = os.environ.get("LLAMA_CPP_DIR")
    if own and (Path(own) / "convert_hf_to_gguf.py").is_file():
        return Path(own)
    return VENDORED_DIR


def known_architectures(folder: Path | None = None) -> set[str]:
    """The Hugging Face architectures (config.json `architectures`) the converter turns into a text GGUF."""
    source = ((folder or converter_dir()) / "conversion" / "__init__.py").read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        target = node.target if isinstance(node, ast.AnnAssign) else (node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id == "TEXT_MODEL_MAP" and node.value is not None:
            return set(ast.literal_eval(node.value))
    raise RuntimeError(f"no TEXT_MODEL_MAP in {folder or converter_dir()}/conversion/__init__.py")


def find_quantiser() -> str | None:
    """The path of llama.cpp's llama-quantize: on PATH, or built in $LLAMA_CPP_DIR; None when there is none."""
    own = os.environ.get("LLAMA_CPP_DIR")
    if own:
        for candidate in (Path(own) / "build" / "bin" / "llama-quantize", Path(own) / "llama-quantize"):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return shutil.which("llama-quantize")


def convert(model_dir: Path, outfile: Path, outtype: str, name: str, progress: Callable[[str], None]) -> None:
    """Run convert_hf_to_gguf.py on model_dir into outfile, reporting each tensor it converts; UserError on failure."""
    command = [sys.executable, "-m", "engine.outputs.gguf.convert_entry", str(converter_dir()), str(model_dir),
               "--outfile", str(outfile), "--outtype", outtype, "--model-name", name]
    env = os.environ | {"PYTHONUNBUFFERED": "1", "NO_LOCAL_GGUF": "1", "HF_HUB_OFFLINE": "1",
                        "PYTHONPATH": os.pathsep.join(filter(None, [_package_root(), os.environ.get("PYTHONPATH")]))}
    lines, code = _stream(command, env, lambda line: _report_tensor(line, progress))
    if code != 0 or not outfile.is_file():  # the header is written first: a crash leaves a file that is not a GGUF
        raise UserError(f"llama.cpp's converter failed on {model_dir}:\n  " + "\n  ".join(_failure_lines(lines)))


def quantise(source: Path, outfile: Path, quant: str, progress: Callable[[str], None]) -> list[str]:
    """Run llama-quantize from a 16-bit GGUF into `quant` (a K-quant); its fallback warnings, each passed to progress.

    A K-quant packs rows in blocks of 256: llama-quantize writes a tensor whose rows are not a multiple of that in
    another type (q4_K → q5_0) and says so only in a warning, so the warnings are what tells the file's real types.
    """
    tool = find_quantiser()
    if tool is None:
        raise UserError(f"--quant {quant} needs llama.cpp's C quantiser, which this machine does not have: {QUANTISER_HELP}.")
    progress(f"quantising to {quant} with {tool}…")
    warnings: list[str] = []

    def on_line(line: str) -> None:
        if _FALLBACK_LINE.search(line):
            warnings.append(" ".join(line.split()))
            progress(f"  llama-quantize: {warnings[-1]}")

    lines, code = _stream([tool, str(source), str(outfile), quant.upper()], os.environ.copy(), on_line)
    if code != 0 or not outfile.is_file():
        raise UserError(f"{tool} failed:\n  " + "\n  ".join(lines[-8:]))
    return warnings


def _package_root() -> str:
    """The folder holding the `engine` package, so the converter process imports this sft-wizard."""
    return str(Path(__file__).resolve().parents[3])


def _stream(command: list[str], env: dict, on_line: Callable[[str], None]) -> tuple[list[str], int]:
    """Run command, calling on_line with each output line; (lines, exit code). The child is stopped if we are interrupted."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                               errors="replace")
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            on_line(line)
        process.wait()
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    if process.returncode != 0:
        lines.append(f"(exit code {process.returncode})")
    return lines, process.returncode


def _report_tensor(line: str, progress: Callable[[str], None]) -> None:
    """Pass on the converter's one line per tensor (name and target type), and its final write line."""
    match = _TENSOR_LINE.match(line)
    if match:
        progress(f"  {match[1]} → {match[2]}")
    elif line.startswith("INFO:gguf.gguf_writer:") and "n_tensors" in line:
        progress("writing " + line.split(":", 2)[2].strip())


def _failure_lines(lines: list[str]) -> list[str]:
    """The lines that say why the converter stopped: its error and the last lines of its traceback."""
    wanted = [line for line in lines if line.startswith(("ERROR:", "Traceback")) or re.match(r"^\w+(Error|Exception)\b", line)]
    return (wanted or lines)[-8:]
