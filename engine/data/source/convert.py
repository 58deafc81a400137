"""Convert: a source's checked rows in the shape SFTTrainer trains on, fitted to the model's chat template.

Alpaca rows become prompt/completion pairs (so completion-only loss knows the learned part), their `system`
and `history` written before the instruction; chat and ShareGPT rows become `messages` for the tokenizer's
chat template, with their tool calls, tool results and `tools` column; text rows stay text.
export-script copies the pure conversion functions (engine.outputs.script.CONVERSION_FUNCTIONS) into its
scripts verbatim, so they use only builtins and this module's constants, and raise no UserError.

Then the chat rows are checked against the model's chat template: a template that raises on a row, or renders
it without the tools, calls or results it holds, would train the model on less than the file holds; those rows
are refused with the reason. System turns are the exception: many templates (Gemma's) refuse them, so their
text is folded into the first user turn with a warning.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Callable

from engine.config.templates import ALPACA_TEMPLATES
from engine.data.source.formats import TURN_FLAGS, resolve_template
from engine.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
                   "system": "system", "bot": "assistant"}
_TOOLS_HINT = ("Use a model whose chat template renders tools (e.g. Qwen2.5/Qwen3 or Llama 3.1 Instruct), "
               "or remove the tool parts from the data.")


def converted(table: Dataset, fmt: str, template: str, tokenizer: PreTrainedTokenizerBase | None,
              source: str) -> tuple[Dataset, str, list[str]]:
    """The rows converted, the template they use and warnings; fitted to the chat template when there is a tokenizer."""
    rows = convert(table, fmt, resolve_template(fmt, template))
    used = "chat-template" if "messages" in rows.column_names else resolve_template(fmt, template)
    if used != "chat-template" or tokenizer is None:
        return rows, used, []
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(f"{source}: chat data needs the tokenizer's chat template, and this model's tokenizer has none; "
                        "use a chat (instruct) model or convert the data to alpaca format.")
    rows, warnings = fit_to_chat_template(rows, tokenizer, source)
    return rows, used, warnings


def convert(table: Dataset, fmt: str, template: str) -> Dataset:
    """Every row in the shape SFTTrainer takes (to_training_row), chat rows kept exactly as converted."""
    return table.map(lambda row: to_training_row(row, fmt, template), remove_columns=table.column_names,
                     features=chat_features(fmt, table))


def to_training_row(row: dict, fmt: str, template: str) -> dict:
    """One row in the shape SFTTrainer takes: prompt/completion, messages (with tools when the data has them), or text."""
    if fmt == "alpaca":
        return {"prompt": alpaca_prompt(row, template), "completion": str(row["output"])}
    if fmt in ("chat", "sharegpt"):
        messages = sharegpt_messages(row["conversations"]) if fmt == "sharegpt" else [
            chat_message(m) for m in row["messages"]]
        if row.get("system") and (not messages or messages[0]["role"] != "system"):
            messages.insert(0, {"role": "system", "content": str(row["system"])})
        converted = {"messages": messages}
        if "tools" in row or "functions" in row:  # TRL passes `tools` to the chat template (JSON text keeps its shape)
            converted["tools"] = tools_json(row.get("tools") or row.get("functions"))
        return converted
    if fmt == "prompt-completion" and isinstance(row["prompt"], list):  # TRL's conversational prompt-completion
        return {"messages": [chat_message(m) for m in row["prompt"] + list(row["completion"] or [])]}
    if fmt == "prompt-completion":
        return {"prompt": str(row["prompt"]), "completion": str(row["completion"])}
    if fmt == "input-output":  # Axolotl's input_output: text segments, each learned or not by its label
        return {"segments": [{"text": str(s["text"]), "label": bool(s["label"])} for s in row["segments"]]}
    return {"text": str(row["text"])}


def chat_features(fmt: str, table):
    """datasets features for converted chat rows: each message kept as JSON, so no row gains another row's keys."""
    conversational = fmt == "prompt-completion" and len(table) and isinstance(table[0]["prompt"], list)
    if fmt not in ("chat", "sharegpt") and not conversational:
        return None
    from datasets import Features, Json, List, Value

    tools = fmt != "prompt-completion" and bool({"tools", "functions"} & set(table.column_names))
    return Features({"messages": List(Json()), **({"tools": Value("string")} if tools else {})})


