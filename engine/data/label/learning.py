"""What the model learns: a run's loss settings for its data, the rows as token ids and labels, and what to say.

Chat rows learn the assistant's turns (or dataset.roles_to_train's, with dataset.train_on_eos's end-of-turn
tokens) unless training.assistant_only_loss is false; prompt/completion rows
learn the completion unless training.completion_only_loss is false; text rows learn everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.data.label.rows import IGNORED, label_settings, row_labels, truncated_row
from engine.data.label.turn_masks import TurnMarksError, has_turn_flags, mask_runs
from engine.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

    from engine.config.run_config import DatasetSection, RunConfig


def is_chat(table: Dataset) -> bool:
    """Whether prepared rows are conversations (a `messages` column)."""
    return "messages" in table.column_names


def loss_settings(config: RunConfig, table: Dataset, tokenizer: PreTrainedTokenizerBase, source: str,
                  section: DatasetSection | None = None) -> dict:
    """The settings engine.data.label.rows.row_labels takes, decided from the preset, the source and its prepared rows."""
    chat = is_chat(table)
    asked = config.training.get("assistant_only_loss")
    if asked and not chat:
        raise UserError(f"{source}: training.assistant_only_loss: true applies to chat data (conversations), and these "
                        "rows are not conversations. Remove it; for prompt/completion rows training.completion_only_loss "
                        "decides (by default only the completion is learned).")
    if chat and asked is False:
        refuse_flags_learning_everything(table, source)
    return label_settings(loss_training_values(config, section), chat, tokenizer)


def loss_training_values(config: RunConfig, section: DatasetSection | None = None) -> dict:
    """The training values that decide the labels (engine.data.label.rows.label_settings), as the run uses them.

    section: the source whose learning rules apply (roles_to_train, train_on_eos); the dataset section by default.
    """
    section = section or config.dataset
    values = {key: config.training_value(key) for key in ("completion_only_loss", "max_length", "truncation_mode", "packing")}
    return {"assistant_only_loss": config.training.get("assistant_only_loss"), **values,
            "roles_to_train": list(section.roles_to_train), "train_on_eos": section.train_on_eos}


def how_assistant_turns_are_found(settings: dict, tokenizer: PreTrainedTokenizerBase) -> str:
    """One line saying how the assistant's tokens are told apart, for chat data."""
    if not settings["assistant_only_loss"]:
        return "learned: every token of the conversations, system and user turns too (training.assistant_only_loss: false)"
    if settings["chat_template"] is None:
        how = "found by rendering each conversation turn by turn (the chat template has no {% generation %} markers)"
    elif settings["chat_template"] == tokenizer.chat_template:
        how = "marked by the chat template's own {% generation %} markers"
    else:
        how = "marked by TRL's training template for this model family"
    if settings.get("roles_to_train", ["assistant"]) != ["assistant"] or settings.get("train_on_eos", "turn") != "turn":
        eos = {"turn": "each with its end-of-turn token", "last": "only the last one's end-of-turn token",
               "all": "and every turn's end-of-turn token", "none": "without their end-of-turn tokens"}[settings["train_on_eos"]]
        return (f"learned: the {', '.join(settings['roles_to_train'])} turns, {eos} (dataset.roles_to_train, "
                "dataset.train_on_eos); found by rendering each conversation turn by turn")
    return f"learned: the assistant turns, each with its end-of-turn token; {how}"


