"""The settings of TRL's other trainers that `trl sft` does not read, from TRL's own command parsers and config classes.

Reading them imports trl (seconds), so they are kept as JSON keyed by the installed library versions: bundled
beside the schema for the versions sft-wizard ships with (scripts/build_catalog.py), else built once and cached.
"""

from __future__ import annotations

import json
from functools import lru_cache

from engine.atomic import write_text_atomic
from engine.config.schema import BUNDLED_DIR, build_apart, versions_key
from engine.paths import cache_dir

WHAT = {"dpo": "DPO", "grpo": "GRPO", "kto": "KTO", "reward": "reward-model", "rloo": "RLOO",
        "distillation": "distillation"}
"""How a message names the training of each `trl` command."""


def trainer_keys_file_name() -> str:
    """The file name of the trainer settings of the installed library versions."""
    return f"trainer-keys-{versions_key()}.json"


@lru_cache(maxsize=1)
def other_trainers() -> dict[str, dict]:
    """Each other TRL trainer by the name users know it by, with what it trains and the settings `trl sft` lacks."""
    name = trainer_keys_file_name()
    for path in (BUNDLED_DIR / name, cache_dir() / name):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    built = build_apart("engine.importing.trainer_keys", "build_other_trainers")
    try:
        write_text_atomic(cache_dir() / name, json.dumps(built))
    except OSError:
        pass  # a read-only cache only costs time
    return built


def build_other_trainers() -> dict[str, dict]:
    """The settings each `trl` training command and each experimental TRL trainer config has beyond `trl sft`'s."""
    import dataclasses
    import importlib
    import warnings
    from pathlib import Path

    import trl
    from transformers import TrainingArguments
    from trl.cli.commands import get_commands
    from trl.cli.commands.training import TrainingCommand

    def settings(classes) -> set[str]:
        return {field.name for cls in classes for field in dataclasses.fields(cls) if field.init}

    commands = {command.name: importlib.import_module(f"trl.scripts.{command.name}").make_parser(prog="trl").dataclass_types
                for command in get_commands() if isinstance(command, TrainingCommand)}
    sft = settings(commands.pop("sft"))
    trainers = {f"trl {name}": {"what": WHAT.get(name, name), "keys": sorted(settings(classes) - sft)}
                for name, classes in commands.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # experimental modules warn on import
        for file in sorted(Path(trl.__file__).parent.glob("experimental/*/*_config.py")):
            module_name = ".".join(file.relative_to(Path(trl.__file__).parent.parent).with_suffix("").parts)
            try:
                module = importlib.import_module(module_name)
            except Exception:  # an experimental trainer whose optional library is missing
                continue
            for cls in vars(module).values():
                if (isinstance(cls, type) and cls.__module__ == module_name and issubclass(cls, TrainingArguments)
                        and dataclasses.is_dataclass(cls)):
                    trainers[f"TRL's experimental {cls.__name__}"] = {
                        "what": cls.__name__.removesuffix("Config"), "keys": sorted(settings([cls]) - sft)}
    return trainers
