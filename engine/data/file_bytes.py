"""A text data file's bytes as UTF-8 text, or a UserError saying what they are instead (compressed, binary, another
encoding), naming the file and the fix."""

from __future__ import annotations

from pathlib import Path

from engine.errors import UserError

COMPRESSED = ((b"\x1f\x8b", "gzip-compressed", "gunzip -c"), (b"BZh", "bzip2-compressed", "bunzip2 -c"),
              (b"\xfd7zXZ\x00", "xz-compressed", "xz -dc"), (b"\x28\xb5\x2f\xfd", "zstd-compressed", "zstd -dc"))
"""Magic bytes of compressed files, what they are, and the command that writes them out decompressed."""
BYTE_ORDER_MARKS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
                    (b"\xfe\xff", "UTF-16"))
NUL = b"\x00"


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