def labelled(table: Dataset, tokenizer: PreTrainedTokenizerBase, settings: dict, source: str) -> Dataset:
    """The rows as input_ids and (uncut) labels; UserError when the chat template cannot render a row or mark its turns."""
    from jinja2 import TemplateError

    try:
        return table.map(lambda row: row_labels(row, tokenizer, settings), remove_columns=table.column_names)
    except TemplateError as exc:
        raise UserError(f"{source}: the model's chat template refuses a conversation: {exc}.") from None
    except TurnMarksError as exc:
        raise UserError(f"{source}: a conversation marks which of its turns are learned (weight, train or "
                        f"train_detail), and {exc}. Remove the marks from that conversation, or use a model whose "
                        "chat template writes each turn's text as it is.") from None
    except ValueError as exc:
        if settings["assistant_only_loss"] and (settings.get("roles_to_train", ["assistant"]) != ["assistant"]
                                                 or settings.get("train_on_eos", "turn") != "turn"):
            raise UserError(f"{source}: cannot tell the conversation's turns apart for dataset.roles_to_train and "
                            f"dataset.train_on_eos: rendering it turn by turn does not work ({exc}). Use the defaults "
                            "(roles_to_train: [assistant], train_on_eos: turn) with this model's chat template.") from None
        if settings["assistant_only_loss"] and settings["chat_template"] is None:
            raise UserError(
                f"{source}: cannot tell which tokens are the assistant's: the model's chat template has no "
                "{% generation %} markers, TRL has no training template for it, and rendering the conversation turn "
                f"by turn does not work ({exc}). Set training.assistant_only_loss: false to train on every token "
                "(system and user turns too), or give the tokenizer a chat template with {% generation %} markers "
                "around the assistant turns.") from None
        raise UserError(f"{source}: a row cannot be tokenized: {exc}") from None


@dataclass
class Learning:
    """The labelled rows of one split, cut as training cuts them, and what was found on the way."""

    rows: Dataset
    """input_ids and labels, rows with nothing to learn left out."""
    cut: Dataset
    """Every row as input_ids and labels cut to max_length, those with nothing to learn too."""
    lengths: list[int] = field(default_factory=list)
    """Token lengths of the rows before cutting to max_length."""
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)
    """The positions in `cut` of the rows that have something to learn (those in `rows`)."""
    origins: list[int] = field(default_factory=list)
    """For a mixture: the source (its index in dataset.sources) of each row in `rows`."""


def learn_rows(table: Dataset, tokenizer: PreTrainedTokenizerBase, settings: dict, source: str) -> Learning:
    """Label a split's rows, cut them, leave out the ones with nothing to learn, and say what the model learns."""
    uncut = labelled(table, tokenizer, settings, source)
    lengths = [len(ids) for ids in uncut["input_ids"]]
    cut = uncut.map(lambda row: truncated_row(row, settings))
    keep = [index for index, labels in enumerate(cut["labels"]) if any(label != IGNORED for label in labels)]
    learning = Learning(cut.select(keep) if len(keep) < len(cut) else cut, cut, lengths, kept=keep)
    empty = len(cut) - len(keep)
    if empty:
        learning.warnings.append(f"{empty} of {len(cut)} rows have nothing to learn (no assistant turn, completion or "
                                 "labelled segment left after cutting to max_length, or every turn marked not "
                                 "learned) and are left out of training.")
    if is_chat(table):
        learning.notes.append(how_assistant_turns_are_found(settings, tokenizer))
        learning.notes += turn_flag_notes(table)
        learning.warnings += chat_mask_warnings(table, uncut, tokenizer, settings)
        learning.notes += chat_template_notes(table, uncut, tokenizer)
    elif "segments" in table.column_names:
        learning.notes.append("learned: the segments labelled true, each tokenized on its own, with no BOS or EOS "
                              "added (write them into the segments' text), as Axolotl's input_output trains them")
    return learning


def learned_spans(labels: list[int]) -> list[tuple[int, int]]:
    """(start, end) of each run of learned tokens."""
    return mask_runs([int(label != IGNORED) for label in labels])


