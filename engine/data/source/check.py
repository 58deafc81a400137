"""Check: a source's normalised rows against their format, each problem named with the row (1-based) and its fix.

The format the preset asks for is checked against the columns (or detected from them), then every row is checked
before conversion, and columns that training would not read are named: a column that holds part of the prompt
is refused, since the answers would be learned without it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from engine.data.source.formats import FORMAT_COLUMNS, OPTIONAL_COLUMNS, detect_format, format_fix
from engine.data.source.normalise import USUAL_PAIRS, usual_pair
from engine.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset

    from engine.config.run_config import DatasetSection

PROMPT_PART_COLUMNS = ("context", "input", "passage", "document", "system")
"""Columns whose name says they hold part of the prompt (a passage the answer draws on): never left out unsaid."""


def checked(table: Dataset, section: "DatasetSection", source: str) -> tuple[str, list[str]]:
    """The rows' format (the preset's, checked against the columns, or the detected one) and warnings about columns."""
    if len(table) == 0:
        raise UserError(f"{source} has no rows.")
    fmt = resolve_format(table, section, source)
    check_rows(table, fmt, source)
    return fmt, unused_columns(table.column_names, fmt, source, section.key("columns"))


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


def check_rows(table: Dataset, fmt: str, source: str) -> None:
    """UserError naming the first row (1-based) that the format cannot train on."""
    tool_columns = [column for column in ("tools", "functions") if column in table.column_names]
    for number, row in enumerate(table, start=1):
        problem = _row_problem(row, fmt) or next(filter(None, (_tools_problem(row[c]) for c in tool_columns)), None)
        if problem:
            raise UserError(f"{source}: row {number} {problem}")


def _row_problem(row: dict, fmt: str) -> str | None:
    """What keeps one row from being trained in this format, or None."""
    if fmt == "alpaca":
        for column in ("instruction", "output"):
            value = row[column]
            if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
                return f"has an empty or non-text `{column}` ({value!r})."
        history = row.get("history")
        if history is not None and not (isinstance(history, list) and all(
                isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in history)):
            return f"has a `history` that is not a list of [instruction, answer] pairs ({history!r})."
    elif fmt in ("chat", "sharegpt"):
        column = FORMAT_COLUMNS[fmt][0]
        turns = row[column]
        if not isinstance(turns, list) or not turns:
            return f"`{column}` must be a non-empty list of turns."
        for turn in turns:
            problem = _message_problem(turn) if fmt == "chat" else _sharegpt_turn_problem(turn)
            if problem:
                return problem
    elif fmt == "prompt-completion":
        prompt, completion = row["prompt"], row["completion"]
        if isinstance(prompt, list) != isinstance(completion, list):
            return "has a `prompt` and a `completion` of different kinds: both text, or both lists of messages."
        if not isinstance(prompt, list) and not isinstance(completion, (str, int, float)):
            return f"has a non-text `completion` ({completion!r})."
        for message in (prompt + completion) if isinstance(prompt, list) else []:
            problem = _message_problem(message)
            if problem:
                return problem
    elif fmt == "input-output":
        return _segments_problem(row["segments"])
    elif fmt == "text" and (not isinstance(row["text"], str) or not row["text"].strip()):
        return "has an empty `text`."
    return None


def _message_problem(message: object) -> str | None:
    """What is wrong with one chat message ({role, content} or an assistant message with tool_calls), or None."""
    if not isinstance(message, dict):
        return f"each turn needs role and content; found {message!r}."
    calls = message.get("tool_calls") or ([message["function_call"]] if message.get("function_call") else [])
    if "role" not in message or ("content" not in message and not calls):
        return f"each turn needs role and content; found {message!r}."
    content = message.get("content")
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text", part.get("value")), str):
                return f"has a content part that is not text ({part!r}); only text parts can be trained."
    elif content is not None and not isinstance(content, str):
        return f"has a content that is not text ({content!r})."
    for call in calls:
        problem = _call_problem(call.get("function") if isinstance(call, dict) and "function" in call else call)
        if problem:
            return problem
    return turn_flags_problem(message, message["role"], content)


def _sharegpt_turn_problem(turn: object) -> str | None:
    """What is wrong with one ShareGPT turn ({from, value}; a function_call's value is JSON), or None."""
    if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
        return f"each turn needs from and value; found {turn!r}."
    if turn["from"] != "function_call":
        return turn_flags_problem(turn, str(turn["from"]), turn["value"])
    try:
        calls = json.loads(turn["value"]) if isinstance(turn["value"], str) else turn["value"]
    except json.JSONDecodeError as exc:
        return f"has a function_call turn whose value is not JSON ({exc.msg}): {turn['value']!r}."
    for call in calls if isinstance(calls, list) else [calls]:
        problem = _call_problem(call)
        if problem:
            return problem
    return None


def turn_flags_problem(turn: dict, role: str, content: object) -> str | None:
    """What is wrong with a turn's learning flags (OpenAI weight 0/1 on assistant turns, Axolotl train and train_detail)."""
    weight = turn.get("weight")
    if weight is not None and (isinstance(weight, bool) or weight not in (0, 1)):
        return (f"has a turn with weight {weight!r}; weight is 0 (the turn is not learned) or 1 (learned), as in "
                "OpenAI's fine-tuning data.")
    if weight is not None and role not in ("assistant", "gpt", "model", "bot"):
        return (f"has a {role} turn with a weight; OpenAI's weight marks assistant turns only (use Axolotl's "
                "train: true to learn another turn).")
    if turn.get("train") is not None and not isinstance(turn["train"], bool):
        return f"has a turn whose train is {turn['train']!r}; it is true or false."
    details = turn.get("train_detail")
    if details is None:
        return None
    text = content if isinstance(content, str) else ""
    if not isinstance(details, list) or not text:
        return "has a train_detail that is not a list of spans of its text content."
    for detail in details:
        begin, end = (detail.get("begin_offset"), detail.get("end_offset")) if isinstance(detail, dict) else (None, None)
        if not (isinstance(begin, int) and isinstance(end, int) and isinstance(detail.get("train"), bool)):
            return (f"has a train_detail span {detail!r}; each is {{begin_offset, end_offset, train}} with character "
                    "offsets into the turn's content (both inclusive) and train true or false.")
        if not 0 <= begin <= end < len(text):
            return (f"has a train_detail span {begin}..{end} outside its content of {len(text)} characters "
                    "(offsets are 0-based and inclusive).")
    return None


def _segments_problem(segments: object) -> str | None:
    """What is wrong with Axolotl input_output segments ([{"label": bool, "text": str}]), or None."""
    if not isinstance(segments, list) or not segments:
        return "`segments` must be a non-empty list of {label, text}."
    for segment in segments:
        if not isinstance(segment, dict) or not isinstance(segment.get("text"), str) \
                or not isinstance(segment.get("label"), bool):
            return f"has a segment {segment!r}; each is {{label: true or false, text: its text}}."
    return None


def _call_problem(function: object) -> str | None:
    """What is wrong with one tool call ({name, arguments: object or JSON object text}), or None."""
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        return f"has a tool call without a function name ({function!r})."
    arguments = function.get("arguments")
    if isinstance(arguments, str) and arguments.strip().startswith("{"):
        try:
            json.loads(arguments)
        except json.JSONDecodeError as exc:
            return f"has tool call arguments that are not valid JSON ({exc.msg}): {arguments!r}."
    return None


def _tools_problem(tools: object) -> str | None:
    """What is wrong with a `tools` value (a list of function schemas, or a JSON string of one), or None."""
    if isinstance(tools, str) and tools.strip():
        text = tools
        try:
            tools = json.loads(text)
        except json.JSONDecodeError as exc:
            return f"has a `tools` value that is not valid JSON ({exc.msg}): {text[:80]!r}."
    if tools and not all(isinstance(tool, dict) for tool in (tools if isinstance(tools, list) else [tools])):
        return f"has a `tools` value that is not a list of function schemas ({tools!r})."
    return None


def unused_columns(columns: list[str], fmt: str, source: str, columns_key: str) -> list[str]:
    """A warning naming the columns that training does not read; UserError for one that holds part of the prompt."""
    used = FORMAT_COLUMNS[fmt] + OPTIONAL_COLUMNS.get(fmt, ())
    unused = [column for column in columns if column not in used]
    parts = [column for column in unused if column in PROMPT_PART_COLUMNS]
    if parts:
        raise UserError(f"{source}: column `{parts[0]}` holds part of the prompt, and {fmt} rows do not read it, so "
                        f"the answers would be learned without it. {_prompt_part_fix(parts[0], columns, fmt, columns_key)}")
    if not unused:
        return []
    return [f"{source}: column(s) {', '.join(unused)} are not used in training ({fmt} rows are read from "
            f"{', '.join(c for c in used if c in columns)})."]


def _prompt_part_fix(column: str, columns: list[str], fmt: str, columns_key: str) -> str:
    """How to have a prompt column read: mapped to alpaca's input, or written into the rows."""
    if fmt == "alpaca" and "input" not in columns:
        return f"Map it with {columns_key}: {{input: {column}}} (alpaca writes the input into the prompt)."
    if fmt == "alpaca":
        return f"Alpaca rows have one input (`input`): join `{column}` into it, or remove the column."
    where = {"chat": "the conversations (e.g. the system or first user turn)", "sharegpt": "the conversations",
             "prompt-completion": "the prompt"}.get(fmt, "the rows")
    return f"Write its text into {where}, or remove the column."
