"""Token ids and loss labels of each training row: what the model reads and which tokens it learns.

sft-wizard tokenizes the rows itself and hands SFTTrainer `input_ids` and `labels` (-100 where nothing is
learned), so the trainer, its data collator, the preview and `check --sample` all see the same tokens. The
rules follow TRL 1.16's own dataset preparation: chat rows through the chat template, with assistant-only
loss from its `{% generation %}` markers (TRL's training template for the families it knows); prompt/completion
rows learn the completion and EOS; text rows learn everything plus EOS. Templates with neither markers nor a
TRL training template get their assistant spans by rendering the conversation turn by turn. Turns that carry
their own flags (OpenAI `weight`, Axolotl `train`/`train_detail`) change that mask (engine.data.label.turn_masks);
Axolotl's input_output segments learn the labelled segments, with no BOS or EOS added, as Axolotl does.

export-script copies these functions into its scripts verbatim (engine.outputs.script.LABEL_FUNCTIONS), so
they use only builtins, their own imports and IGNORED, and raise ValueError rather than UserError.
"""

from __future__ import annotations

from engine.data.label.turn_masks import flagged_mask, has_turn_flags
from engine.data.source.convert import tools_of

IGNORED = -100
"""The label of a token the loss skips."""


def marked_chat_template(tokenizer):
    """The chat template whose {% generation %} markers mark the assistant turns, or None.

    The tokenizer's own template when it has the markers, else TRL's training template for the family; None
    (find the turns by rendering) for other templates and for slow tokenizers.
    """
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = tokenizer.chat_template
    if not getattr(tokenizer, "is_fast", False):  # transformers marks assistant tokens with fast tokenizers only
        return None
    if has_generation_markers(template):
        return template
    try:
        return get_training_chat_template(tokenizer) or template
    except Exception:  # a template TRL does not know (ValueError), or one its probe conversations make raise
        return None  # the assistant turns are then found by rendering turn by turn, which checks itself


def label_settings(training, chat, tokenizer):
    """The settings row_labels takes, from the run's training values and whether the rows are conversations.

    training: assistant_only_loss (None: the default, true), completion_only_loss, max_length, truncation_mode, packing,
    and the dataset's roles_to_train and train_on_eos (which chat turns and end-of-turn tokens are learned).
    """
    assistant_only = chat and training.get("assistant_only_loss") is not False
    return {"assistant_only_loss": assistant_only,
            "roles_to_train": list(training.get("roles_to_train") or ["assistant"]),
            "train_on_eos": training.get("train_on_eos") or "turn",
            "completion_only_loss": training.get("completion_only_loss"),
            "chat_template": marked_chat_template(tokenizer) if assistant_only else None,
            "max_length": training.get("max_length"),
            "truncation_mode": training.get("truncation_mode") or "keep_start",
            "packing": bool(training.get("packing"))}


def _chat_ids(tokenizer, messages, template_kwargs, **kwargs):
    """The token ids of a conversation as the chat template renders it."""
    return list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **template_kwargs,
                                              **kwargs)["input_ids"])


def _common_start(ids, other):
    """How many leading tokens two renderings share."""
    count = 0
    while count < min(len(ids), len(other)) and ids[count] == other[count]:
        count += 1
    return count


def turn_spans(tokenizer, messages, template_kwargs, roles=None):
    """(ids, spans): the conversation's ids and (role, start, end) of the tokens each turn of `roles` (None: all) adds.

    Found by rendering the conversation turn by turn: a turn ends where the conversation up to and including it
    stops matching the whole one, so its end-of-turn token is inside and text a template adds only after the last
    turn (Phi-3's EOS) counts for the last turn alone. An assistant turn starts after the generation prompt (its
    header), another role's turn where the conversation before it ends.
    ValueError when an earlier part of the conversation does not render as a prefix of the whole.
    """
    ids = _chat_ids(tokenizer, messages, template_kwargs)
    spans = []
    for index, message in enumerate(messages):
        role = message["role"]
        if roles is not None and role not in roles:
            continue
        if role == "assistant":
            before = _chat_ids(tokenizer, messages[:index], template_kwargs, add_generation_prompt=True) if index else []
            if ids[:len(before)] != before:
                raise ValueError(f"turn {index + 1}: the conversation before it, rendered with the generation prompt, "
                                 "is not the start of the whole conversation")
            start = len(before)
        else:
            start = _common_start(ids, _chat_ids(tokenizer, messages[:index], template_kwargs)) if index else 0
        end = _common_start(ids, _chat_ids(tokenizer, messages[:index + 1], template_kwargs))
        if end <= start:
            raise ValueError(f"turn {index + 1}: the {role} turn renders differently when it is the last one")
        spans.append((role, start, end))
    return ids, spans


def assistant_spans_by_turns(tokenizer, messages, template_kwargs):
    """(ids, mask) with 1 on the tokens each assistant turn adds (turn_spans), its end-of-turn token included."""
    ids, spans = turn_spans(tokenizer, messages, template_kwargs, ["assistant"])
    mask = [0] * len(ids)
    for _, start, end in spans:
        mask[start:end] = [1] * (end - start)
    return ids, mask


