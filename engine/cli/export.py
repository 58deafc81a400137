"""`sft-wizard export RUN_DIR --format gguf`: the GGUF, its Modelfile, and the check that it answers as the run does."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING

from engine.errors import EXIT_FAILURE, EXIT_OK

if TYPE_CHECKING:
    from engine.outputs.gguf.export import GgufExport


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `export`."""
    from engine.outputs.gguf.converter import QUANTS

    export = sub.add_parser("export", help="a finished run as a GGUF for llama.cpp, Ollama and LM Studio, with an "
                                           "Ollama Modelfile, read back and checked")
    export.add_argument("run_dir", metavar="RUN_DIR")
    export.add_argument("--format", choices=["gguf"], default="gguf", help="the file format (gguf)")
    export.add_argument("--quant", choices=QUANTS, default="q8_0",
                        help="f16, bf16 and q8_0 need no compiler; q4_k_m needs llama.cpp's llama-quantize (default q8_0)")
    export.add_argument("--output", metavar="DIR", help="folder for the files (default: RUN_DIR/gguf)")
    export.add_argument("--no-check", action="store_true",
                        help="skip answering the check prompt with both models (the metadata is still read back)")


def run(args: argparse.Namespace) -> int:
    """Export, print what was written and read back, then the check prompt's two answers; 1 when their token ids differ."""
    from engine.outputs.gguf.export import CHECK_PROMPT, export_gguf
    from engine.units import human_bytes

    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM unwinds like Ctrl-C: the half-written folder is removed
    export = export_gguf(args.run_dir, args.quant, args.output, progress=lambda line: print(line, flush=True))
    print(f"wrote {export.gguf} ({human_bytes(export.gguf.stat().st_size)}) in {export.seconds:.1f} s")
    print("read back:")
    for line in export.summary_lines + export.notes:
        print(f"  {line}")
    same = True if args.no_check else _print_answers(export, CHECK_PROMPT, args.quant)
    print(f"run it: ollama create {export.name} -f {export.folder / 'Modelfile'}   "
          f"(more in {export.folder / 'README.md'})")
    return EXIT_OK if same else EXIT_FAILURE


def _print_answers(export: "GgufExport", prompt: str, quant: str) -> bool:
    """Print both greedy answers; False when the token ids differ for a type that keeps the weights (not a K-quant)."""
    from engine.outputs.gguf.converter import K_QUANTS
    from engine.outputs.gguf.readback import compare_answers

    print(f"check prompt: {prompt}", flush=True)
    try:
        check = compare_answers(export.run_dir, export.gguf, prompt)
    except (ValueError, ImportError, KeyError) as exc:  # transformers reads only some architectures from GGUF
        print(f"  not answered with the GGUF: transformers cannot load it ({str(exc).splitlines()[0][:160]}); "
              f"try it in llama.cpp as {export.folder / 'README.md'} says")
        return True
    print(f"  fine-tuned: {check.fine_tuned!r}")
    print(f"  exported:   {check.exported!r}")
    if check.same:
        print(f"  same greedy token ids ({len(check.fine_tuned_ids[1])} answer tokens) ({check.note})")
        return True
    if quant in K_QUANTS:
        print(f"  the token ids differ at {check.difference()}: expected of a 4-bit type ({check.note})")
        return True
    print(f"the GGUF does not answer as the fine-tuned model: the token ids differ at {check.difference()}, which a "
          f"{quant} export must not do ({check.note}); the files stay in {export.folder} to inspect.", file=sys.stderr)
    return False


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
