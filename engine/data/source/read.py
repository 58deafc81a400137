"""Read: a source's local file or Hub dataset as a datasets.Dataset, with errors a user can act on.

A text file's bytes that are not UTF-8 text (compressed, binary, another encoding) are named with the fix.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import UserError

if TYPE_CHECKING:
    from datasets import Dataset

    from engine.config.run_config import DatasetSection


LOCAL_SUFFIXES = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet",
                  ".json.gz": "json", ".jsonl.gz": "json", ".csv.gz": "csv"}
COMPRESSED = ((b"\x1f\x8b", "gzip-compressed", "gunzip -c"), (b"BZh", "bzip2-compressed", "bunzip2 -c"),
              (b"\xfd7zXZ\x00", "xz-compressed", "xz -dc"), (b"\x28\xb5\x2f\xfd", "zstd-compressed", "zstd -dc"))
"""Magic bytes of compressed files, what they are, and the command that writes them out decompressed."""
BYTE_ORDER_MARKS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
                    (b"\xfe\xff", "UTF-16"))
NUL = b"\x00"


def data_suffix(path: Path) -> str:
    """The file's data suffix in lower case, with .gz kept on what it compresses (`.jsonl.gz`)."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes[-1:] == [".gz"] and len(suffixes) > 1:
        return "".join(suffixes[-2:])
    return suffixes[-1] if suffixes else ""


def read_table(path: str, section: "DatasetSection", split: str | None = None) -> Dataset:
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


def head_table(path: str, rows: int = 200) -> Dataset | None:
    """The first rows of a local data file, streamed so that the rest is never read; None for anything else.

    A quick look at the data's shape (an import's check), not its contents: `check` and training read it whole.
    """
    local = Path(path).expanduser()
    kind = LOCAL_SUFFIXES.get(data_suffix(local))
    if kind is None or not local.is_file():
        return None
    import datasets

    datasets.disable_progress_bars()
    stream = datasets.load_dataset(kind, data_files=str(local), split="train", streaming=True)
    return table_from_rows(list(stream.take(rows)))


def table_from_rows(rows: list[dict]) -> Dataset:
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


def file_text(data: bytes, path: Path, kind: str, gzipped: bool = False) -> str:
    """The bytes of a `kind` file (JSONL, CSV…) as text: UTF-8, a leading byte-order mark dropped.

    gzipped: data is the decompressed content of path, a .gz file.
    """
    problem = bytes_problem(data, path, kind, gzipped)
    if problem:
        raise UserError(problem)
    return data.decode("utf-8-sig")


def bytes_problem(data: bytes, path: Path, kind: str, gzipped: bool = False) -> str | None:
    """What a text file's bytes are when they are not UTF-8 text, with the fix; None when they are."""
    where = f"dataset file {path}" + (" (decompressed)" if gzipped else "")
    for magic, what, command in COMPRESSED:
        if data.startswith(magic) and not gzipped:
            if magic == COMPRESSED[0][0]:
                return (f"{where} is {what}, but its name does not end in .gz: rename it to {path.name}.gz "
                        f"(sft-wizard reads gzip), or decompress it: {command} {path} > {_beside(path, 'plain')}.")
            return f"{where} is {what}, not {kind} text: decompress it: {command} {path} > {_beside(path, 'plain')}."
    if data.startswith(b"PK\x03\x04"):
        return f"{where} is a zip archive, not {kind} text: unzip it and give the {kind} file inside as dataset.path."
    if data.startswith(b"PAR1"):
        return f"{where} is a Parquet file, not {kind} text: give it a .parquet name ({path.stem}.parquet)."
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            return f"{where} is {encoding} text; sft-wizard reads UTF-8: {_convert(path, encoding, gzipped)}."
    if NUL in data[:65536]:
        return (f"{where} holds binary data (a NUL byte at byte {data.index(NUL) + 1}), not {kind} text; "
                f"give the {kind} file itself as dataset.path.")
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        found, encoding = _likely_encoding(data)
        return (f"{where} is not UTF-8: byte 0x{data[exc.start]:02X} at line {line}, column {column}; it looks like "
                f"{found} text: {_convert(path, encoding, gzipped)}.")
    return None


def _likely_encoding(data: bytes) -> tuple[str, str]:
    """The likelier encoding, GBK (Chinese) or else Windows-1252/Latin-1, as said to the user and as iconv names it."""
    high = [i for i, byte in enumerate(data) if byte >= 0x80]
    paired = sum(1 for i in high if (i + 1 < len(data) and data[i + 1] >= 0x80) or (i > 0 and data[i - 1] >= 0x80))
    try:
        data.decode("gbk")
        if high and paired / len(high) > 0.8:  # Chinese in GBK: its high bytes come two by two
            return "GBK (Chinese)", "GBK"
    except UnicodeDecodeError:
        pass
    return "Windows-1252 / Latin-1", "WINDOWS-1252"


def _convert(path: Path, encoding: str, gzipped: bool) -> str:
    """The command that writes a UTF-8 copy of path beside it."""
    if gzipped:
        return f"convert it with `gunzip -c {path} | iconv -f {encoding} -t UTF-8 | gzip > {_beside(path, 'utf8')}`"
    return f"convert it with `iconv -f {encoding} -t UTF-8 {path} > {_beside(path, 'utf8')}`"


def _beside(path: Path, tag: str) -> Path:
    """A name for the fixed copy beside the file: rows.jsonl becomes rows-utf8.jsonl (rows-utf8.jsonl.gz)."""
    name = path.name
    cut = name.find(".")
    return path.with_name(f"{name[:cut]}-{tag}{name[cut:]}" if cut > 0 else f"{name}-{tag}")
