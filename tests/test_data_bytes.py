"""Data files whose bytes are not what their name says: compressed, binary, not UTF-8; and line separators in strings."""

import bz2
import gzip
import json

import pytest
from conftest import run_command, write_preset

from engine.config.run_config import DatasetSection
from engine.data.pipeline import prepare_data
from engine.data.source.read import read_table
from engine.errors import UserError

ROWS = [{"instruction": "Say café, and 你好", "output": "café été 中文"}, {"instruction": "hi", "output": "yo"}]
TEXT = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in ROWS)


def _refusal(path):
    with pytest.raises(UserError) as caught:
        read_table(str(path), DatasetSection(path=str(path)))
    return str(caught.value)


@pytest.mark.parametrize("name, data, said", [
    ("rows.jsonl", gzip.compress(TEXT.encode(), mtime=0), "is gzip-compressed, but its name does not end in .gz: rename it to "
                                                  "rows.jsonl.gz"),
    ("rows.jsonl", bz2.compress(TEXT.encode()), "is bzip2-compressed, not JSONL text: decompress it: bunzip2 -c"),
    ("rows.jsonl", b"PK\x03\x04" + b"\x00" * 40, "is a zip archive, not JSONL text"),
    ("rows.json", b"PAR1" + b"\x00" * 40, "is a Parquet file, not JSON text: give it a .parquet name (rows.parquet)"),
    ("rows.jsonl", bytes(range(256)) * 4, "holds binary data (a NUL byte at byte 1), not JSONL text"),
    ("rows.jsonl", TEXT.encode("utf-16"), "is UTF-16 text; sft-wizard reads UTF-8: convert it with `iconv -f UTF-16"),
    ("rows.jsonl", TEXT.replace("你好", "").replace(" 中文", "").encode("latin-1"),
     "is not UTF-8: byte 0xE9 at line 1, column 25; it looks like Windows-1252 / Latin-1 text: convert it with "
     "`iconv -f WINDOWS-1252 -t UTF-8"),
    ("rows.jsonl", '{"instruction": "你好世界", "output": "中文回答"}\n'.encode("gbk"),
     "is not UTF-8: byte 0xC4 at line 1, column 18; it looks like GBK (Chinese) text: convert it with `iconv -f GBK"),
    ("rows.jsonl.gz", gzip.compress(TEXT.replace("你好", "").replace(" 中文", "").encode("latin-1"), mtime=0),
     "(decompressed) is not UTF-8: byte 0xE9 at line 1, column 25; it looks like Windows-1252 / Latin-1 text: convert "
     "it with `gunzip -c"),
    ("rows.csv", "instruction,output\nSay café,été\n".encode("latin-1"), "is not UTF-8: byte 0xE9 at line 2, column 8"),
])
def test_bytes_that_are_not_utf8_text_are_named_with_the_fix(tmp_path, name, data, said):
    path = tmp_path / name
    path.write_bytes(data)
    message = _refusal(path)
    assert message.startswith(f"dataset file {path}") and said in message, message


def test_the_check_command_exits_2_with_one_message_and_no_traceback(tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_bytes(TEXT.encode("utf-16"))
    preset = write_preset(tmp_path, f"name: t\nmodel: {{name_or_path: tiny-demo}}\ndataset: {{path: {data}}}\n")
    result = run_command("check", str(preset))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"dataset file {data} is UTF-16 text" in result.stderr


def test_the_suggested_conversion_gives_a_file_that_is_read(tmp_path):
    import subprocess

    path = tmp_path / "rows.jsonl"
    path.write_bytes(TEXT.replace("你好", "").replace(" 中文", "").encode("latin-1"))
    command = _refusal(path).split("`")[1]
    subprocess.run(command, shell=True, check=True)
    assert read_table(str(tmp_path / "rows-utf8.jsonl"), DatasetSection())[0]["output"] == "café été"


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085"])  # str.splitlines cuts at each
def test_line_separators_inside_strings_are_text_as_datasets_reads_them(tmp_path, separator):
    import datasets

    path = tmp_path / "rows.jsonl"
    rows = [{"instruction": f"one{separator}two", "output": f"three{separator}four"}, {"instruction": "a", "output": "b"}]
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    ours = read_table(str(path), DatasetSection(path=str(path)))
    theirs = datasets.load_dataset("json", data_files=str(path), split="train")
    assert ours.to_list() == theirs.to_list() == rows
    assert len(prepare_data(DatasetSection(path=str(path), format="alpaca", eval_split=0)).train) == 2


def test_a_utf8_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + TEXT.encode())
    assert read_table(str(path), DatasetSection(path=str(path))).to_list() == ROWS
