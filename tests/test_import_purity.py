"""`import engine` must stay light: no Textual ever, no torch/transformers/trl until work starts."""

import subprocess
import sys

HEAVY = ["textual", "torch", "transformers", "trl", "peft", "datasets"]


def test_import_engine_loads_neither_textual_nor_torch():
    code = ("import sys, engine, engine.config, engine.presets, engine.hardware, engine.events, engine.cli, "
            "engine.rules, engine.printer, engine.snippet\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_engine_sources_never_import_textual():
    from pathlib import Path

    engine_dir = Path(__file__).resolve().parent.parent / "engine"
    offenders = [p.name for p in engine_dir.rglob("*.py")
                 if any(line.strip().startswith(("import textual", "from textual")) for line in p.read_text().splitlines())]
    assert offenders == []
