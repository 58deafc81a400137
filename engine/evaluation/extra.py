"""The eval extra (lm-eval, rouge-score, sacrebleu): present, or a UserError naming the install."""

from __future__ import annotations

import importlib.util

from engine.errors import UserError

INSTALL = "pip install -e '.[eval]' -c constraints.txt (or run bash scripts/setup.sh, which installs it)"

METRIC_MODULES = {"rouge_score": "rouge-score", "sacrebleu": "sacrebleu"}
HARNESS_MODULES = {"lm_eval": "lm-eval"}


def require_eval_extra(harness: bool) -> None:
    """Refuse to start without the metric packages (and lm-eval when tasks are asked for)."""
    wanted = {**METRIC_MODULES, **(HARNESS_MODULES if harness else {})}
    missing = [package for module, package in wanted.items() if importlib.util.find_spec(module) is None]
    if missing:
        raise UserError(f"sft-wizard eval needs the eval extra, and {', '.join(missing)} is not installed: {INSTALL}.")
