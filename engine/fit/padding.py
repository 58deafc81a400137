"""Padding and packing, from the token lengths of the training rows: how many computed tokens are padding,
and how much faster packing would make a step by a simple compute model (matmul FLOPs per real token).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.models.architecture import ModelStructure


def expected_padded_length(lengths: list[int], max_length: int, micro: int) -> float:
    """The expected length of a batch of `micro` random rows padded to its longest (rows truncated at max_length)."""
    clipped = sorted(min(n, max_length) for n in lengths)
    count = len(clipped)
    # P(longest of `micro` draws <= k-th shortest) = (k / count) ** micro
    return sum(length * ((k / count) ** micro - ((k - 1) / count) ** micro) for k, length in enumerate(clipped, 1))


def padding_waste(lengths: list[int], max_length: int, micro: int) -> float:
    """The share of computed tokens that are padding at this micro-batch."""
    mean = sum(min(n, max_length) for n in lengths) / len(lengths)
    return 1 - mean / expected_padded_length(lengths, max_length, micro)


def _flops_per_token(structure: "ModelStructure", attended: float) -> float:
    """Forward FLOPs of one token: every Linear (lm_head included) plus attention over `attended` positions."""
    dense = 2 * sum(group.params for group in structure.linear.values())
    attention = 4 * structure.num_heads * structure.head_dim * attended * structure.num_layers
    return dense + attention


def packing_gain(structure: "ModelStructure", lengths: list[int], max_length: int, micro: int, varlen: bool) -> float:
    """Predicted tokens/s of packed (bfd) over padded batches.

    Padded: every position of the batch is computed, attending over the padded length. Packed with a
    variable-length kernel: rows attend only within themselves. Packed without one (sdpa, eager):
    a block-diagonal mask over the whole packed row, so each token attends over max_length positions.
    """
    clipped = [min(n, max_length) for n in lengths]
    mean = sum(clipped) / len(clipped)
    padded = expected_padded_length(lengths, max_length, micro)
    padded_cost = _flops_per_token(structure, padded) * padded / mean
    attended = sum(n * n for n in clipped) / sum(clipped) if varlen else max_length
    return padded_cost / _flops_per_token(structure, attended)