def _end_of_turn(ids, start, end, stops, blank):
    """Where the special tokens (and blank ones among them) that end a turn begin; its end when it ends in text."""
    index, first = end, end
    while index > start and (ids[index - 1] in stops or ids[index - 1] in blank):
        index -= 1
        if ids[index] in stops:
            first = index
    return first


def turns_mask(tokenizer, messages, template_kwargs, roles, train_on_eos):
    """(ids, mask) learning the turns of `roles` and the end-of-turn tokens train_on_eos names (Axolotl's meaning).

    train_on_eos: turn (each learned turn's end-of-turn tokens), last (only the last learned turn's), all (every
    turn's, learned or not), none.
    """
    ids, spans = turn_spans(tokenizer, messages, template_kwargs, None if train_on_eos == "all" else roles)
    stops = set(tokenizer.all_special_ids) | set(tokenizer.get_added_vocab().values())
    blank = {token for token in set(ids) if not tokenizer.decode([token]).strip()}
    learned = [span for span in spans if span[0] in roles]
    mask = [0] * len(ids)
    for _, start, end in learned:
        mask[start:end] = [1] * (end - start)
    for span in spans:
        role, start, end = span
        stop = _end_of_turn(ids, start, end, stops, blank)
        keep = {"all": True, "turn": role in roles, "last": bool(learned) and span == learned[-1]}.get(train_on_eos, False)
        mask[stop:end] = [1 if keep else 0] * (end - stop)
    return ids, mask


def row_labels(row, tokenizer, settings):
    """{"input_ids", "labels"} of one training row, labels IGNORED on every token the loss skips.

    settings: assistant_only_loss, completion_only_loss and chat_template (the marked template, or None to find
    assistant turns by rendering), as the run uses them. The row is not cut to max_length here (truncated_row).
    """
    if "messages" in row:
        template_kwargs = {"tools": tools_of(row)}
        if not settings["assistant_only_loss"]:
            ids = _chat_ids(tokenizer, row["messages"], template_kwargs)
            mask = [1] * len(ids)
        elif settings.get("roles_to_train", ["assistant"]) != ["assistant"] or settings.get("train_on_eos", "turn") != "turn":
            ids, mask = turns_mask(tokenizer, row["messages"], template_kwargs, settings["roles_to_train"],
                                   settings["train_on_eos"])
        elif settings["chat_template"] is None:
            ids, mask = assistant_spans_by_turns(tokenizer, row["messages"], template_kwargs)
        else:
            out = tokenizer.apply_chat_template(row["messages"], tokenize=True, return_dict=True,
                                                return_assistant_tokens_mask=True,
                                                chat_template=settings["chat_template"], **template_kwargs)
            ids, mask = list(out["input_ids"]), list(out["assistant_masks"])
        if settings["assistant_only_loss"] and has_turn_flags(row["messages"]):  # OpenAI weight, Axolotl train
            mask = flagged_mask(tokenizer, row["messages"], ids, mask, template_kwargs, settings["chat_template"])
    elif "segments" in row:  # Axolotl's input_output: each segment tokenized alone, learned when labelled
        ids, mask = [], []
        for segment in row["segments"]:
            part = list(tokenizer(text=segment["text"], add_special_tokens=False)["input_ids"])
            ids += part
            mask += [int(segment["label"] or settings["completion_only_loss"] is False)] * len(part)
    elif "prompt" in row:
        eos = tokenizer.eos_token or ""
        completion = row["completion"] if row["completion"].endswith(eos) else row["completion"] + eos
        prompt_ids = list(tokenizer(text=row["prompt"])["input_ids"])
        ids = list(tokenizer(text=row["prompt"] + completion)["input_ids"])
        start = 0  # the completion starts where the prompt alone and the whole row diverge, as in TRL
        while start < min(len(prompt_ids), len(ids)) and prompt_ids[start] == ids[start]:
            start += 1
        learn_prompt = settings["completion_only_loss"] is False
        mask = [1 if learn_prompt else 0] * start + [1] * (len(ids) - start)
    else:
        eos = tokenizer.eos_token or ""
        text = row["text"] if row["text"].endswith(eos) else row["text"] + eos
        ids = list(tokenizer(text=text)["input_ids"])
        mask = [1] * len(ids)
    return {"input_ids": ids, "labels": [token if learned else IGNORED for token, learned in zip(ids, mask)]}


def truncated_row(row, settings):
    """The row cut to max_length as SFTTrainer cuts it (keep_start or keep_end); uncut when packing, which cuts itself."""
    if not settings["max_length"] or settings["packing"]:
        return row
    cut = slice(-settings["max_length"], None) if settings["truncation_mode"] == "keep_end" \
        else slice(None, settings["max_length"])
    return {"input_ids": row["input_ids"][cut], "labels": row["labels"][cut]}


def labelled_rows(table, tokenizer, settings):
    """The table as input_ids and labels cut to max_length, without the rows that have nothing left to learn."""
    rows = table.map(lambda row: truncated_row(row_labels(row, tokenizer, settings), settings),
                     remove_columns=table.column_names)
    return rows.filter(lambda row: any(label != IGNORED for label in row["labels"]))
