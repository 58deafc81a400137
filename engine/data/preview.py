"""What the wizard's dataset step shows: a sample exactly as trained, token lengths, row counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.errors import UserError


@dataclass
class DataPreview:
    """A prepared dataset seen from the user's side, or the problem that stopped it."""

    format: str = ""
    template: str = ""
    columns: list[str] = field(default_factory=list)
    train_rows: int = 0
    eval_rows: int = 0
    context: str = ""
    """The sample's text the model reads but is not trained to produce."""
    learned: str = ""
    """The sample's text the loss is computed on."""
    stats: Any = None
    warnings: list[str] = field(default_factory=list)
    problem: str | None = None


def dataset_preview(config: Any, index: int = 0) -> DataPreview:
    """Prepare the config's data and render one sample with the learned part separated."""
    from engine.data.formats import render_parts
    from engine.data.prepare import prepare_for_training
    from engine.libraries import quiet_libraries
    from engine.models.hub import load_tokenizer

    quiet_libraries()
    try:
        tokenizer = load_tokenizer(config.model)
        data = prepare_for_training(config, tokenizer)
        row = data.train[min(index, len(data.train) - 1)]
        context, learned = render_parts(row, tokenizer)
        if config.training_value("completion_only_loss") is False and "prompt" in row:
            context, learned = "", context + learned  # loss on the whole text, as the course does
    except UserError as exc:
        return DataPreview(problem=str(exc))
    return DataPreview(data.format, data.template, data.columns_found, len(data.train),
                       len(data.eval) if data.eval is not None else 0, context, learned, data.stats, data.warnings)
