"""Which LM-head behaviour the installed TRL has, read from its files without importing it."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig

FUSED_HEAD_CALL = "add_fused_lm_head("


@dataclass(frozen=True)
class LogitsChoice:
    """full or chunked, and why, in words for the estimate and the Method panel."""

    mode: str
    why: str

    @property
    def label(self) -> str:
        """'logits: chunked (TRL 1.16.0 fused LM head)'."""
        return f"logits: {self.mode} ({self.why})"


@cache
def installed_trl() -> tuple[str | None, bool]:
    """The installed TRL version and whether its SFTTrainer installs the fused LM head (None, False without TRL).

    Read once per process: optimize estimates dozens of candidate settings, each asking this.
    """
    import importlib.metadata  # 17 ms of email parsing: not at import, where the wizard's first screen would wait

    try:
        version = importlib.metadata.version("trl")
    except importlib.metadata.PackageNotFoundError:
        return None, False
    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.submodule_search_locations:
        return version, False
    source = Path(list(spec.submodule_search_locations)[0]) / "trainer" / "sft_trainer.py"
    try:
        return version, FUSED_HEAD_CALL in source.read_text(encoding="utf-8")
    except OSError:
        return version, False


def logits_choice(config: "RunConfig | None" = None, asked: str | None = None) -> LogitsChoice:
    """The LM-head behaviour to estimate: `asked` (--logits) when given, else what the installed TRL does for `config`.

    TRL's SFTTrainer scores the loss through its fused head unless label smoothing (or a custom
    compute_loss_func, which sft-wizard never sets) needs the full logits.
    """
    version, fused = installed_trl()
    if asked is not None:
        return LogitsChoice(asked, "as asked with --logits")
    if not fused:
        return LogitsChoice("full", f"TRL {version} materialises them" if version else "TRL not installed")
    smoothing = float(config.training_value("label_smoothing_factor") or 0) if config is not None else 0.0
    if smoothing > 0:
        return LogitsChoice("full", f"TRL {version}: label smoothing needs the full logits")
    return LogitsChoice("chunked", f"TRL {version} fused LM head")
