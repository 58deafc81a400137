"""Turns that say themselves what is learned: the loss mask of a conversation changed by its turns' own flags.

OpenAI's fine-tuning data marks an assistant turn `weight: 0` (not learned) or `weight: 1` (learned); Axolotl's
chat_template data marks any turn `train: true|false`, and `train_detail: [{begin_offset, end_offset, train}]`
(character offsets into the turn's content, both inclusive) learns only the trained spans of a turn. The default
mask (each assistant turn with its end-of-turn token) is changed on the tokens of the rendered conversation:
- weight 0 or train false: the turn is not learned, its end-of-turn token neither;
- train true on a user, system or tool turn: its content is learned, and the end-of-turn tokens that follow it when
  they are the ones the assistant turns learn (Axolotl trains any role it is told to, with its end-of-turn token);
- train_detail: the tokens whose non-space characters all lie in trained spans (a token cut by a span's edge is
  not learned, as in Axolotl), and, for an assistant turn, its end-of-turn token.

export-script copies these functions into its scripts verbatim (engine.outputs.script.LABEL_FUNCTIONS), so they
use only builtins and TURN_FLAGS (copied with the conversion constants) and raise ValueError.
"""

from __future__ import annotations

from engine.data.source.formats import TURN_FLAGS


def has_turn_flags(messages):
    """Whether any turn carries its own learning flag (weight, train or train_detail)."""
    return any(key in message for message in messages for key in TURN_FLAGS)


def mask_runs(mask):
    """(start, end) of each run of 1s in a 0/1 mask."""
    runs, start = [], None
    for index, value in enumerate([*mask, 0]):
        if value and start is None:
            start = index
        elif not value and start is not None:
            runs.append((start, index))
            start = None
    return runs


def covered(text, start, end, spans):
    """Whether the characters text[start:end] (its non-space ones, when it has any) all lie in the spans."""
    places = [place for place in range(start, end) if not text[place].isspace()] or list(range(start, end))
    return bool(places) and all(any(low <= place < high for low, high in spans) for place in places)


def trained_spans(message, base):
    """The character spans of the rendered text a flagged turn learns, its stripped content starting at base."""
    content = str(message.get("content") or "")
    stripped = content.strip()
    lead = len(content) - len(content.lstrip())
    if not message.get("train_detail"):
        return [(base, base + len(stripped))]
    spans = []
    for detail in message["train_detail"]:
        if detail.get("train"):
            low = max(base, base + int(detail["begin_offset"]) - lead)
            high = min(base + len(stripped), base + int(detail["end_offset"]) + 1 - lead)
            spans.append((low, high))
    return spans


class TurnMarksError(ValueError):
    """A conversation's turn marks (weight, train, train_detail) cannot be placed on its tokens; the message says why."""


def flagged_mask(tokenizer, messages, ids, mask, template_kwargs, chat_template=None):
    """The assistant mask (0/1 per token of ids) changed by each turn's weight, train and train_detail.

    The conversation is rendered as text with the same template and tokenized with character offsets, so each
    turn's content (and its train_detail spans) is placed on exactly the tokens training uses. ValueError when
    the text does not give the same tokens, the template's assistant spans do not match the assistant turns one
    to one, or a flagged turn's content does not appear in the rendered text as written (TurnMarksError).
    """
    if not getattr(tokenizer, "is_fast", False):
        raise TurnMarksError("this model's tokenizer is a slow (Python) one, which gives no character offsets to place "
                             "the marked turns on")
    text = tokenizer.apply_chat_template(messages, tokenize=False, chat_template=chat_template, **template_kwargs)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    if list(encoded["input_ids"]) != list(ids):
        raise TurnMarksError("the rendered conversation tokenizes differently as text, so the marked "
                         "turns cannot be placed on its tokens")
    offsets = [tuple(pair) for pair in encoded["offset_mapping"]]
    assistants = [index for index, message in enumerate(messages) if message["role"] == "assistant"]
    runs = mask_runs(mask)
    if len(runs) != len(assistants):
        raise TurnMarksError(f"the chat template marks {len(runs)} assistant spans for {len(assistants)} "
                         "assistant turns, so the marked turns cannot be told apart")
    span_of = dict(zip(assistants, runs))
    places = content_places(text, messages, offsets, span_of)
    enders = {ids[token] for index, (start, end) in span_of.items() if places[index] is not None
              for token in range(start, end) if offsets[token][0] >= places[index][1]}
    learned = list(mask)
    for index, message in enumerate(messages):
        span, place = span_of.get(index), places[index]
        if not any(key in message for key in TURN_FLAGS):
            continue
        if message.get("weight") == 0 or message.get("train") is False:
            if span:
                learned[span[0]:span[1]] = [0] * (span[1] - span[0])
            continue
        if not message.get("train_detail") and (span or not message.get("train")):
            continue  # an assistant turn learned as by default, or a turn that asks nothing
        if place is None:
            raise TurnMarksError(f"turn {index + 1} ({message['role']}): its text does not appear as written in the "
                             "conversation the chat template renders, so the part it marks to learn cannot be placed")
        spans = trained_spans(message, place[0])
        if span:
            for token in range(span[0], span[1]):  # the content's trained tokens, and what the turn adds after it
                learned[token] = int(covered(text, *offsets[token], spans) or offsets[token][0] >= place[1])
            continue
        for token, (low, high) in enumerate(offsets):
            if covered(text, low, high, spans):
                learned[token] = 1
        after = next((token for token, (low, _) in enumerate(offsets) if low >= place[1]), len(ids))
        while after < len(ids) and ids[after] in enders:  # the end-of-turn tokens the assistant turns learn
            learned[after] = 1
            after += 1
    return learned


def content_places(text, messages, offsets, span_of):
    """(start, end) of each turn's stripped content in the rendered text, in order, or None where it is not found.

    An assistant turn's content is looked for inside its marked span; every turn's after the turn before it.
    """
    places, cursor = [], 0
    for index, message in enumerate(messages):
        span = span_of.get(index)
        stripped = str(message.get("content") or "").strip()
        start = max(cursor, offsets[span[0]][0]) if span else cursor
        found = text.find(stripped, start) if stripped else -1
        if found >= 0 and span and found + len(stripped) > offsets[span[1] - 1][1]:
            found = -1
        places.append((found, found + len(stripped)) if found >= 0 else None)
        cursor = found + len(stripped) if found >= 0 else cursor
    return places
