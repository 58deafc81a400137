"""Export time and GGUF size per quant type, for tiny-demo and a catalog model with random weights.

Each model is laid out as a finished full fine-tuning run (the recorded demo run's run.yaml, the model as
final/) and exported with `export_gguf` once per type, into a fresh folder; the time is the export's own
(conversion through llama.cpp's converter, Modelfile, metadata read back), without the answer check.
A catalog id is built from its config.json with random weights (nothing downloaded; tiny-demo's tokenizer).
q4_k_m is measured only where llama.cpp's llama-quantize is on PATH or in LLAMA_CPP_DIR.

Usage: python benchmarks/gguf_export.py [--model tiny-demo] [--model Qwen/Qwen2.5-0.5B-Instruct] [--quant q8_0 ...]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run_dir_for(model: str, folder: Path) -> Path:
    """A full fine-tuning run directory whose final/ is the model."""
    from throughput import random_weights_model

    from engine.models.tiny_demo import ensure_tiny_demo

    run_dir = folder / "run"
    run_dir.mkdir(parents=True)
    shutil.copy(REPO / "tests" / "data" / "recorded-run" / "run.yaml", run_dir / "run.yaml")
    if model == "tiny-demo":
        shutil.copytree(ensure_tiny_demo(), run_dir / "final")
    else:
        random_weights_model(model, run_dir / "final")
    return run_dir


def main() -> None:
    from engine.outputs.gguf.converter import CONVERTER_QUANTS, QUANTS, find_quantiser
    from engine.outputs.gguf.export import export_gguf

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="tiny-demo or a catalog id (repeatable)")
    parser.add_argument("--quant", action="append", choices=QUANTS, help="types to export (default: all available)")
    args = parser.parse_args()
    quants = args.quant or [*CONVERTER_QUANTS, *(["q4_k_m"] if find_quantiser() else [])]
    print(f"{'model':<32} {'source MB':>10} {'quant':>7} {'seconds':>8} {'gguf MB':>9}")
    for model in args.model or ["tiny-demo", "Qwen/Qwen2.5-0.5B-Instruct"]:
        with tempfile.TemporaryDirectory(dir=REPO / "benchmarks") as tmp:
            run_dir = run_dir_for(model, Path(tmp))
            source = sum(p.stat().st_size for p in (run_dir / "final").glob("*.safetensors"))
            for quant in quants:
                started = time.monotonic()
                export = export_gguf(str(run_dir), quant, str(Path(tmp) / f"gguf-{quant}"), progress=lambda line: None)
                seconds = time.monotonic() - started
                print(f"{model:<32} {source / 1e6:>10.1f} {quant:>7} {seconds:>8.1f} "
                      f"{export.gguf.stat().st_size / 1e6:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
