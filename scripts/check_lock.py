"""Exits 1, naming each difference, unless every package pinned in constraints.txt is installed at its pin (CI's check)."""

import sys
from importlib import metadata
from pathlib import Path

pins = [line.split("==") for line in (Path(__file__).resolve().parent.parent / "constraints.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")]
wrong = []
for name, pinned in pins:
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        installed = "not installed"
    if installed != pinned:
        wrong.append(f"{name}: {installed}, locked {pinned}")
print("\n".join(wrong) or f"all {len(pins)} locked versions installed")
sys.exit(1 if wrong else 0)
