"""Resume on the settings a run was trained with: what shapes training, compared with the run's record (run.yaml).

A change is refused unless the user allows it (`train --resume --allow-changes`); an allowed one is written into
run.yaml (the config as trained from then on, and a `changes` entry with the step it took effect).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.atomic import write_text_atomic
from engine.record.rundir import RUN_FILE, read_run_file, run_config
from engine.yamlio import dump_yaml

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.yamlio import YamlValue

SOURCE_KEYS = ("path", "data_files", "subset", "split", "format", "template", "columns", "max_rows", "message_keys",
               "roles", "roles_to_train", "train_on_eos", "share", "mixture_share", "probability")
"""Each data source's own settings (dataset.KEY for one source, dataset.sources[N].KEY in a mixture)."""
DATASET_KEYS = ("eval_split", "eval_path", "seed", "mix", "mixture_share_of", "stopping_strategy")
TRAINING_KEYS = ("learning_rate", "lr_scheduler_type", "lr_scheduler_kwargs", "warmup_steps", "warmup_ratio",
                 "num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps", "seed",
                 "data_seed", "max_length")
LORA_KEYS = ("r", "lora_alpha", "target_modules", "modules_to_save", "use_rslora", "use_dora")
FINGERPRINT = "data.fingerprint"
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Change:
    """One setting that shapes training, as recorded and as asked now."""

    key: str
    recorded: "YamlValue"
    now: "YamlValue"

    def __str__(self) -> str:
        return f"{self.key}: {self.recorded!r} in run.yaml, {self.now!r} now"


def data_fingerprint(config: "RunConfig") -> str | None:
    """sha256 of the local data files' bytes (training sources, then evaluation ones); None without one (Hub data)."""
    digest = hashlib.sha256()
    sources = config.dataset.training_sources() + config.dataset.evaluation_sources()
    files = [Path(source.path) for source in sources if source.path and Path(source.path).is_file()]
    if not files:
        return None
    for file in files:
        with open(file, "rb") as stream:
            while chunk := stream.read(CHUNK_BYTES):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def shaping_settings(config: "RunConfig") -> "dict[str, YamlValue]":
    """The settings that shape training, by dotted key, as they will be used (SFTConfig's defaults filled in)."""
    dataset = config.dataset
    settings = {f"dataset.{key}": getattr(dataset, key) for key in DATASET_KEYS}
    sources = dataset.training_sources() + (dataset.evaluation_sources() if dataset.eval_sources else [])
    settings.update({source.key(key): getattr(source, key) for source in sources for key in SOURCE_KEYS})
    settings.update({f"training.{key}": config.training_value(key) for key in TRAINING_KEYS})
    if config.lora is None:
        settings["lora"] = None
    else:
        settings.update({f"lora.{key}": config.lora.get(key) for key in LORA_KEYS})
    return settings


def resume_changes(run_dir: str | Path, config: "RunConfig", fingerprint: str | None) -> list[Change]:
    """The settings that shape training where config (and its data's fingerprint) differs from run.yaml's record."""
    if not (Path(run_dir) / RUN_FILE).is_file():
        return []  # a record moved aside (damaged) is written again from this config
    recorded, now = shaping_settings(run_config(run_dir)), shaping_settings(config)
    changes = [Change(key, recorded.get(key), value) for key, value in now.items() if recorded.get(key) != value]
    changes += [Change(key, recorded[key], None) for key in recorded.keys() - now.keys()]
    recorded_fingerprint = (read_run_file(run_dir).get("data") or {}).get("fingerprint")
    if recorded_fingerprint and fingerprint and recorded_fingerprint != fingerprint:
        changes.append(Change(FINGERPRINT, recorded_fingerprint, fingerprint))
    return changes


def refusal(run_dir: str | Path, changes: list[Change]) -> str:
    """Why a resume with changed settings is refused, naming each change, and what to do."""
    listed = "\n".join(f"  - {change}" for change in changes)
    return (f"--resume: these settings differ from the run's record ({Path(run_dir) / RUN_FILE}) and would change "
            f"how training goes on:\n{listed}\nResume with the recorded settings, or add --allow-changes to train on "
            f"with these (run.yaml then records each change and the step it took effect).")


def record_changes(run_dir: str | Path, config: "RunConfig", changes: list[Change], step: int,
                   fingerprint: str | None) -> None:
    """Write into run.yaml the config trained from `step` on and a `changes` entry naming each change."""
    record = read_run_file(run_dir)
    record["config"] = config.to_dict()
    if fingerprint and isinstance(record.get("data"), dict):
        record["data"]["fingerprint"] = fingerprint
    entry = {"step": step, "changed": {c.key: {"from": c.recorded, "to": c.now} for c in changes}}
    record["changes"] = [*(record.get("changes") or []), entry]
    write_text_atomic(Path(run_dir) / RUN_FILE, dump_yaml(record))
