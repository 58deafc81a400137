"""Loading local files and Hub datasets as datasets.Dataset, with errors a user can act on."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.data.file_bytes import bytes_problem, file_text
from engine.errors import UserError

if TYPE_CHECKING:
    from engine.config.run_config import DatasetSection


LOCAL_SUFFIXES = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet",
                  ".json.gz": "json", ".jsonl.gz": "json", ".csv.gz": "csv"}


def data_suffix(path: Path) -> str:
    """The file's data suffix in lower case, with .gz kept on what it compresses (`.jsonl.gz`)."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes[-1:] == [".gz"] and len(suffixes) > 1:
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


def read_table(path: str, section: "DatasetSection", split: str | None = None) -> Any:
    """Load a local file or a Hub dataset as a datasets.Dataset, with errors a user can act on."""
    import datasets

    datasets.disable_progress_bars()
    local = Path(path).expanduser()
    suffix = data_suffix(local)
    files = section.data_files if path == section.path else None  # files inside the repo or folder of dataset.path
    if not files and (suffix in LOCAL_SUFFIXES or local.exists()):
        if not local.is_file():
            raise UserError(f"dataset file {path} does not exist (looked from {Path.cwd()}).")
        if suffix not in LOCAL_SUFFIXES:
            raise UserError(f"dataset file {path}: unsupported type {suffix or '(none)'}; use .json, .jsonl, .csv or .parquet "
                            "(JSON, JSONL and CSV may be gzip-compressed: .jsonl.gz).")
        if LOCAL_SUFFIXES[suffix] == "json":
            return table_from_rows(_read_json_rows(local))
        try:
            return datasets.load_dataset(LOCAL_SUFFIXES[suffix], data_files=str(local), split="train")
        except ImportError as exc:  # a feature type whose optional library is missing
            raise UserError(f"dataset file {path}: reading it needs a library that is not installed ({_short(exc)}); "
                            "sft-wizard trains text, so give it a file of text columns.") from None
        except Exception as exc:  # pyarrow / pandas parse errors
            problem = _bytes_problem(local) if LOCAL_SUFFIXES[suffix] == "csv" else None
            raise UserError(problem or f"dataset file {path}: cannot be read as {suffix[1:].upper()}: {_short(exc)}") from None
    try:
        return datasets.load_dataset(path, section.subset, data_files=files, split=split or section.split, revision=None)
    except Exception as exc:  # datasets raises many types for a Hub id (offline, not found, bad config): each is the user's to fix
        if "offline" in str(exc).lower() or "connect" in str(exc).lower() or type(exc).__name__ in ("ConnectionError", "OfflineModeIsEnabled"):
            raise UserError(f"dataset {path!r} is not a local file and not available offline (Hub unreachable): "
                            f"download it first or give a local JSON/JSONL/CSV/Parquet file.") from None
        raise UserError(f"dataset {path!r}: not a local file, and loading it from the Hub failed: {_short(exc)}") from None


def table_from_rows(rows: list[dict]) -> Any:
    """A datasets.Dataset of JSON rows with every column any row has; a column of mixed types is kept as JSON."""
    import datasets
    import pyarrow

    names = list(dict.fromkeys(name for row in rows for name in row))
    columns = {name: [row.get(name) for row in rows] for name in names}
    try:
        return datasets.Dataset.from_dict(columns)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError, TypeError):  # e.g. content text in one row, parts in another
        return datasets.Dataset.from_dict(columns, on_mixed_types="use_json")


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:300]


def _file_text(path: Path) -> str:
    """The file's text, decompressed when it is gzip (.gz); UserError when its bytes are not UTF-8 text."""
    data, gzipped = _file_bytes(path)
    return file_text(data, path, data_suffix(path).split(".")[1].upper(), gzipped) if data else ""


def _file_bytes(path: Path) -> tuple[bytes, bool]:
    """The file's bytes, decompressed when its name ends in .gz; and whether they were."""
    data = path.read_bytes()
    if path.suffix.lower() != ".gz" or not data:
        return data, False
    try:
        return gzip.decompress(data), True
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise UserError(f"dataset file {path}: cannot be decompressed as gzip: {_short(exc)}") from None


def _bytes_problem(path: Path) -> str | None:
    """Why a file datasets could not read is not UTF-8 text (compressed, binary, another encoding), if it is not."""
    try:
        data, gzipped = _file_bytes(path)
    except (UserError, OSError) as exc:
        return str(exc)
    return bytes_problem(data, path, data_suffix(path).split(".")[1].upper(), gzipped)


def _read_json_rows(path: Path) -> list[dict]:
    text = _file_text(path)
    if not text.strip():
        raise UserError(f"dataset file {path} is empty; it needs at least one row.")
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and data_suffix(path) in (".json", ".json.gz")
                                        and "\n{" not in stripped):
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
        for number, line in enumerate(text.split("\n"), start=1):  # splitlines() would also cut at U+2028, U+0085
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
