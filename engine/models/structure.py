"""A model's config and structure, found offline where possible (catalog, cache) and cached."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from engine.atomic import write_text_atomic
from engine.errors import UserError
from engine.models.architecture import LinearGroup, ModelStructure
from engine.paths import cache_dir

if TYPE_CHECKING:
    from transformers import PretrainedConfig

    from engine.config.run_config import ModelSection


@lru_cache(maxsize=1)
def catalog() -> list[dict]:
    """Bundled config.json data of popular open models, for offline model choice and estimates."""
    return json.loads(resources.files("engine.models.catalog").joinpath("models.json").read_text(encoding="utf-8"))


def catalog_entry(model_id: str) -> dict | None:
    """The catalog entry of a Hub id (case-insensitive), or None."""
    wanted = model_id.lower()
    return next((e for e in catalog() if e["id"].lower() == wanted), None)


def config_dict(model: "ModelSection") -> dict:
    """The model's config.json as a dict: tiny-demo, a local folder, the catalog, or the HF cache/Hub."""
    from engine.models.tiny_demo import TINY_DEMO, ensure_tiny_demo

    name = model.name_or_path
    if name == TINY_DEMO:
        return json.loads((ensure_tiny_demo() / "config.json").read_text(encoding="utf-8"))
    path = Path(name).expanduser()
    if path.exists():
        config_file = path / "config.json"
        if not config_file.is_file():
            raise UserError(f"model.name_or_path = {name}: no config.json in that directory.")
        try:
            return json.loads(config_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UserError(f"{config_file}: broken JSON ({exc}).") from None
    entry = catalog_entry(name)
    if entry is not None:
        return dict(entry["config"])
    from engine.models.hub import load_model_config

    return load_model_config(model).to_dict()


def structure_to_json(structure: ModelStructure) -> dict:
    """A structure as plain data."""
    return dataclasses.asdict(structure)


def _structure_from_json(data: dict) -> ModelStructure:
    data = dict(data)
    data["linear"] = {k: LinearGroup(**v) for k, v in data["linear"].items()}
    return ModelStructure(**data)


def config_key(config: dict) -> str:
    """A short stable hash of a config dict."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:20]


@lru_cache(maxsize=1)
def _bundled_structures() -> dict:
    """Structures of the catalog models, precomputed by scripts/build_catalog.py."""
    try:
        return json.loads(resources.files("engine.models.catalog").joinpath("structures.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def structure_for_config(config: dict) -> ModelStructure:
    """The structure of a config dict, from the cache or measured on the meta device."""
    key = config_key(config)
    bundled = _bundled_structures().get(key)
    if bundled is not None:
        return _structure_from_json(bundled)
    path = cache_dir() / "structures" / f"{key}.json"
    try:
        return _structure_from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        pass
    from engine.libraries import quiet_libraries

    quiet_libraries(training=False)
    from transformers import AutoConfig

    from engine.models.architecture import structure_from_config

    config = {k: v for k, v in config.items() if k not in ("architectures", "auto_map", "quantization_config")}
    model_type = config.pop("model_type", None)
    if not model_type:
        raise UserError("the model's config.json has no model_type.")
    try:
        hf_config = AutoConfig.for_model(model_type, **config)
    except (ValueError, KeyError) as exc:
        raise UserError(f"model type {model_type!r} is not known to the installed transformers: {exc}") from None
    structure = structure_from_config(hf_config)
    try:
        write_text_atomic(path, json.dumps(structure_to_json(structure)))
    except OSError:
        pass
    return structure


def hf_config(model: "ModelSection") -> "PretrainedConfig":
    """A transformers config built from config_dict (works offline for catalog models)."""
    from engine.libraries import quiet_libraries

    quiet_libraries(training=False)
    from transformers import AutoConfig

    raw = {k: v for k, v in config_dict(model).items() if k not in ("auto_map", "quantization_config")}
    model_type = raw.pop("model_type", None)
    if not model_type:
        raise UserError(f"model {model.name_or_path}: config.json has no model_type.")
    return AutoConfig.for_model(model_type, **raw)


def model_structure(model: "ModelSection") -> ModelStructure:
    """The structure of the model a preset names."""
    return structure_for_config(config_dict(model))

