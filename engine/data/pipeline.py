"""A preset's data as SFTTrainer trains on it, top to bottom: every source through its stages, mixed, then labelled.

per source  engine.data.source  read, map, normalise, check, convert (prepare_source)
mix         engine.data.mix     which rows of each source are trained and evaluated, in what order (a plan)
label       engine.data.label   the plan's rows as token ids and labels, each source with its own rules

Training, `check`, the wizard's preview and the memory estimate all take their data from prepare_for_training.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.data.label.learning import Learning, learn_rows, loss_settings
from engine.data.label.lengths import LengthStats, check_lengths, length_stats
from engine.data.label.mixture import mixed_learning
from engine.data.mix import Plans, plans_of, uses_token_shares
from engine.data.source import SourceRows, prepare_source
from engine.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

    from engine.config.run_config import DatasetSection, RunConfig


@dataclass
class PreparedData:
    """Train and eval datasets in a form SFTTrainer takes, and what was decided on the way."""

    train: Dataset
    """One source: its converted training rows; several: the mixture's plan (source, row)."""
    eval: Dataset | None
    format: str
    template: str
    columns_found: list[str]
    plans: Plans
    """Which rows of which source are trained and evaluated, in order (engine.data.mix)."""
    warnings: list[str] = field(default_factory=list)
    stats: LengthStats | None = None
    """Token lengths of the training rows, once measured against max_length."""
    settings: dict = field(default_factory=dict)
    """The loss settings the rows were labelled with (engine.data.label.rows.row_labels)."""
    learning: Learning | None = None
    """The training rows as token ids and labels, exactly as the trainer gets them."""
    eval_learning: Learning | None = None
    notes: list[str] = field(default_factory=list)
    """What the model learns, said once (how assistant turns are found, what the template adds)."""
    sources: list["SourceRows"] = field(default_factory=list)
    eval_sources: list["SourceRows"] = field(default_factory=list)

    def source_counts(self) -> list[dict]:
        """Per training source: its path, the rows read, and the rows it gave to training and evaluation."""
        from collections import Counter

        trained = Counter(self.learning.origins) if self.learning is not None else Counter(self.plans.train["source"])
        held = Counter(self.plans.eval["source"]) if self.plans.eval is not None else Counter()
        own = [{"path": s.section.path, "rows": len(s.table), "train_rows": trained[i],
                "eval_rows": 0 if self.eval_sources else held[i]} for i, s in enumerate(self.sources)]
        return own + [{"path": s.section.path, "rows": len(s.table), "train_rows": 0, "eval_rows": held[i]}
                      for i, s in enumerate(self.eval_sources)]

    @property
    def trained(self) -> Dataset | None:
        """The training rows SFTTrainer gets: input_ids and labels."""
        return self.learning.rows if self.learning is not None else None

    @property
    def evaluated(self) -> Dataset | None:
        """The eval rows SFTTrainer gets, or None."""
        return self.eval_learning.rows if self.eval_learning is not None else None


