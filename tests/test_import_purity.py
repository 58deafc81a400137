"""`import engine` must stay light: no Textual ever, no torch/transformers/trl until work starts."""

import subprocess
import sys

import pytest

HEAVY = ["textual", "torch", "transformers", "trl", "peft", "datasets"]
HEAVY_BY_DESIGN = {"engine.run.callback", "engine.run.whole_checkpoints"}
"""Modules that subclass library classes, so they are imported only once training starts."""


@pytest.mark.slow
def test_every_engine_module_imports_without_textual_or_torch():
    code = ("import importlib, pkgutil, sys, engine\n"
            f"names = [m.name for m in pkgutil.walk_packages(engine.__path__, 'engine.') if m.name not in {HEAVY_BY_DESIGN!r}]\n"
            "for name in names:\n"
            "    importlib.import_module(name)\n"
            "print(len(names))\n"
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, loaded = (out.stdout.splitlines() + [""])[:2]
    assert int(count) > 40  # the walk really found the engine's modules
    assert loaded == ""


def test_engine_sources_never_import_textual():
    from pathlib import Path

    engine_dir = Path(__file__).resolve().parent.parent / "engine"
    offenders = [p.name for p in engine_dir.rglob("*.py")
                 if any(line.strip().startswith(("import textual", "from textual")) for line in p.read_text().splitlines())]
    assert offenders == []
