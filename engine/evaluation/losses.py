"""Loss on the learned tokens of each row, as the trainer computes it (the model's own shifted cross-entropy)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.data.label.rows import IGNORED
from engine.evaluation.rows import EvalRow

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from engine.outputs.generate import GeneratingModel


@dataclass
class RowLoss:
    """Summed negative log-likelihood of one row's learned tokens and how many there were."""

    total: float
    tokens: int

    @property
    def mean(self) -> float:
        """Mean loss per learned token."""
        return self.total / self.tokens if self.tokens else float("nan")


def row_losses(model: "GeneratingModel", rows: list[EvalRow]) -> list[RowLoss]:
    """Each row's loss under `model` (one row per forward pass: no padding to get wrong)."""
    import torch

    losses = []
    with torch.no_grad():
        for row in rows:
            ids = torch.tensor([row.input_ids], device=model.device)
            labels = torch.tensor([row.labels], device=model.device)
            predicted = sum(1 for label in row.labels[1:] if label != IGNORED)  # labels shift by one inside the model
            if not predicted:  # the model's loss over no tokens is NaN, which would spread into the mean
                losses.append(RowLoss(0.0, 0))
                continue
            loss = model(input_ids=ids, labels=labels).loss
            losses.append(RowLoss(float(loss) * predicted, predicted))
    return losses


def mean_loss(losses: list[RowLoss]) -> float:
    """Mean loss over every learned token of every row (rows weighted by their tokens)."""
    tokens = sum(loss.tokens for loss in losses)
    return sum(loss.total for loss in losses) / tokens if tokens else float("nan")


def perplexity(loss: float) -> float:
    """exp(loss), infinite where it overflows."""
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")
