"""What `check` and the wizard say about turns that mark themselves learned or not (OpenAI weight, Axolotl train)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.data.turn_masks import has_turn_flags
from engine.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset


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