def alpaca_prompt(row: dict, template: str) -> str:
    """An alpaca row's prompt: its system text, its `history` turns answered, then its instruction (and input)."""
    pattern = ALPACA_TEMPLATES[template if template in ALPACA_TEMPLATES else "alpaca"]
    earlier = "".join(pattern["no_input"].format(instruction=str(user), input="") + str(answer) + "\n\n"
                      for user, answer in row.get("history") or [])
    values = {"instruction": str(row["instruction"]), "input": str(row.get("input") or "")}
    # Any text at all is an input, as Stanford Alpaca, Axolotl and LLaMA-Factory test it (`if input:`)
    prompt = pattern["with_input" if values["input"] else "no_input"].format(**values)
    system = str(row.get("system") or "")
    return (system + "\n\n" if system.strip() else "") + earlier + prompt


def text_of(content) -> str:
    """A message's content as text: a string as is, text parts ({"type": "text", "text" or "value": ...}) joined."""
    if content is None:
        return ""
    if isinstance(content, list):
        return "\n".join(str(part.get("text", part.get("value", ""))) for part in content if isinstance(part, dict))
    return str(content)


def without_nulls(value):
    """A JSON-like value without its null entries (columnar storage gives every row every key, null where absent)."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def tool_call(call: dict) -> dict:
    """A tool call as chat templates take it: {"type": "function", "function": {"name", "arguments" as an object}}."""
    import json

    function = dict(call.get("function") or call)
    arguments = function.get("arguments")
    if isinstance(arguments, str) and arguments.strip().startswith("{"):
        function["arguments"] = json.loads(arguments)
    converted = {key: item for key, item in call.items() if key != "function"} if "function" in call else {}
    return {**converted, "type": "function", "function": function}


def chat_message(message: dict) -> dict:
    """An OpenAI-style chat message with its text parts joined, its tool calls kept, and no null keys."""
    converted = without_nulls(message)
    converted["content"] = text_of(message.get("content"))
    if isinstance(converted.get("function_call"), dict):  # OpenAI's older function calling
        converted["tool_calls"] = [converted.pop("function_call")]
    if converted["role"] == "function":
        converted["role"] = "tool"
    if converted.get("tool_calls"):
        converted["tool_calls"] = [tool_call(call) for call in converted["tool_calls"]]
    return converted


def sharegpt_messages(turns: list) -> list:
    """ShareGPT turns as chat messages; function_call turns become assistant tool calls, observations tool results."""
    import json

    messages = []
    for turn in turns:
        role, value = str(turn.get("from")), turn.get("value")
        if role == "function_call":
            calls = json.loads(value) if isinstance(value, str) else value
            calls = calls if isinstance(calls, list) else [calls]
            messages.append({"role": "assistant", "content": "", "tool_calls": [tool_call(call) for call in calls]})
        elif role == "observation":
            messages.append({"role": "tool", "content": text_of(value)})
        else:
            messages.append({"role": _SHAREGPT_ROLES.get(role, role), "content": text_of(value)})
        messages[-1].update({key: turn[key] for key in TURN_FLAGS if turn.get(key) is not None})
    return messages


def tools_json(tools) -> str | None:
    """A `tools` value (a list, or a JSON string of one) as a JSON list of {"type": "function", "function": ...}."""
    import json

    if isinstance(tools, str):
        tools = json.loads(tools) if tools.strip() else None
    if not tools:
        return None
    tools = tools if isinstance(tools, list) else [tools]
    return json.dumps([without_nulls(tool) if "function" in tool or "type" in tool
                       else {"type": "function", "function": without_nulls(tool)} for tool in tools], ensure_ascii=False)


def tools_of(row: dict) -> list | None:
    """A chat row's tool definitions as the chat template takes them (a JSON string column or a list), or None."""
    import json

    tools = row.get("tools")
    return json.loads(tools) if isinstance(tools, str) and tools else tools or None


def fit_to_chat_template(table: Dataset, tokenizer: PreTrainedTokenizerBase, source: str) -> tuple[Dataset, list[str]]:
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
