"""Normalise: a source's rows as supervised fine-tuning rows of a known shape, or refused with the reason.

Data that is not supervised fine-tuning data (preference pairs, KTO labels, images/audio/video) is refused first:
sft-wizard trains one answer per prompt on text, and such files often have columns it could read (`messages`,
`conversations`), so training them would silently drop the rejected answers, the labels or the images. Checks run
on column names and Arrow types first, so media columns are refused before anything decodes them (decoding images
needs Pillow, which a text-only install lacks).

Then a message table (OpenAssistant's flat export: one message per row, linked by parent_id) is rebuilt into
conversations. Each tree (a prompt with no parent, and the replies branching under it) becomes one conversation:
from the root, the top-ranked reply at every branch (OpenAssistant's `rank` 0 is the best; unranked replies come
after ranked ones, ties in file order) down to the last assistant turn. One path per tree, not every path to a
leaf, so that no prompt is learned twice with different answers and the answers learned are the ones people
ranked best. Deleted messages (`deleted: true`) are left out. `prompter` is the user. Data of no known format
whose columns are a usual prompt/answer pair is read as alpaca.

This stage follows the mapping (engine.data.source.map): a usual pair is read only where dataset.columns leaves
no format, and the fix for preference data is a mapping. export-script copies the message-tree functions and
usual_pair into its scripts verbatim (engine.outputs.script.CONVERSION_FUNCTIONS), so they use only builtins.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from engine.data.source.formats import detect_format, format_fix
from engine.data.source.map import column_renames, rename_columns
from engine.data.source.read import table_from_rows
from engine.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset

    from engine.config.run_config import DatasetSection

PREFERENCE_PAIRS = (("chosen", "rejected"), ("preferred_output", "non_preferred_output"),
                    ("chosen_messages", "rejected_messages"), ("chosen_response", "rejected_response"))
"""Column pairs of preference data: TRL and LLaMA-Factory (chosen/rejected), OpenAI DPO, and their variants."""
KTO_LABELS = ("label", "kto_tag")
"""Columns of KTO data that mark each answer desirable (true) or undesirable (false)."""
MEDIA_COLUMNS = ("images", "image", "videos", "video", "audios", "audio")
MEDIA_PART_TYPES = ("image", "image_url", "input_image", "video", "video_url", "audio", "input_audio", "file")
MEDIA_PLACEHOLDER = re.compile(r"<(image|video|audio)>")
_SFT_INSTEAD = ("sft-wizard does supervised fine-tuning (SFT): it trains on one answer per prompt, written as "
                "messages, conversations, instruction/output, prompt/completion or text")
TREE_ROLES = {"prompter": "user", "user": "user", "assistant": "assistant", "system": "system"}
"""OpenAssistant's message roles as chat roles."""
USUAL_PAIRS = (("question", "answer"), ("prompt", "response"), ("query", "response"), ("input", "output"),
               ("instruction", "response"), ("question", "response"))
"""Column pairs that hold a prompt and its answer in data of no known format, read as alpaca instruction/output."""
USUAL_PASSAGES = ("context", "passage", "document")
"""Columns holding the passage a usual pair's answer draws on (Dolly's closed-QA `context`), read as alpaca's input."""


def normalised(table: Dataset, section: "DatasetSection", source: str, notes: list[str]) -> Dataset:
    """The mapped rows refused if not SFT data, a message table rebuilt, or a usual column pair read (noted)."""
    refuse_unsupported(table, source, section.key("columns"))
    if is_message_table(table.column_names):
        return rebuilt_conversations(table, section, source, notes)
    if section.format == "auto" and detect_format(table.column_names) is None:
        pair = usual_pair(table.column_names)
        if pair:
            table = rename_columns(table, column_renames(pair))
            passage = (f", and `{pair['input']}` as the input written into the prompt (the passage the answer draws "
                       "on; an answer learned without it teaches the model to invent)") if "input" in pair else ""
            notes.append(f"{source}: no known format; reading column `{pair['instruction']}` as the instruction and "
                         f"`{pair['output']}` as the answer (alpaca){passage}. Set {section.key('columns')} to choose others.")
    return table


def refuse_unsupported(table: Dataset, source: str, columns_key: str) -> None:
    """UserError when the table holds preference pairs, KTO labels or media, saying what it is and what to do."""
    columns = table.column_names
    for chosen, rejected in PREFERENCE_PAIRS:
        if chosen in columns and rejected in columns:
            raise UserError(
                f"{source} is preference data (columns `{chosen}` and `{rejected}`: a preferred and a rejected answer "
                f"to each prompt), made for DPO/ORPO training. {_SFT_INSTEAD}. To fine-tune on the preferred answers "
                f"alone, {_preferred_only_hint(table, chosen, columns_key)}; to train the pairs, use TRL's DPOTrainer.")
    _refuse_media_types(table, source)
    for column in MEDIA_COLUMNS:
        if column in columns and any(_has_value(value) for value in table[column]):
            raise UserError(f"{source} is multimodal data: its `{column}` column holds {column} for the rows. "
                            f"{_SFT_INSTEAD} — text only, so the {column} would be dropped. Use text-only rows, "
                            "or a vision/audio fine-tuning tool (e.g. TRL's SFTTrainer with a processor).")
    for label in KTO_LABELS:
        if label in columns and _is_kto_label(table[label]):
            raise UserError(
                f"{source} is KTO data: its `{label}` column marks each answer desirable (true) or undesirable "
                f"(false). {_SFT_INSTEAD}, so it would learn the undesirable answers too. Keep only the rows "
                f"with {label} true and remove the column to train them with SFT, or use TRL's KTOTrainer.")
    for number, row in enumerate(table, start=1):
        found = _media_in(row)
        if found:
            raise UserError(f"{source}: row {number} is multimodal: it holds {found}. {_SFT_INSTEAD} — text only, "
                            "so the image/audio/video would be dropped. Use text-only rows, or a vision/audio "
                            "fine-tuning tool.")


