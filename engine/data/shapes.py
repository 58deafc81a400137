"""Data that is not supervised fine-tuning data (preference pairs, KTO labels, images/audio/video), refused with the reason.

sft-wizard trains one answer per prompt on text. Such files often have columns it could read (`messages`,
`conversations`), so training them would silently drop the rejected answers, the labels or the images.
Checks run on column names and Arrow types first, so media columns are refused before anything decodes them
(decoding images needs Pillow, which a text-only install lacks).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from engine.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset

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


def _media_feature(feature: Any) -> str | None:
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


def _has_value(value: Any) -> bool:
    return value not in (None, "", [], {})


def _is_kto_label(values: list) -> bool:
    """True when a column holds only booleans (or the text true/false), as KTO labels do."""
    present = [value for value in values if value is not None]
    return bool(present) and all(isinstance(value, bool) or str(value).lower() in ("true", "false") for value in present)


def _media_in(value: Any) -> str | None:
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
