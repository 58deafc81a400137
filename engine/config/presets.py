"""Finding, loading and saving presets: bundled ones, and the user's in the XDG config dir."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from engine import __version__
from engine.atomic import write_text_atomic
from engine.config.parsing import load_config_text
from engine.config.run_config import RunConfig
from engine.config.schema import library_versions
from engine.errors import UserError
from engine.paths import user_presets_dir
from engine.yamlio import YamlError, load_yaml

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass
class PresetInfo:
    """A preset found on disk, for listings."""

    name: str
    description: str
    path: Path
    source: str
    """bundled or user."""


def bundled_presets_dir() -> Path:
    """The directory of the presets shipped with sft-wizard."""
    return Path(str(resources.files("presets")))


def list_presets() -> list[PresetInfo]:
    """Bundled and user presets; a user preset hides a bundled one of the same name."""
    found: dict[str, PresetInfo] = {}
    for source, folder in (("bundled", bundled_presets_dir()), ("user", user_presets_dir())):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            found[path.stem] = PresetInfo(path.stem, _description(path), path, source)
    return sorted(found.values(), key=lambda p: (p.source != "bundled", p.name))


def _description(path: Path) -> str:
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
        return str(data.get("description") or "") if isinstance(data, dict) else ""
    except (OSError, UnicodeDecodeError, YamlError):  # a broken user file still lists, without a description
        return "(unreadable)"


def find_preset(name_or_file: str) -> Path:
    """The file behind a preset name or path; UserError naming the choices when there is none."""
    path = Path(name_or_file).expanduser()
    if path.suffix in (".yaml", ".yml") or os.sep in name_or_file or path.is_file():
        if path.is_file():
            return path
        raise UserError(f"preset file {name_or_file} does not exist.")
    for folder in (user_presets_dir(), bundled_presets_dir()):
        candidate = folder / f"{name_or_file}.yaml"
        if candidate.is_file():
            return candidate
    names = [p.name for p in list_presets()]
    close = difflib.get_close_matches(name_or_file, names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise UserError(f"no preset named {name_or_file!r}.{hint} Available: {', '.join(names)} "
                    "(`sft-wizard presets` lists them), or give a YAML file path.")


def load_preset(name_or_file: str, overrides: list[str] | None = None) -> tuple[RunConfig, list[str], Path]:
    """Load and validate a preset; dataset paths resolve against the preset's folder first."""
    path = find_preset(name_or_file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read preset {path}: {exc}.") from None
    config, warnings = load_config_text(text, str(path), overrides)
    for section in _data_sections(config):
        section.path = resolve_data_path(section.path, path.parent)
        if section.eval_path:
            section.eval_path = resolve_data_path(section.eval_path, path.parent)
    return config, warnings, path


def _data_sections(config: RunConfig) -> list:
    """The dataset section and each of its training and evaluation sources: everything that names a file."""
    return [config.dataset, *config.dataset.sources, *config.dataset.eval_sources]


def resolve_data_path(value: str, preset_dir: Path) -> str:
    """A relative data path names a file beside the preset if one is there, else one under the cwd."""
    if not value or os.path.isabs(value):
        return value
    beside = preset_dir / value
    if beside.exists():
        return str(beside.resolve())
    return value


def user_preset_path(name: str) -> Path:
    """Where the user preset NAME is saved; a name that is not a plain preset name is a UserError."""
    if not _NAME.match(name):
        raise UserError(f"preset name {name!r} may hold letters, digits, '.', '_' and '-' only.")
    return user_presets_dir() / f"{name}.yaml"


def save_preset(config: RunConfig, destination: str | None = None, overwrite: bool = False) -> Path:
    """Write config as a user preset (or to a file path) atomically; never clobbers unless asked."""
    if destination and (destination.endswith((".yaml", ".yml")) or os.sep in destination):
        path = Path(destination).expanduser()
    else:
        path = user_preset_path(destination or config.name)
    if path.exists() and not overwrite:
        raise UserError(f"{path} already exists; choose another name or allow overwriting.")
    saved = config.copy()
    for section in _data_sections(saved):
        for attr in ("path", "eval_path"):
            value = getattr(section, attr)
            if value and not os.path.isabs(value) and Path(value).exists():
                setattr(section, attr, str(Path(value).resolve()))
    versions = library_versions()
    header = (f"# sft-wizard {__version__} preset (trl {versions['trl']}, transformers {versions['transformers']}, "
              f"peft {versions['peft']})\n")
    write_text_atomic(path, header + saved.to_yaml())
    return path


def new_run_config() -> RunConfig:
    """The config a new run starts from: tiny-demo on the bundled demo data."""
    config = RunConfig(name="my-run")
    config.dataset.path = str(bundled_presets_dir() / "data" / "demo-alpaca.jsonl")
    config.training = {"num_train_epochs": 3, "learning_rate": 2e-4, "per_device_train_batch_size": 8,
                       "max_length": 512, "logging_steps": 5}
    return config
