"""Mix: which rows of each source are trained, in what order, picked by the `datasets` library's own tools.

A plan is a datasets.Dataset of (source, row) pairs: each source's row numbers are split (eval_split), sampled to
its share (`.shuffle(seed).select`, whole copies for a multiple) or to its share of the mixture's tokens or rows, then
concatenated or interleaved (`concatenate_datasets`, `interleave_datasets`). The rows themselves are labelled per
source, with its own rules, and put in the plan's order afterwards (engine.data.label.mixture).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset

    from engine.config.run_config import DatasetSection


@dataclass
class Plans:
    """The training plan and the evaluation plan (None without evaluation data)."""

    train: Dataset
    eval: Dataset | None


def row_numbers(source: int, count: int) -> Dataset:
    """A plan of one source's rows in their order."""
    from datasets import Dataset

    return Dataset.from_dict({"source": [source] * count, "row": list(range(count))})


def shared(plan: Dataset, share: float | None, seed: int) -> Dataset:
    """The plan sampled to a share of its rows: whole copies for the integer part, the rest picked with the seed."""
    from datasets import concatenate_datasets

    if share is None or share == 1:
        return plan
    copies, rest = int(share), round((share - int(share)) * len(plan))
    parts = [plan] * copies + ([plan.shuffle(seed=seed).select(range(rest))] if rest else [])
    if not parts:
        return plan.select([])
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def mixture_shared(plans: list[Dataset], shares: list[float], lengths: list[list[int]], seed: int) -> list[Dataset]:
    """Each plan cut to its share of the mixture (lengths: tokens, or 1 a row), as large as no source repeating a row allows."""
    weights = [share / sum(shares) for share in shares]
    totals = [sum(lengths[plan[0]["source"]][row] for row in plan["row"]) if len(plan) else 0 for plan in plans]
    mixture_tokens = min(total / weight for total, weight in zip(totals, weights))
    out = []
    for index, (plan, weight) in enumerate(zip(plans, weights)):
        shuffled = plan.shuffle(seed=seed + index)
        target, taken, count = weight * mixture_tokens, 0, 0
        source_lengths = lengths[plan[0]["source"]] if len(plan) else []
        for row in shuffled["row"]:
            if count and taken + source_lengths[row] > target:
                break
            taken, count = taken + source_lengths[row], count + 1
        out.append(shuffled.select(range(count)))
    return out


def mixed(plans: list[Dataset], sections: list["DatasetSection"], dataset: "DatasetSection") -> Dataset:
    """The sources' plans as one: concatenated, or interleaved with each source's probability."""
    from datasets import concatenate_datasets, interleave_datasets

    pairs = [(plan, section) for plan, section in zip(plans, sections) if len(plan)] or [(plans[0], sections[0])]
    if len(pairs) == 1:
        return pairs[0][0]
    plans = [plan for plan, _ in pairs]
    if dataset.mix != "interleave":
        return concatenate_datasets(plans)
    given = [section.probability for _, section in pairs]
    probabilities = [p / sum(given) for p in given] if all(p is not None for p in given) else None
    return interleave_datasets(plans, probabilities=probabilities, seed=dataset.seed,
                               stopping_strategy=dataset.stopping_strategy)


def source_plans(counts: list[int], sections: list["DatasetSection"], dataset: "DatasetSection",
                 lengths: list[list[int]] | None, eval_split: float | None) -> tuple[Dataset, Dataset | None]:
    """(train, held-out eval) plans of a list of sources: each split, shared, then mixed."""
    from datasets import concatenate_datasets

    trains, evals = [], []
    for index, count in enumerate(counts):
        plan = row_numbers(index, count)
        if eval_split:
            if count < 2:
                raise UserError(f"dataset {sections[index].path} has {count} row(s): too few to hold out an eval split.")
            parts = plan.train_test_split(test_size=eval_split, seed=dataset.seed + index)
            plan, held = parts["train"], parts["test"]
            evals.append(held)
        trains.append(shared(plan, sections[index].share, dataset.seed + index))
    if uses_mixture_shares(sections):
        if dataset.mixture_share_of == "rows":
            lengths = [[1] * count for count in counts]
        if lengths is not None:  # token counts come with a tokenizer (engine.data.pipeline.prepare_for_training)
            trains = mixture_shared(trains, [section.mixture_share for section in sections], lengths, dataset.seed)
    held_out = concatenate_datasets(evals) if len(evals) > 1 else (evals[0] if evals else None)
    return mixed(trains, sections, dataset), held_out


def plans_of(dataset: "DatasetSection", counts: list[int], eval_counts: list[int],
             lengths: list[list[int]] | None = None, eval_lengths: list[list[int]] | None = None) -> Plans:
    """The training and evaluation plans of a dataset section, from its sources' row counts (and token lengths)."""
    train, held_out = source_plans(counts, dataset.training_sources(), dataset, lengths, dataset.eval_split)
    if eval_counts:
        evaluation, _ = source_plans(eval_counts, dataset.evaluation_sources(), dataset, eval_lengths, None)
        return Plans(train, evaluation)
    return Plans(train, held_out)


def uses_mixture_shares(sections: list["DatasetSection"]) -> bool:
    """Whether the sources are mixed by their shares of the mixture."""
    return bool(sections) and all(section.mixture_share is not None for section in sections)


def uses_token_shares(dataset: "DatasetSection", sections: list["DatasetSection"]) -> bool:
    """Whether the sources are mixed by their shares of the tokens (which needs every row's length first)."""
    return dataset.mixture_share_of == "tokens" and uses_mixture_shares(sections)
