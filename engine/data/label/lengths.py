"""Token lengths of the prepared rows against training.max_length."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import UserError


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


def length_stats(lengths: list[int], max_length: int | None) -> LengthStats:
    """Statistics of the token lengths of the training rows (as tokenized for training, before cutting)."""
    lengths = sorted(lengths)
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
