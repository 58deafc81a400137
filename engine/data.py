"""Reading training data, detecting its format, and turning rows into what SFTTrainer trains on.

Alpaca rows become prompt/completion pairs (so completion-only loss knows the learned part),
chat and ShareGPT rows become `messages` for the tokenizer's chat template, text rows stay text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import UserError

if TYPE_CHECKING:
    from engine.config import DatasetSection

ALPACA_TEMPLATES = {
    "alpaca": {
        "with_input": "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n",
        "no_input": "### Instruction:\n{instruction}\n\n### Response:\n",
    },
    # The course lesson's headers (course-module7.py, formatting_prompts_func).
    "alpaca-zh": {
        "with_input": "### 指令:\n{instruction}\n\n### 输入:\n{input}\n\n### 响应:\n",
        "no_input": "### 指令:\n{instruction}\n\n### 响应:\n",
    },
}
FORMAT_COLUMNS = {
    "alpaca": ("instruction", "output"),
    "chat": ("messages",),
    "sharegpt": ("conversations",),
    "prompt-completion": ("prompt", "completion"),
    "text": ("text",),
}
_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
                   "system": "system", "bot": "assistant"}
LOCAL_SUFFIXES = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


@dataclass
class PreparedData:
    """Train and eval datasets in a form SFTTrainer takes, and what was decided on the way."""

    train: Any
    eval: Any | None
    format: str
    template: str
    columns_found: list[str]
    warnings: list[str] = field(default_factory=list)


def read_table(path: str, section: "DatasetSection", split: str | None = None) -> Any:
    """Load a local file or a Hub dataset as a datasets.Dataset, with errors a user can act on."""
    import datasets

    datasets.disable_progress_bars()
    local = Path(path).expanduser()
    suffix = local.suffix.lower()
    if suffix in LOCAL_SUFFIXES or local.exists():
        if not local.is_file():
            raise UserError(f"dataset file {path} does not exist (looked from {Path.cwd()}).")
        if suffix not in LOCAL_SUFFIXES:
            raise UserError(f"dataset file {path}: unsupported type {suffix or '(none)'}; use .json, .jsonl, .csv or .parquet.")
        if LOCAL_SUFFIXES[suffix] == "json":
            return datasets.Dataset.from_list(_read_json_rows(local))
        try:
            return datasets.load_dataset(LOCAL_SUFFIXES[suffix], data_files=str(local), split="train")
        except Exception as exc:  # pyarrow / pandas parse errors
            raise UserError(f"dataset file {path}: cannot be read as {suffix[1:].upper()}: {_short(exc)}") from None
    try:
        return datasets.load_dataset(path, section.subset, split=split or section.split, revision=None)
    except Exception as exc:
        if "offline" in str(exc).lower() or "connect" in str(exc).lower() or type(exc).__name__ in ("ConnectionError", "OfflineModeIsEnabled"):
            raise UserError(f"dataset {path!r} is not a local file and not available offline (Hub unreachable): "
                            f"download it first or give a local JSON/JSONL/CSV/Parquet file.") from None
        raise UserError(f"dataset {path!r}: not a local file, and loading it from the Hub failed: {_short(exc)}") from None


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:300]


def _read_json_rows(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8", errors="strict") if path.stat().st_size else ""
    if not text.strip():
        raise UserError(f"dataset file {path} is empty; it needs at least one row.")
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and path.suffix.lower() == ".json" and "\n{" not in stripped):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"dataset file {path}: broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.") from None
        if isinstance(data, dict):
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise UserError(f"dataset file {path}: a JSON file holds a list of rows (or one key with that list).")
            data = lists[0]
        rows = data
        where = "item"
    else:
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UserError(f"dataset file {path}: broken JSON at line {number}, column {exc.colno}: {exc.msg}.") from None
        where = "line"
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise UserError(f"dataset file {path}: {where} {number} is {type(row).__name__}, not an object with columns.")
    if not rows:
        raise UserError(f"dataset file {path} has no rows.")
    return rows


def detect_format(columns: list[str]) -> str | None:
    """The data format its columns suggest, or None."""
    names = set(columns)
    for fmt in ("chat", "sharegpt", "alpaca", "prompt-completion", "text"):
        if set(FORMAT_COLUMNS[fmt]) <= names:
            return fmt
    return None


def _apply_column_mapping(table: Any, section: "DatasetSection", source: str) -> Any:
    mapping = {theirs: ours for ours, theirs in (section.columns or {}).items() if theirs != ours}
    missing = [theirs for theirs in mapping if theirs not in table.column_names]
    if missing:
        raise UserError(f"{source}: dataset.columns maps to {', '.join(missing)}, but the data has columns "
                        f"{', '.join(table.column_names)}.")
    clashing = [ours for ours in mapping.values() if ours in table.column_names]
    if clashing:
        table = table.remove_columns(clashing)
    return table.rename_columns(mapping) if mapping else table


def resolve_format(table: Any, section: "DatasetSection", source: str) -> str:
    """The format to use: the configured one, checked against the columns, or the detected one."""
    columns = table.column_names
    if section.format == "auto":
        fmt = detect_format(columns)
        if fmt is None:
            raise UserError(
                f"{source}: cannot tell the data format from its columns ({', '.join(columns)}). Expected one of: "
                "instruction/input/output (alpaca), messages (chat), conversations (sharegpt), prompt/completion, text. "
                "Map yours with dataset.columns, e.g. {instruction: question, output: answer}.")
        return fmt
    needed = [c for c in FORMAT_COLUMNS[section.format] if c not in columns]
    if needed:
        raise UserError(f"{source}: dataset.format is {section.format} and needs column(s) {', '.join(needed)}, "
                        f"but the data has {', '.join(columns)}. Map them with dataset.columns "
                        f"(e.g. {{{needed[0]}: {columns[0]}}}) or choose the right format.")
    return section.format


def resolve_template(fmt: str, template: str) -> str:
    """The template a format uses when the preset says auto."""
    if template != "auto":
        return template
    return {"alpaca": "alpaca", "chat": "chat-template", "sharegpt": "chat-template"}.get(fmt, "none")


def to_training_row(row: dict, fmt: str, template: str) -> dict:
    """One row in the shape SFTTrainer takes: prompt/completion, messages, or text."""
    if fmt == "alpaca":
        pattern = ALPACA_TEMPLATES[template if template in ALPACA_TEMPLATES else "alpaca"]
        values = {"instruction": str(row["instruction"]), "input": str(row.get("input") or "")}
        prompt = pattern["with_input" if values["input"].strip() else "no_input"].format(**values)
        return {"prompt": prompt, "completion": str(row["output"])}
    if fmt == "sharegpt":
        return {"messages": [{"role": _SHAREGPT_ROLES.get(str(turn.get("from")), str(turn.get("from"))),
                              "content": str(turn.get("value", ""))} for turn in row["conversations"]]}
    if fmt == "chat":
        return {"messages": [{"role": m["role"], "content": m["content"]} for m in row["messages"]]}
    if fmt == "prompt-completion":
        return {"prompt": str(row["prompt"]), "completion": str(row["completion"])}
    return {"text": str(row["text"])}


def _check_rows(table: Any, fmt: str, source: str) -> None:
    for number, row in enumerate(table, start=1):
        if fmt == "alpaca":
            for column in ("instruction", "output"):
                value = row[column]
                if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
                    raise UserError(f"{source}: row {number} has an empty or non-text `{column}` ({value!r}).")
        elif fmt in ("chat", "sharegpt"):
            turns = row[FORMAT_COLUMNS[fmt][0]]
            if not isinstance(turns, list) or not turns:
                raise UserError(f"{source}: row {number}: `{FORMAT_COLUMNS[fmt][0]}` must be a non-empty list of turns.")
            keys = ("role", "content") if fmt == "chat" else ("from", "value")
            for turn in turns:
                if not isinstance(turn, dict) or any(k not in turn for k in keys):
                    raise UserError(f"{source}: row {number}: each turn needs {' and '.join(keys)}; found {turn!r}.")
        elif fmt == "text" and (not isinstance(row["text"], str) or not row["text"].strip()):
            raise UserError(f"{source}: row {number} has an empty `text`.")


def prepare_data(section: "DatasetSection", tokenizer: Any = None) -> PreparedData:
    """Read, check, convert and split the data of a preset's dataset section."""
    source = f"dataset {section.path}"
    table = _apply_column_mapping(read_table(section.path, section), section, source)
    columns_found = list(table.column_names)
    if len(table) == 0:
        raise UserError(f"{source} has no rows.")
    fmt = resolve_format(table, section, source)
    template = resolve_template(fmt, section.template)
    if template == "chat-template" and tokenizer is not None and not getattr(tokenizer, "chat_template", None):
        raise UserError(f"{source}: chat data needs the tokenizer's chat template, and this model's tokenizer has none; "
                        "use a chat (instruct) model or convert the data to alpaca format.")
    _check_rows(table, fmt, source)
    if section.max_rows:
        table = table.select(range(min(section.max_rows, len(table))))
    converted = table.map(lambda row: to_training_row(row, fmt, template), remove_columns=table.column_names)
    eval_table = None
    if section.eval_path:
        eval_source = f"dataset {section.eval_path}"
        eval_raw = _apply_column_mapping(read_table(section.eval_path, section), section, eval_source)
        if resolve_format(eval_raw, section, eval_source) != fmt and section.format == "auto":
            raise UserError(f"{eval_source} has a different format from the training data ({fmt}).")
        _check_rows(eval_raw, fmt, eval_source)
        eval_table = eval_raw.map(lambda row: to_training_row(row, fmt, template), remove_columns=eval_raw.column_names)
    elif section.eval_split:
        if len(converted) < 2:
            raise UserError(f"{source} has {len(converted)} row(s): too few to hold out an eval split.")
        parts = converted.train_test_split(test_size=section.eval_split, seed=section.seed)
        converted, eval_table = parts["train"], parts["test"]
    return PreparedData(converted, eval_table, fmt, template, columns_found)