def chat_mask_warnings(table: Dataset, uncut: Dataset, tokenizer: PreTrainedTokenizerBase, settings: dict) -> list[str]:
    """Warnings about conversations learned whole, or whose assistant turns do not learn their end-of-turn token."""
    whole = sum(1 for labels in uncut["labels"] if labels and IGNORED not in labels)
    warnings = []
    if whole:
        why = ("training.assistant_only_loss is false" if not settings["assistant_only_loss"]
               else "the chat template marks every token as the assistant's")
        warnings.append(f"{whole} of {len(uncut)} conversations are learned whole, system and user turns included "
                        f"({why}); the model learns to write the user's side too.")
    if settings["assistant_only_loss"] and settings.get("train_on_eos", "turn") in ("turn", "all"):
        stops = set(tokenizer.all_special_ids) | set(tokenizer.get_added_vocab().values())
        unstopped = 0
        for row, ids, labels in zip(table, uncut["input_ids"], uncut["labels"]):
            if has_turn_flags(row["messages"]):  # train_detail spans end where the data says, not at a turn's end
                continue
            for start, end in learned_spans(labels):
                last = next((t for t in reversed(ids[start:end]) if tokenizer.decode([t]).strip()), None)
                if last not in stops:
                    unstopped += 1
                    break
        if unstopped:
            warnings.append(f"in {unstopped} of {len(uncut)} conversations an assistant turn does not learn its "
                            "end-of-turn token, so the model may not learn to stop; set "
                            "training.assistant_only_loss: false or fix the chat template.")
    return warnings


def chat_template_notes(table: Dataset, uncut: Dataset, tokenizer: PreTrainedTokenizerBase) -> list[str]:
    """What the chat template adds to the assistant turns that the data does not hold, and whether it is learned."""
    notes = []
    think_rows = 0
    for row, ids, labels in zip(table, uncut["input_ids"], uncut["labels"]):
        if any("<think>" in str(m.get("content") or "") for m in row["messages"]):
            continue
        learned = [tokenizer.decode(ids[s:e]) for s, e in learned_spans(labels)]
        think_rows += any("<think>" in text for text in learned)
    if think_rows:
        notes.append(f"{think_rows} conversations: the template used for training adds an empty <think></think> block to "
                     "their assistant turns, and it is learned, so the model learns to answer without thinking.")
    eos = tokenizer.eos_token_id
    ends = [(ids[-1], labels[-1]) for ids, labels in zip(uncut["input_ids"], uncut["labels"]) if ids]
    closing = [label for token, label in ends if token == eos]
    if eos is not None and closing and tokenizer.decode([eos]) not in _turn_ends(table, tokenizer):
        learned = sum(1 for label in closing if label != IGNORED)
        notes.append(f"the chat template ends each conversation with EOS {tokenizer.eos_token!r} after the last turn; "
                     f"learned in {learned} of {len(closing)} conversations (when the last turn is the assistant's).")
    return notes


def _turn_ends(table: Dataset, tokenizer: PreTrainedTokenizerBase) -> str:
    """A short conversation rendered up to the next generation prompt: EOS in it means EOS ends every turn."""
    probe = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    try:
        rendered = tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    except Exception:  # a template that refuses the probe: no claim about turn ends
        return ""
    return str(rendered)


def flagged_rows(table: Dataset) -> list[list[dict]]:
    """The conversations of prepared chat rows that have a turn with its own learning flag."""
    return [row["messages"] for row in table if has_turn_flags(row["messages"])]


def refuse_flags_learning_everything(table: Dataset, source: str) -> None:
    """UserError when rows mark their turns learned or not, but training.assistant_only_loss: false learns every token."""
    flagged = flagged_rows(table)
    if flagged:
        raise UserError(f"{source}: {len(flagged)} conversations mark which turns are learned (weight, train or "
                        "train_detail on a turn), but training.assistant_only_loss: false learns every token, so "
                        "those marks would be ignored. Remove assistant_only_loss: false, or the marks.")


def turn_flag_notes(table: Dataset) -> list[str]:
    """One note counting the turns whose own flags change what is learned, or none."""
    flagged = flagged_rows(table)
    if not flagged:
        return []
    turns = [message for messages in flagged for message in messages]
    skipped = sum(1 for m in turns if m["role"] == "assistant" and (m.get("weight") == 0 or m.get("train") is False))
    detailed = sum(1 for m in turns if m.get("train_detail") and m.get("train") is not False)
    others = sum(1 for m in turns if m["role"] != "assistant" and m.get("train") and not m.get("train_detail"))
    return [f"{len(flagged)} conversations mark their turns: {skipped} assistant turns are not learned (weight 0 or "
            f"train false), {detailed} learn only their train_detail spans (and their end-of-turn token), {others} "
            "non-assistant turns are learned (train true)."]