def prepare_for_training(config: "RunConfig", tokenizer: PreTrainedTokenizerBase | None,
                         rows: int | None = None) -> PreparedData:
    """The data exactly as training takes it: read, checked, converted, mixed, tokenized with its labels, warned about.

    Training, `check` and the wizard's preview all go through here, so they never disagree; `rows` labels only
    the first rows of each split (a check), None all of them (training). Each source is labelled with its own
    rules (roles_to_train, train_on_eos), then its rows are put where the mixture's plan has them.
    """
    dataset = config.dataset
    if tokenizer is None:  # no labels without a tokenizer: the sources and their plan
        return prepare_data(dataset)
    train, evaluation = read_sources(dataset, tokenizer)  # per source: read, map, normalise, check, convert
    settings = [loss_settings(config, s.table, tokenizer, s.name, s.section) for s in train]
    eval_settings = [loss_settings(config, s.table, tokenizer, s.name, s.section) for s in evaluation]
    whole = _whole(dataset, train, settings, tokenizer)  # token shares: the mix needs every row's length first
    eval_whole = _whole(dataset, evaluation, eval_settings, tokenizer)
    data = _prepared(train, evaluation, plans_of(dataset, [len(s.table) for s in train],  # mix
                                                 [len(s.table) for s in evaluation], _lengths(whole),
                                                 _lengths(eval_whole)))
    name = train[0].name if len(train) == 1 else f"dataset mixture of {len(train)} sources"
    data.settings = settings[0]
    head = data.plans.train.select(range(min(rows, len(data.plans.train)))) if rows else data.plans.train
    if len(head) == 0:
        raise UserError(f"{name}: the shares leave no training row; raise them (dataset.sources[].share).")
    data.learning = mixed_learning(head, train, settings, tokenizer, whole)  # label the plan's rows
    data.stats = length_stats(data.learning.lengths, data.settings["max_length"])
    data.warnings += check_lengths(data.stats, name)
    if len(data.learning.rows) == 0:
        raise UserError(f"{name}: no training row has anything to learn (every token's label is masked); "
                        "check that the rows hold assistant turns or completions.")
    data.warnings += data.learning.warnings
    data.notes += data.learning.notes
    if data.plans.eval is not None:
        eval_head = data.plans.eval.select(range(min(rows, len(data.plans.eval)))) if rows else data.plans.eval
        data.eval_learning = mixed_learning(eval_head, evaluation or train, eval_settings or settings, tokenizer,
                                            eval_whole if evaluation else whole)
        data.warnings += [f"eval: {warning}" for warning in data.eval_learning.warnings]
    return data


def prepare_data(section: "DatasetSection", tokenizer: PreTrainedTokenizerBase | None = None) -> PreparedData:
    """Read, check, convert and split the data of a preset's dataset section (token shares need prepare_for_training)."""
    train, evaluation = read_sources(section, tokenizer)
    plans = plans_of(section, [len(s.table) for s in train], [len(s.table) for s in evaluation])
    return _prepared(train, evaluation, plans)


def read_sources(dataset: "DatasetSection",
                 tokenizer: PreTrainedTokenizerBase | None) -> tuple[list[SourceRows], list[SourceRows]]:
    """Every training source and every evaluation source, each prepared on its own."""
    train = [prepare_source(section, tokenizer, f"dataset {section.path}") for section in dataset.training_sources()]
    evaluation = [prepare_source(section, tokenizer, f"dataset {section.path}")
                  for section in dataset.evaluation_sources()]
    if dataset.eval_path and not dataset.is_mixture and dataset.format == "auto" and evaluation[0].format != train[0].format:
        raise UserError(f"dataset {dataset.eval_path} has a different format from the training data ({train[0].format}).")
    return train, evaluation


def _whole(dataset: "DatasetSection", sources: list[SourceRows], settings: list[dict],
           tokenizer: PreTrainedTokenizerBase) -> list[Learning] | None:
    """Every row of every source labelled, when the sources are mixed by their tokens; None otherwise."""
    if not uses_token_shares(dataset, [s.section for s in sources]):
        return None
    return [learn_rows(s.table, tokenizer, each, s.name) for s, each in zip(sources, settings)]


def _lengths(whole: list[Learning] | None) -> list[list[int]] | None:
    """Each source's rows' token lengths as trained (cut to max_length)."""
    return None if whole is None else [[len(ids) for ids in learning.cut["input_ids"]] for learning in whole]


def _prepared(train: list[SourceRows], evaluation: list[SourceRows], plans: Plans) -> PreparedData:
    """The prepared data of the sources and their plans; one source's rows are its converted rows in plan order."""
    if len(train) == 1:
        rows = train[0].table.select(plans.train["row"])
    else:
        rows = plans.train
    held = None
    if plans.eval is not None:
        held = (evaluation or train)[0].table.select(plans.eval["row"]) if len(evaluation or train) == 1 else plans.eval
    warnings = [warning for source in train + evaluation for warning in source.warnings]
    return PreparedData(rows, held, _joined(s.format for s in train), _joined(s.template for s in train),
                        list(dict.fromkeys(c for s in train for c in s.columns_found)), plans, warnings,
                        sources=train, eval_sources=evaluation)


def _joined(values: Iterable[str]) -> str:
    return " + ".join(dict.fromkeys(values))
