"""The versions of sft-wizard and the libraries it trains with, read from package metadata (nothing is imported)."""

from __future__ import annotations

import argparse
import ast
import sys

from engine import __version__

LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "bitsandbytes", "kernels", "textual")
"""The libraries whose versions decide how a run trains and looks, in the order they are printed."""


def torch_build() -> str:
    """Which build the installed torch is, read from its torch/version.py without importing torch."""
    from importlib import metadata  # not at import: every start of the wizard would read the email parser

    try:
        return build_of(metadata.distribution("torch").locate_file("torch/version.py").read_text(encoding="utf-8"))
    except (metadata.PackageNotFoundError, OSError):
        return "not installed"


def build_of(version_file: str) -> str:
    """"CUDA 12.8", "ROCm 6.3" or "CPU", from the text of torch/version.py."""
    values = {}
    for node in ast.parse(version_file).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and isinstance(getattr(node, "value", None), ast.Constant):
            values[target.id] = node.value.value
    if values.get("cuda"):
        return f"CUDA {values['cuda']}"
    if values.get("hip"):
        return f"ROCm {values['hip']}"
    return "CPU"


def versions_in_use() -> dict[str, str]:
    """sft-wizard's version and each library's installed version ("not installed" where absent)."""
    from importlib import metadata

    versions = {"sft-wizard": __version__, "python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    versions["torch-build"] = torch_build()
    return versions


def format_versions(versions: dict[str, str]) -> str:
    """One `name  version` line per entry, the torch build beside torch."""
    shown = {name: value for name, value in versions.items() if name != "torch-build"}
    shown["torch"] = f"{versions['torch']} ({versions['torch-build']} build)"
    width = max(map(len, shown))
    return "\n".join(f"{name:<{width}}  {value}" for name, value in shown.items())


class VersionAction(argparse.Action):
    """`--version`: print the versions in use and exit; read only when asked, so other commands pay nothing."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values, option_string=None) -> None:
        print(format_versions(versions_in_use()))
        parser.exit()
