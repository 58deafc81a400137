"""What the wizard's dataset step and `check --sample` show: one row as the trainer's data collator hands it over.

The sample is cut from the token ids and labels that SFTTrainer's own collator (TRL's
DataCollatorForLanguageModeling) returns for the row, packed first when the run packs, so the learned part
shown is the loss mask the trainer uses, token for token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.errors import UserError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from engine.config.run_config import RunConfig
    from engine.data.label.lengths import LengthStats
    from engine.data.pipeline import PreparedData

CHECKED_ROWS = 2000
"""How many rows of each split the preview and `check` label (training labels them all)."""


@dataclass
class Segment:
    """A run of consecutive tokens that are all learned or all context."""

    text: str
    learned: bool
    tokens: int


@dataclass
class Sample:
    """One training row as the collator returns it, cut into context and learned segments."""

    index: int
    segments: list[Segment] = field(default_factory=list)
    source: str | None = None
    """The path of the source the row came from."""

    @property
    def tokens(self) -> int:
        """Tokens in the row."""
        return sum(s.tokens for s in self.segments)

    @property
    def learned_tokens(self) -> int:
        """Tokens the loss is computed on."""
        return sum(s.tokens for s in self.segments if s.learned)

    def to_dict(self) -> dict:
        """The sample as `check --sample N --json` prints it."""
        return {"index": self.index, "source": self.source, "tokens": self.tokens, "learned_tokens": self.learned_tokens,
                "segments": [{"text": s.text, "learned": s.learned} for s in self.segments]}

    def marked_text(self, start: str = "⟦", end: str = "⟧") -> str:
        """The row's text with each learned segment between the two markers."""
        return "".join(f"{start}{s.text}{end}" if s.learned else s.text for s in self.segments)


@dataclass
class DataPreview:
    """A prepared dataset seen from the user's side, or the problem that stopped it."""

    format: str = ""
    template: str = ""
    columns: list[str] = field(default_factory=list)
    train_rows: int = 0
    eval_rows: int = 0
    sample: Sample | None = None
    stats: LengthStats | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """What the model learns, in words (how assistant turns are found, what the template adds)."""
    problem: str | None = None
    sources: list[dict] = field(default_factory=list)
    """Per training source: path, rows read, rows trained, tokens and learned tokens (of the rows checked)."""
    source_samples: list[Sample | None] = field(default_factory=list)
    """For a mixture: each source's first training row (None when it gives none among the rows checked)."""


def collator_view(row: dict, tokenizer: PreTrainedTokenizerBase, config: RunConfig) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of one labelled row as SFTTrainer's data collator returns it, padding removed."""
    from datasets import Dataset
    from trl.data_utils import pack_dataset
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    packing = bool(config.training_value("packing"))
    strategy = config.training_value("packing_strategy")
    examples = [{"input_ids": list(row["input_ids"]), "labels": list(row["labels"])}]
    if packing:  # as SFTTrainer packs: bfd keeps the row whole, bfd_split and wrapped may cut it into pieces
        packed = pack_dataset(Dataset.from_list(examples), config.training_value("max_length"), strategy)
        examples = [dict(example) for example in packed]
    padding_free = bool(config.training_value("padding_free")) or (packing and strategy in ("bfd", "bfd_split"))
    pad = config.training_value("pad_token") or tokenizer.pad_token or tokenizer.eos_token
    # pad_to_multiple_of only adds padding after the row, which is cut off below anyway
    collator = DataCollatorForLanguageModeling(pad_token_id=tokenizer.convert_tokens_to_ids(pad),
                                               padding_free=padding_free)
    batch = collator(examples)
    ids, labels = [], []
    for index, example in enumerate(examples):
        length = len(example["input_ids"])
        offset = sum(len(e["input_ids"]) for e in examples[:index]) if padding_free else 0
        line = 0 if padding_free else index
        ids += batch["input_ids"][line, offset:offset + length].tolist()
        labels += batch["labels"][line, offset:offset + length].tolist()
    return ids, labels


def segments(ids: list[int], labels: list[int], tokenizer: PreTrainedTokenizerBase) -> list[Segment]:
    """The tokens cut into runs of learned and context tokens, their texts joined giving the decoded row."""
    from engine.data.label.rows import IGNORED

    runs: list[tuple[bool, int, int]] = []
    for index, label in enumerate(labels):
        learned = label != IGNORED
        if runs and runs[-1][0] == learned:
            runs[-1] = (learned, runs[-1][1], index + 1)
        else:
            runs.append((learned, index, index + 1))
    out, decoded = [], ""
    for learned, start, end in runs:
        upto = tokenizer.decode(ids[:end])
        text = upto[len(decoded):] if upto.startswith(decoded) else tokenizer.decode(ids[start:end])
        decoded += text
        out.append(Segment(text, learned, end - start))
    return out


def row_sample(data: PreparedData, index: int, tokenizer: PreTrainedTokenizerBase, config: RunConfig) -> Sample:
    """Training row `index` (0-based, among the labelled rows) as the collator hands it to the model."""
    rows = data.learning.rows
    if not 0 <= index < len(rows):
        raise UserError(f"--sample {index}: the data has training rows 0 to {len(rows) - 1}"
                        f"{f' among the first {CHECKED_ROWS} checked' if len(rows) == CHECKED_ROWS else ''}.")
    ids, labels = collator_view(rows[index], tokenizer, config)
    origins = data.learning.origins
    source = data.sources[origins[index]].section.path if origins and data.sources else None
    return Sample(index, segments(ids, labels, tokenizer), source)


def dataset_preview(config: RunConfig, index: int = 0) -> DataPreview:
    """Prepare the config's data and cut one sample into the parts the model reads and learns."""
    from engine.data.pipeline import prepare_for_training
    from engine.libraries import quiet_libraries
    from engine.models.hub import load_tokenizer

    quiet_libraries()
    try:
        tokenizer = load_tokenizer(config.model)
        data = prepare_for_training(config, tokenizer, rows=CHECKED_ROWS)
        sample = row_sample(data, min(index, len(data.learning.rows) - 1), tokenizer, config)
        origins = data.learning.origins if len(data.sources) > 1 else []
        firsts = [origins.index(k) if k in origins else None for k in range(len(data.sources))] if origins else []
        source_samples = [row_sample(data, first, tokenizer, config) if first is not None else None for first in firsts]
    except UserError as exc:
        return DataPreview(problem=str(exc))
    return DataPreview(data.format, data.template, data.columns_found, len(data.train),
                       len(data.eval) if data.eval is not None else 0, sample, data.stats, data.warnings, data.notes,
                       sources=source_tokens(data), source_samples=source_samples)


def source_tokens(data: PreparedData) -> list[dict]:
    """data.source_counts() with each source's tokens and learned tokens among the labelled training rows."""
    from engine.data.label.rows import IGNORED

    counts = data.source_counts()[:len(data.sources)]
    for entry in counts:
        entry["tokens"] = entry["learned_tokens"] = 0
        entry["learned_share"] = None
    if data.learning is None:  # no tokenizer here (a Hub model not cached): rows are counted, tokens are not
        return counts
    for origin, labels in zip(data.learning.origins, data.learning.rows["labels"]):
        counts[origin]["tokens"] += len(labels)
        counts[origin]["learned_tokens"] += sum(1 for label in labels if label != IGNORED)
    learned = sum(entry["learned_tokens"] for entry in counts) or 1
    for entry in counts:
        entry["learned_share"] = entry["learned_tokens"] / learned
    return counts
