"""A mixture's rows as token ids and labels: each source labelled with its own rules, then put in the plan's order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.data.label.learning import Learning, learn_rows

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

    from engine.data.source import SourceRows


def mixed_learning(plan: Dataset, sources: list["SourceRows"], settings: list[dict], tokenizer: PreTrainedTokenizerBase,
                   whole: list[Learning] | None = None) -> Learning:
    """The plan's rows labelled (each source's rows once, with its settings), in plan order, empty rows left out.

    whole: every source already labelled in full (token shares needed the lengths), used instead of labelling again.
    """
    from datasets import concatenate_datasets

    picks = list(zip(plan["source"], plan["row"]))
    several = len(sources) > 1
    learnings: list[Learning | None] = []
    positions: list[dict[int, int]] = []
    warnings: list[str] = []
    notes: list[str] = []
    for index, source in enumerate(sources):
        needed = sorted({row for each, row in picks if each == index})
        if whole is not None:
            learning, position = whole[index], {row: row for row in needed}
        elif needed:
            learning = learn_rows(source.table.select(needed), tokenizer, settings[index], source.name)
            position = {row: place for place, row in enumerate(needed)}
        else:
            learning, position = None, {}
        learnings.append(learning)
        positions.append(position)
        if learning is not None:
            prefix = f"{source.name}: " if several else ""
            warnings += [prefix + warning for warning in learning.warnings]
            notes += [prefix + note for note in learning.notes]
    present = [learning for learning in learnings if learning is not None]
    combined = concatenate_datasets([learning.cut for learning in present]) if len(present) > 1 else present[0].cut
    offsets, start = [], 0
    for learning in learnings:
        offsets.append(start)
        start += len(learning.cut) if learning is not None else 0
    kept_sets = [set(learning.kept) if learning is not None else set() for learning in learnings]
    chosen, lengths, origins = [], [], []
    for each, row in picks:
        place = positions[each][row]
        lengths.append(learnings[each].lengths[place])
        if place in kept_sets[each]:
            chosen.append(offsets[each] + place)
            origins.append(each)
    return Learning(combined.select(chosen), combined, lengths, warnings, notes, chosen, origins)