def render_parts(row: dict, tokenizer: Any = None) -> tuple[str, str]:
    """A training row as (context, learned) text exactly as the model sees it.

    For prompt/completion rows the learned part is the completion plus EOS; for chat rows it
    is the assistant turns as the chat template renders them; text rows are learned whole.
    """
    eos = getattr(tokenizer, "eos_token", "") or ""
    if "prompt" in row:
        return row["prompt"], row["completion"] + eos
    if "messages" in row and tokenizer is not None:
        rendered = tokenizer.apply_chat_template(row["messages"], tokenize=False)
        context = tokenizer.apply_chat_template(
            [m for m in row["messages"] if m["role"] != "assistant"], tokenize=False)
        return rendered, "" if rendered == context else "(assistant turns)"
    return "", row.get("text", "")


@dataclass
class LengthStats:
    """Token lengths of the training rows against the max length."""

    count: int
    min: int
    median: int
    p95: int
    max: int
    max_length: int | None
    truncated: int

    @property
    def truncated_share(self) -> float:
        """The share of rows longer than the max length."""
        return self.truncated / self.count if self.count else 0.0


def length_stats(train: Any, tokenizer: Any, max_length: int | None, sample: int = 2000) -> LengthStats:
    """Token length statistics of (up to `sample` of) the prepared training rows."""
    rows = train.select(range(min(sample, len(train))))
    lengths = []
    for row in rows:
        if "messages" in row:
            ids = tokenizer.apply_chat_template(row["messages"], tokenize=True)
            lengths.append(len(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids))
        else:
            context, learned = render_parts(row, tokenizer)
            lengths.append(len(tokenizer(context + learned, add_special_tokens=True)["input_ids"]))
    lengths.sort()
    count = len(lengths)
    truncated = sum(1 for n in lengths if max_length and n > max_length)
    return LengthStats(count, lengths[0], lengths[count // 2], lengths[min(count - 1, int(count * 0.95))], lengths[-1],
                       max_length, truncated)


def check_lengths(stats: LengthStats, source: str) -> list[str]:
    """Warnings about truncation; UserError when every row is longer than the max length."""
    if stats.max_length and stats.count and stats.truncated == stats.count:
        raise UserError(f"{source}: every row is longer than training.max_length = {stats.max_length} tokens "
                        f"(shortest {stats.min}, median {stats.median}); raise max_length.")
    if stats.truncated:
        return [f"{stats.truncated} of {stats.count} rows ({stats.truncated_share:.0%}) are longer than max_length "
                f"{stats.max_length} and will be truncated (p95 {stats.p95}, max {stats.max} tokens)."]
    return []
