"""The wizard's unsaved config, kept on disk so that a lost terminal loses nothing."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from engine.atomic import write_text_atomic
from engine.config.parsing import parse_config_collecting
from engine.config.run_config import RunConfig
from engine.paths import config_dir
from engine.yamlio import YamlError, dump_yaml, load_yaml


@dataclass
class Draft:
    """A config the user edited but did not save, as kept on disk, and when it was kept."""

    data: dict
    saved_at: float

    @property
    def model_name(self) -> str:
        """The draft's model id or path ('' when none was chosen yet)."""
        model = self.data.get("model")
        return str(model.get("name_or_path") or "") if isinstance(model, dict) else ""

    def restore(self) -> tuple[RunConfig, list[str]]:
        """The draft as a config of its valid settings, and what could not be restored."""
        config, _, problems = parse_config_collecting(self.data, "draft")
        return config, problems


def draft_path() -> Path:
    """Where the draft lives: draft.yaml in the user's sft-wizard config folder."""
    return config_dir() / "draft.yaml"


def save_draft(config: RunConfig) -> None:
    """Keep the config as the draft (atomically); a relative dataset path is kept as absolute."""
    data = config.to_dict()
    dataset_path = data.get("dataset", {}).get("path")
    if dataset_path and not os.path.isabs(dataset_path) and os.path.exists(dataset_path):
        data["dataset"]["path"] = os.path.abspath(dataset_path)  # the next start may be in another folder
    write_text_atomic(draft_path(), dump_yaml({"saved_at": time.time(), "config": data}))


def load_draft() -> Draft | None:
    """The kept draft, or None when there is none or it cannot be read at all (cheap: nothing is validated yet)."""
    try:
        text = draft_path().read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        raw = load_yaml(text)
    except YamlError:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict):
        return None
    return Draft(raw["config"], float(raw.get("saved_at") or 0))


def discard_draft() -> None:
    """Forget the draft (it was saved as a preset or became a run)."""
    draft_path().unlink(missing_ok=True)
