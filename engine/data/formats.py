"""Reading training data, detecting its format, and turning rows into what SFTTrainer trains on.

Alpaca rows become prompt/completion pairs (so completion-only loss knows the learned part), their `system`
and `history` written before the instruction; chat and ShareGPT rows become `messages` for the tokenizer's
chat template, with their tool calls, tool results and `tools` column; text rows stay text.
export-script copies the pure conversion functions (engine.outputs.script.CONVERSION_FUNCTIONS) into its
scripts verbatim, so they use only builtins and this module's constants, and raise no UserError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.config.templates import ALPACA_TEMPLATES
from engine.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset
    from engine.config.run_config import DatasetSection

FORMAT_COLUMNS = {
    "alpaca": ("instruction", "output"),
    "chat": ("messages",),
    "sharegpt": ("conversations",),
    "prompt-completion": ("prompt", "completion"),
    "input-output": ("segments",),
    "text": ("text",),
}
OPTIONAL_COLUMNS = {"alpaca": ("input", "system", "history"), "chat": ("system", "tools", "functions"), "sharegpt": ("system", "tools")}
"""Columns a format's rows are also read from when the data has them (to_training_row)."""
TURN_FLAGS = ("weight", "train", "train_detail")
"""Keys of a turn that say whether (and which of) its text is learned: OpenAI's weight, Axolotl's train/train_detail."""
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
                   "system": "system", "bot": "assistant"}


def detect_format(columns: list[str]) -> str | None:
    """The data format its columns suggest, or None."""
    names = set(columns)
    for fmt in ("chat", "sharegpt", "alpaca", "prompt-completion", "input-output", "text"):
        if set(FORMAT_COLUMNS[fmt]) <= names:
            return fmt
    return None


USUAL_PAIRS = (("question", "answer"), ("prompt", "response"), ("query", "response"), ("input", "output"),
               ("instruction", "response"), ("question", "response"))
"""Column pairs that hold a prompt and its answer in data of no known format, read as alpaca instruction/output."""


USUAL_PASSAGES = ("context", "passage", "document")
"""Columns holding the passage a usual pair's answer draws on (Dolly's closed-QA `context`), read as alpaca's input."""


def usual_pair(columns: list[str]) -> dict | None:
    """dataset.columns for the first usual prompt/answer pair the columns hold, or None.

    {instruction: ..., output: ...}, and input: a passage column beside them when the data has no `input`.
    """
    for prompt, answer in USUAL_PAIRS:
        if prompt in columns and answer in columns:
            passage = next((c for c in USUAL_PASSAGES if c in columns), None) if "input" not in columns else None
            return {"instruction": prompt, "output": answer, **({"input": passage} if passage else {})}
    return None


def column_renames(columns: dict) -> dict:
    """dataset.columns (our name -> the data's column name) as renames from the data's name to ours."""
    return {theirs: ours for ours, theirs in columns.items() if theirs != ours}


def rename_columns(table, renames: dict):
    """The table with its columns renamed, replacing any column that already has the new name."""
    clashing = [ours for ours in renames.values() if ours in table.column_names]
    if clashing:
        table = table.remove_columns(clashing)
    return table.rename_columns(renames) if renames else table


def apply_column_mapping(table: Dataset, section: "DatasetSection", source: str) -> Dataset:
    """The table with dataset.columns applied; UserError naming any mapped column the file lacks."""
    renames = column_renames(section.columns or {})
    missing = [theirs for theirs in renames if theirs not in table.column_names]
    if missing:
        raise UserError(f"{source}: {section.key('columns')} maps to {', '.join(missing)}, but the data has columns "
                        f"{', '.join(table.column_names)}.")
    return rename_columns(table, renames)


def resolve_format(table: Dataset, section: "DatasetSection", source: str) -> str:
    """The format to use: the configured one, checked against the columns, or the detected one."""
    columns = table.column_names
    if section.format == "auto":
        fmt = detect_format(columns)
        if fmt is None:
            raise UserError(
                f"{source}: cannot tell the data format from its columns ({', '.join(columns)}). Expected one of: "
                "instruction/input/output (alpaca), messages (chat), conversations (sharegpt), prompt/completion, text "
                f"(or a usual pair: {', '.join('/'.join(pair) for pair in USUAL_PAIRS)}). "
                f"Map yours with {section.key('columns')}, e.g. {{instruction: question, output: answer}}.")
        return fmt
    needed = [c for c in FORMAT_COLUMNS[section.format] if c not in columns]
    if needed:
        looks = detect_format(columns)
        if looks:
            raise UserError(f"{source}: {section.key('format')} is {section.format}, but this file is {looks} data "
                            f"({', '.join(FORMAT_COLUMNS[looks])}): {format_fix(section, looks)}.")
        mapping = fitting_mapping(table, section.format)
        fix = (f"Map them with {section.key('columns')}: {{{', '.join(f'{ours}: {theirs}' for ours, theirs in mapping.items())}}}"
               if mapping else f"Map them with {section.key('columns')} (ours: the data's column)")
        raise UserError(f"{source}: {section.key('format')} is {section.format} and needs column(s) {', '.join(needed)}, "
                        f"but the data has {', '.join(columns)}. {fix}, or choose the right format.")
    return section.format


def format_fix(section: "DatasetSection", fmt: str) -> str:
    """The one-line fix for a preset whose fixed format is not the file's: the format, and the template if it must go."""
    template = (f" (and {section.key('template')}: auto; {section.template} does not format {fmt} data)"
                if section.template not in ("auto", resolve_template(fmt, "auto")) else "")
    return f"set {section.key('format')}: {fmt} or auto{template}"


PROMPT_PART_COLUMNS = ("context", "input", "passage", "document", "system")
"""Columns whose name says they hold part of the prompt (a passage the answer draws on): never left out unsaid."""


def fitting_mapping(table: Dataset, fmt: str) -> dict | None:
    """dataset.columns that would make the table `fmt` data, when its columns really fit it; else None.

    Alpaca and prompt/completion take a usual prompt/answer pair (alpaca also a passage column as its input);
    chat and ShareGPT a column whose turns have role/content or from/value.
    """
    columns = table.column_names
    pair = usual_pair(columns)
    if fmt == "alpaca" and pair:
        return {ours: theirs for ours, theirs in pair.items() if ours != theirs} or None
    if fmt == "prompt-completion" and pair:
        return {"prompt": pair["instruction"], "completion": pair["output"]}
    keys = {"chat": {"role", "content"}, "sharegpt": {"from", "value"}}.get(fmt)
    if keys and len(table):
        first = table[0]
        for column in columns:
            turns = first[column]
            if isinstance(turns, list) and turns and all(isinstance(t, dict) and keys <= set(t) for t in turns):
                return {FORMAT_COLUMNS[fmt][0]: column}
    return None


def resolve_template(fmt: str, template: str) -> str:
    """The template a format uses when the preset says auto."""
    if template != "auto":
        return template
    return {"alpaca": "alpaca", "chat": "chat-template", "sharegpt": "chat-template"}.get(fmt, "none")


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
    prompt = pattern["with_input" if values["input"].strip() else "no_input"].format(**values)
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
