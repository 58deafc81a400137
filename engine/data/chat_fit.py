"""Checking that the model's chat template renders what chat rows hold: system turns, tools, tool calls, tool results.

A template that raises on a row, or renders it without the tools, calls or results it holds, would train the
model on less than the file holds; those rows are refused with the reason. System turns are the exception:
many templates (Gemma's) refuse them, so their text is folded into the first user turn with a warning.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable

from engine.data.labels import tools_of
from engine.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

_TOOLS_HINT = ("Use a model whose chat template renders tools (e.g. Qwen2.5/Qwen3 or Llama 3.1 Instruct), "
               "or remove the tool parts from the data.")


def fit_to_chat_template(table: Dataset, tokenizer: PreTrainedTokenizerBase, source: str) -> tuple[Any, list[str]]:
    """The chat rows as this template can render them, and warnings; UserError where it would drop what a row holds."""
    warnings: list[str] = []
    refusal = _system_refusal(tokenizer)
    systems = sum(1 for row in table if _has_system(row)) if refusal else 0
    if systems:
        table = table.map(fold_system, features=table.features)
        warnings.append(f"{source}: this model's chat template does not take a system turn ({refusal}); the system "
                        f"text of {systems} row(s) was put at the start of their first user turn.")
    for what, needles in _PARTS:  # the first row, then the first row holding each kind of tool part
        number, row = _first(table, lambda r: what == "a conversation" or bool(needles(r)))
        if row is None:
            continue
        hint = f" {_TOOLS_HINT}" if any(part_needles(row) for _, part_needles in _PARTS) else ""
        error = _render_error(tokenizer, row)
        if error:
            raise UserError(f"{source}: row {number}: this model's chat template cannot render it: {error}.{hint}")
        text = _render(tokenizer, row)
        # Llama 3.1 writes a tool result as JSON text (quoted): either form is the result reaching the model
        missing = [needle for needle in needles(row)
                   if needle not in text and json.dumps(needle, ensure_ascii=False) not in text]
        if missing:
            raise UserError(f"{source}: row {number} holds {what}, but this model's chat template leaves "
                            f"{missing[0][:60]!r} out of the text the model is trained on.{hint}")
    return table, warnings


def _system_refusal(tokenizer: PreTrainedTokenizerBase) -> str | None:
    """Why the template cannot take a system turn (it raises, or leaves its text out), or None when it can."""
    probe = [{"role": "system", "content": "SYSTEM-PROBE"}, {"role": "user", "content": "hi"}]
    try:
        text = tokenizer.apply_chat_template(probe, tokenize=False)
    except Exception as exc:  # Gemma: raise_exception('System role not supported')
        return f"{type(exc).__name__}: {exc}"
    return None if "SYSTEM-PROBE" in text else "it leaves the system text out"


def fold_system(row: dict) -> dict:
    """The row with a leading system turn's text moved to the start of the first user turn."""
    messages = [dict(m) for m in row["messages"]]
    if not messages or messages[0]["role"] != "system":
        return row
    system = messages.pop(0)["content"]
    user = next((m for m in messages if m["role"] == "user"), None)
    if user is None:
        messages.insert(0, {"role": "user", "content": system})
    else:
        user["content"] = f"{system}\n\n{user['content']}"
        if user.get("train_detail"):  # its spans count from the start of its own text, now after the system text
            shift = len(system) + 2
            user["train_detail"] = [{**span, "begin_offset": span["begin_offset"] + shift,
                                     "end_offset": span["end_offset"] + shift} for span in user["train_detail"]]
    return {**row, "messages": messages}


def _has_system(row: dict) -> bool:
    return bool(row["messages"]) and row["messages"][0]["role"] == "system"


def _first(table: Dataset, test: Callable[[dict], bool]) -> tuple[int, dict | None]:
    """The first row (1-based number, row) that passes the test, or (0, None)."""
    return next(((number, row) for number, row in enumerate(table, start=1) if test(row)), (0, None))


def _render(tokenizer: PreTrainedTokenizerBase, row: dict) -> str:
    return tokenizer.apply_chat_template(row["messages"], tools=tools_of(row), tokenize=False)


def _render_error(tokenizer: PreTrainedTokenizerBase, row: dict) -> str | None:
    """The template's error on this row, or None when it renders."""
    try:
        _render(tokenizer, row)
    except Exception as exc:  # Jinja raise_exception, or a template that indexes what is not there
        return f"{type(exc).__name__}: {exc}"
    return None


def _tool_names(row: dict) -> list[str]:
    return [str(tool.get("function", tool).get("name", "")) for tool in tools_of(row) or []]


def _call_names(row: dict) -> list[str]:
    return [str(call.get("function", call).get("name", "")) for m in row["messages"] for call in m.get("tool_calls") or []]


def _tool_results(row: dict) -> list[str]:
    return [str(m.get("content") or "").strip() for m in row["messages"] if m["role"] in ("tool", "ipython", "function")]


_PARTS: list[tuple[str, Callable[[dict], list[str]]]] = [
    ("a conversation", lambda row: []), ("tool definitions (`tools`)", _tool_names),
    ("assistant tool calls", _call_names), ("tool results", _tool_results)]
"""What a chat row can hold beyond its turns' text, and the texts its rendering must contain for each."""
