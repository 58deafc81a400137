"""Where sft-wizard keeps user presets, caches and its run index (XDG base directories)."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """The user's sft-wizard config directory (user presets live in `presets/` under it)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "sft-wizard"


def cache_dir() -> Path:
    """The user's sft-wizard cache directory (tiny-demo model, schema cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sft-wizard"


def state_dir() -> Path:
    """The user's sft-wizard state directory (the index of the runs started here)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "sft-wizard"


def user_presets_dir() -> Path:
    """The directory holding the user's saved presets."""
    return config_dir() / "presets"