def _preferred_only_hint(table: Dataset, chosen: str, columns_key: str) -> str:
    """How to train the preferred answers alone: a dataset.columns mapping for text answers, else a rewrite."""
    prompt = next((c for c in ("instruction", "prompt", "question", "input") if c in table.column_names), None)
    if prompt and isinstance(table[0][chosen], str):
        mapping = f"{{output: {chosen}}}" if prompt == "instruction" else f"{{instruction: {prompt}, output: {chosen}}}"
        return f"map them with {columns_key}: {mapping}"
    return f"write each conversation with its `{chosen}` answer as the last assistant turn, without the rejected one"


def _refuse_media_types(table: Dataset, source: str) -> None:
    """UserError for a column whose Arrow type is an image, audio or video (e.g. a Parquet file with image parts)."""
    for column, feature in table.features.items():
        kind = _media_feature(feature)
        if kind:
            raise UserError(f"{source} is multimodal data: its `{column}` column holds {kind} data. {_SFT_INSTEAD} "
                            "— text only. Use text-only rows, or a vision/audio fine-tuning tool.")


def _media_feature(feature: object) -> str | None:
    """The media kind (image, audio, video, pdf) anywhere inside a datasets feature, or None."""
    name = type(feature).__name__
    if name in ("Image", "Audio", "Video", "Pdf"):
        return name.lower()
    if isinstance(feature, dict):
        inner = list(feature.values())
    elif isinstance(feature, (list, tuple)):
        inner = list(feature)
    else:
        inner = [getattr(feature, "feature", None)]
    return next((kind for kind in map(_media_feature, [f for f in inner if f is not None]) if kind), None)


def _has_value(value: object) -> bool:
    return value not in (None, "", [], {})


def _is_kto_label(values: list) -> bool:
    """True when a column holds only booleans (or the text true/false), as KTO labels do."""
    present = [value for value in values if value is not None]
    return bool(present) and all(isinstance(value, bool) or str(value).lower() in ("true", "false") for value in present)


def _media_in(value: object) -> str | None:
    """What media a row holds: an image/audio/video content part, or an <image>-style placeholder in its text."""
    if isinstance(value, str):
        match = MEDIA_PLACEHOLDER.search(value)
        return f"a {match.group(0)} placeholder" if match else None
    if isinstance(value, dict):
        if value.get("type") in MEDIA_PART_TYPES:
            return f"a content part of type {value['type']!r}"
        value = list(value.values())
    if isinstance(value, list):
        return next((found for found in map(_media_in, value) if found), None)
    return None


def rebuilt_conversations(table: Dataset, section: "DatasetSection", source: str, notes: list[str]) -> Dataset:
    """A message table (OpenAssistant's flat export) as chat rows, one conversation per tree, noted; refused otherwise."""
    if section.format not in ("auto", "chat"):
        raise UserError(f"{source} is a message table (message_id, parent_id, role, text: one message per row, "
                        f"OpenAssistant's flat export), not {section.format} data: sft-wizard rebuilds its "
                        f"conversations as chat data; {format_fix(section, 'chat')}.")
    conversations, trees, left_out = top_ranked_conversations(table.to_list())
    if not conversations:
        raise UserError(f"{source} is a message table (OpenAssistant's flat export), but none of its {trees} trees "
                        "has an assistant reply to learn.")
    notes.append(f"{source}: a message table (one message per row, OpenAssistant's flat export): rebuilt "
                 f"{len(conversations)} conversations from {trees} trees, one per tree, following the top-ranked "
                 f"reply (rank 0 first) at every branch to its last assistant turn, so no prompt is learned twice "
                 f"with different answers; {left_out} messages (other branches, deleted ones) are left out.")
    return table_from_rows([{"messages": messages} for messages in conversations])


def is_message_table(columns):
    """Whether the columns are a message table's: one message per row, with message_id, parent_id, role and text."""
    names = set(columns)
    return {"message_id", "parent_id", "role"} <= names and bool({"text", "content"} & names)


def top_ranked_conversations(rows):
    """(conversations, trees, messages left out): one conversation per tree along its top-ranked replies."""
    kept = [row for row in rows if not row.get("deleted")]
    replies = {}
    for row in kept:
        replies.setdefault(row.get("parent_id") or None, []).append(row)
    for siblings in replies.values():
        siblings.sort(key=lambda row: (row.get("rank") is None, row.get("rank") or 0))
    conversations, used = [], 0
    roots = replies.get(None, [])
    for root in roots:
        path, node, seen = [], root, set()
        while node is not None and node["message_id"] not in seen:  # a repeated id would make the walk a loop
            seen.add(node["message_id"])
            text = node.get("text") if node.get("text") is not None else node.get("content")
            path.append({"role": TREE_ROLES.get(str(node["role"]), str(node["role"])), "content": str(text or "")})
            node = (replies.get(node["message_id"]) or [None])[0]
        while path and path[-1]["role"] != "assistant":
            path.pop()
        if path:
            conversations.append(path)
            used += len(path)
    return conversations, len(roots), len(rows) - used


def usual_pair(columns: list[str]) -> dict | None:
    """dataset.columns for the first usual prompt/answer pair the columns hold, or None.

    {instruction: ..., output: ...}, and input: a passage column beside them when the data has no `input`.
    """
    for prompt, answer in USUAL_PAIRS:
        if prompt in columns and answer in columns:
            passage = next((c for c in USUAL_PASSAGES if c in columns), None) if "input" not in columns else None
            return {"instruction": prompt, "output": answer, **({"input": passage} if passage else {})}
    return None
