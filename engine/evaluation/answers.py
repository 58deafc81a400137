"""Greedy answers to each row's prompt, as token ids decoded to text."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.evaluation.rows import EvalRow

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from engine.outputs.generate import GeneratingModel

EXTRA_TOKENS = 16
"""Tokens allowed past the reference's length, so a longer answer shows as longer rather than cut to fit."""
MAX_NEW_TOKENS = 512


def greedy_answers(model: "GeneratingModel", tokenizer: "PreTrainedTokenizerBase", rows: list[EvalRow]) -> list[str]:
    """The model's greedy continuation of each row's prompt, special tokens left out, up to the reference's length."""
    import torch

    answers = []
    with torch.no_grad():
        for row in rows:
            ids = torch.tensor([row.prompt_ids], device=model.device)
            budget = min(len(row.reference_ids) + EXTRA_TOKENS, MAX_NEW_TOKENS)
            output = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=budget,
                                    do_sample=False, pad_token_id=tokenizer.pad_token_id)
            answers.append(tokenizer.decode(output[0][ids.shape[1]:], skip_special_tokens=True).strip())
    return answers


def reference_text(tokenizer: "PreTrainedTokenizerBase", row: EvalRow) -> str:
    """The row's reference answer as text, special tokens (EOS) left out."""
    return tokenizer.decode(row.reference_ids, skip_special_tokens=True).strip()


def prompt_text(tokenizer: "PreTrainedTokenizerBase", row: EvalRow) -> str:
    """The row's prompt as text, as the model saw it."""
    return tokenizer.decode(row.prompt_ids, skip_special_tokens=True).strip()
