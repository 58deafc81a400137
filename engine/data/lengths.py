"""Token lengths of the prepared rows against training.max_length."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.data.formats import render_parts
from engine.errors import UserError

if TYPE_CHECKING:
    pass


@dataclass
class LengthStats:
    """Token lengths of the training rows against the max length."""

    count: int
    min: int
    median: int
    p95: int
    max: int
    max_length: int | None
    truncated: int

    @property
    def truncated_share(self) -> float:
        """The share of rows longer than the max length."""
        return self.truncated / self.count if self.count else 0.0


def token_lengths(train: Any, tokenizer: Any, sample: int = 2000) -> list[int]:
    """Token lengths of (up to `sample` of) the prepared training rows, as trained, sorted."""
    rows = train.select(range(min(sample, len(train))))
    lengths = []
    for row in rows:
        if "messages" in row:
            ids = tokenizer.apply_chat_template(row["messages"], tokenize=True)
            lengths.append(len(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids))
        else:
            context, learned = render_parts(row, tokenizer)
            lengths.append(len(tokenizer(context + learned, add_special_tokens=True)["input_ids"]))
    return sorted(lengths)


def length_stats(train: Any, tokenizer: Any, max_length: int | None, sample: int = 2000) -> LengthStats:
    """Token length statistics of (up to `sample` of) the prepared training rows."""
    lengths = token_lengths(train, tokenizer, sample)
    count = len(lengths)
    truncated = sum(1 for n in lengths if max_length and n > max_length)
    return LengthStats(count, lengths[0], lengths[count // 2], lengths[min(count - 1, int(count * 0.95))], lengths[-1],
                       max_length, truncated)


def check_lengths(stats: LengthStats, source: str) -> list[str]:
    """Warnings about truncation; UserError when every row is longer than the max length."""
    if stats.max_length and stats.count and stats.truncated == stats.count:
        raise UserError(f"{source}: every row is longer than training.max_length = {stats.max_length} tokens "
                        f"(shortest {stats.min}, median {stats.median}); raise max_length.")
    if stats.truncated:
        return [f"{stats.truncated} of {stats.count} rows ({stats.truncated_share:.0%}) are longer than max_length "
                f"{stats.max_length} and will be truncated (p95 {stats.p95}, max {stats.max} tokens)."]
    return []
