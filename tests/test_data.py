"""Data: formats, templates, splits and the messages for bad data (file, row or line, problem)."""

import json

import pytest
from conftest import DEMO_DATA, run_command, write_preset

from engine.config.run_config import DatasetSection, ModelSection
from engine.data.label.learning import learn_rows
from engine.data.label.lengths import check_lengths, length_stats
from engine.data.pipeline import prepare_data
from engine.errors import UserError
from engine.models.hub import load_tokenizer


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def prepare(path, **kwargs):
    return prepare_data(DatasetSection(path=str(path), **kwargs))


def test_demo_data_is_alpaca_and_becomes_prompt_completion_with_the_course_headers():
    data = prepare(DEMO_DATA, template="alpaca-zh", eval_split=0.1)
    assert data.format == "alpaca" and data.template == "alpaca-zh"
    assert len(data.train) + len(data.eval) == sum(1 for _ in DEMO_DATA.open())
    row = data.train[0]
    assert row["prompt"].startswith("### 指令:\n") and row["prompt"].endswith("### 响应:\n")


def test_eval_split_is_deterministic():
    first = prepare(DEMO_DATA, eval_split=0.2)
    second = prepare(DEMO_DATA, eval_split=0.2)
    assert first.eval["prompt"] == second.eval["prompt"]


def test_chat_sharegpt_text_and_mapped_columns(tmp_path):
    chat = write_jsonl(tmp_path / "c.jsonl", [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}])
    assert prepare(chat).format == "chat"
    share = write_jsonl(tmp_path / "s.jsonl", [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}])
    data = prepare(share)
    assert data.format == "sharegpt" and data.train[0]["messages"][1] == {"role": "assistant", "content": "yo"}
    text = write_jsonl(tmp_path / "t.jsonl", [{"text": "hello world"}])
    assert prepare(text).format == "text"
    mapped = write_jsonl(tmp_path / "m.jsonl", [{"question": "2+2?", "answer": "4"}])
    data = prepare(mapped, columns={"instruction": "question", "output": "answer"})
    assert data.format == "alpaca" and data.train[0]["completion"] == "4"


def test_csv_and_parquet_files(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"instruction": ["a", "b"], "input": ["", "x"], "output": ["1", "2"]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    assert len(prepare(tmp_path / "d.csv").train) == 2
    assert len(prepare(tmp_path / "d.parquet").train) == 2


def test_broken_json_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n{"text": "ok"}\n{"text": broken}\n')
    with pytest.raises(UserError, match=r"bad.jsonl: broken JSON at line 3"):
        prepare(path)


def test_missing_column_lists_the_columns_found(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"question": "q", "reply": "r"}])
    with pytest.raises(UserError) as info:
        prepare(path)
    assert "question, reply" in str(info.value) and "dataset.columns" in str(info.value)
    with pytest.raises(UserError, match="needs column\\(s\\) instruction, output"):
        prepare(path, format="alpaca")


def test_empty_file_and_empty_values(tmp_path):
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    with pytest.raises(UserError, match="is empty"):
        prepare(empty)
    blank = write_jsonl(tmp_path / "b.jsonl", [{"instruction": "a", "output": "x"}, {"instruction": "b", "output": ""}])
    with pytest.raises(UserError, match="row 2 has an empty or non-text `output`"):
        prepare(blank)


def test_missing_file_and_unsupported_type(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        prepare(tmp_path / "nope.jsonl")
    other = tmp_path / "d.txt"
    other.write_text("x")
    with pytest.raises(UserError, match="unsupported type"):
        prepare(other)


def test_every_row_longer_than_max_length_is_an_error():
    tokenizer = load_tokenizer(ModelSection())
    data = prepare(DEMO_DATA)
    settings = {"assistant_only_loss": False, "completion_only_loss": None, "chat_template": None, "max_length": 4,
                "truncation_mode": "keep_start", "packing": False}
    lengths = learn_rows(data.train, tokenizer, settings, "demo").lengths
    with pytest.raises(UserError, match="every row is longer than training.max_length = 4"):
        check_lengths(length_stats(lengths, 4), "demo")
    stats = length_stats(lengths, 20)
    assert 0 < stats.truncated < stats.count
    assert "will be truncated" in check_lengths(stats, "demo")[0]


def test_cli_bad_data_exits_2_and_leaves_no_run_directory(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "a", "output": "b"}\nnot json\n')
    run_dir = tmp_path / "run"
    preset = write_preset(tmp_path, f"model: {{name_or_path: tiny-demo}}\ndataset: {{path: {bad}}}\n"
                                    f"training: {{output_dir: {run_dir}}}\n")
    result = run_command("train", str(preset), "--headless")
    assert result.returncode == 2, result.stderr
    assert "line 2" in result.stderr and "Traceback" not in result.stderr
    assert not run_dir.exists()
