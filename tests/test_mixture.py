"""Datasets, plural: a preset of several sources with shares, mixed with the datasets library, trained and checked."""

import json

import pytest
from conftest import REPO, run_cli, run_command

from engine.config.parsing import parse_config
from engine.config.run_config import DatasetSection
from engine.data.mix import plans_of
from engine.errors import UserError
from engine.record.events import read_events
from engine.yamlio import load_yaml

DEMO = str(REPO / "presets" / "data" / "demo-alpaca.jsonl")
SUPPORT = str(REPO / "tests" / "data" / "mixture" / "support.jsonl")


def mixture_preset(tmp_path, **dataset):
    """A two-source preset file: half the demo's alpaca rows, the support chats twice."""
    raw = {"name": "mix", "model": {"name_or_path": "tiny-demo"}, "lora": None,
           "dataset": {"sources": [{"path": DEMO, "format": "alpaca", "share": 0.5},
                                   {"path": SUPPORT, "format": "sharegpt", "share": 2.0}], "seed": 7, **dataset},
           "training": {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 128,
                        "output_dir": str(tmp_path / "run"), "report_to": "none"}}
    path = tmp_path / "mix.yaml"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path, raw


def test_a_one_source_preset_stays_as_short_and_a_mixture_reads_back_the_same():
    one, _ = parse_config({"dataset": {"path": "a.jsonl", "format": "alpaca"}})
    assert one.to_dict()["dataset"] == {"path": "a.jsonl", "format": "alpaca", "template": "auto"}
    raw = {"dataset": {"sources": [{"path": "a.jsonl", "share": 0.5}, {"path": "b.jsonl", "format": "chat",
                                                                       "roles_to_train": ["user", "assistant"]}],
                       "seed": 3, "eval_split": 0.1}}
    mixed, _ = parse_config(raw)
    written = mixed.to_dict()["dataset"]
    assert written == {"sources": [{"path": "a.jsonl", "format": "auto", "share": 0.5},
                                   {"path": "b.jsonl", "format": "chat", "roles_to_train": ["user", "assistant"]}],
                       "eval_split": 0.1, "seed": 3}
    assert parse_config({"dataset": written})[0].dataset == mixed.dataset


def test_mixture_settings_that_cannot_be_met_are_named():
    with pytest.raises(UserError) as caught:
        parse_config({"dataset": {"path": "a.jsonl", "sources": [{"path": "b.jsonl", "mixture_share": 0.3, "seed": 1},
                                                                 {"path": "c.jsonl", "share": -1}]}})
    message = str(caught.value)
    assert "dataset.path set beside dataset.sources" in message
    assert "dataset.sources[0].seed: a setting of the whole mixture" in message
    assert "mixture_share is given for some sources and not others" in message
    assert "dataset.sources[1].share = -1 must be above 0" in message
    with pytest.raises(UserError, match="probability is given for some sources and not others"):
        parse_config({"dataset": {"mix": "interleave", "sources": [{"path": "b.jsonl", "probability": 0.7},
                                                                   {"path": "c.jsonl"}]}})


def test_a_data_problem_inside_a_source_names_that_source_s_keys():
    from engine.data.pipeline import prepare_data

    wrong_format, _ = parse_config({"dataset": {"sources": [{"path": DEMO, "format": "alpaca"},
                                                            {"path": SUPPORT, "format": "alpaca", "template": "alpaca"}]}})
    with pytest.raises(UserError) as caught:
        prepare_data(wrong_format.dataset)
    assert str(caught.value) == (f"dataset {SUPPORT}: dataset.sources[1].format is alpaca, but this file is sharegpt data "
                                 "(conversations): set dataset.sources[1].format: sharegpt or auto (and "
                                 "dataset.sources[1].template: auto; alpaca does not format sharegpt data).")
    missing_column, _ = parse_config({"dataset": {"path": DEMO, "eval_sources": [
        {"path": SUPPORT, "columns": {"messages": "dialogue"}}]}})
    with pytest.raises(UserError, match=r"dataset\.eval_sources\[0\]\.columns maps to dialogue"):
        prepare_data(missing_column.dataset)
    one_source, _ = parse_config({"dataset": {"path": SUPPORT, "format": "alpaca"}})
    with pytest.raises(UserError, match=r": dataset\.format is alpaca, .*: set dataset\.format: sharegpt"):
        prepare_data(one_source.dataset)


def test_shares_pick_rows_with_the_datasets_tools_and_the_seed():
    sections = [DatasetSection(path="a", share=0.5), DatasetSection(path="b", share=2.5)]
    dataset = DatasetSection(sources=sections, seed=11)
    plans = plans_of(dataset, [10, 4], [])
    picked = list(zip(plans.train["source"], plans.train["row"]))
    assert sum(1 for source, _ in picked if source == 0) == 5
    copies = [row for source, row in picked if source == 1]
    assert len(copies) == 10 and all(copies.count(row) >= 2 for row in range(4))  # two whole copies, half a third
    again = plans_of(dataset, [10, 4], []).train
    assert list(zip(again["source"], again["row"])) == picked  # the seed decides
    other = plans_of(DatasetSection(sources=sections, seed=12), [10, 4], []).train
    assert list(other["row"]) != list(plans.train["row"])  # another seed, other rows
    tokens = DatasetSection(sources=[DatasetSection(path="a", mixture_share=0.75), DatasetSection(path="b", mixture_share=0.25)])
    by_tokens = plans_of(tokens, [10, 10], [], lengths=[[10] * 10, [30] * 10]).train
    taken = [sum(10 if s == 0 else 30 for s in by_tokens["source"] if s == source) for source in (0, 1)]
    assert taken == [100, 30]  # every short row; long rows up to a quarter of the tokens
    tokens.mixture_share_of = "rows"  # TRL's fraction: shares of the mixture's rows
    by_rows = plans_of(tokens, [10, 10], []).train
    assert [list(by_rows["source"]).count(source) for source in (0, 1)] == [10, 3]
    interleaved = DatasetSection(sources=[DatasetSection(path="a", probability=0.9), DatasetSection(path="b", probability=0.1)],
                                 mix="interleave", stopping_strategy="all_exhausted")
    rows = plans_of(interleaved, [20, 2], []).train
    assert set(rows["source"]) == {0, 1} and sum(rows["source"]) >= 2


@pytest.mark.slow
def test_a_two_source_mixture_trains_and_check_names_each_rows_source(tmp_path):
    path, _ = mixture_preset(tmp_path)
    first = run_command("check", str(path), "--sample", "0")
    assert first.returncode == 0, first.stderr
    assert f"training row 0 from {DEMO}" in first.stdout
    assert f"source {DEMO}: 286 rows read, 143 trained" in first.stdout
    assert f"source {SUPPORT}: 4 rows read, 8 trained" in first.stdout
    chat = run_command("check", str(path), "--sample", "145", "--json")
    sample = json.loads(chat.stdout)["sample"]
    learned = "".join(segment["text"] for segment in sample["segments"] if segment["learned"])
    assert sample["source"] == SUPPORT and any(answer in learned for answer in ("order number", "Settings", "card", "Orders"))
    result = run_cli("train", str(path), "--headless")
    assert result.returncode == 0, result.stderr
    record = load_yaml((tmp_path / "run" / "run.yaml").read_text(encoding="utf-8"))
    assert record["data"]["train_rows"] == 151 and record["data"]["seed"] == 7
    assert [(s["path"], s["rows"], s["train_rows"]) for s in record["data"]["sources"]] == [(DEMO, 286, 143),
                                                                                          (SUPPORT, 4, 8)]
    start = next(e for e in read_events(tmp_path / "run") if e["event"] == "start")
    assert start["num_train_examples"] == 151 and [s["train_rows"] for s in start["sources"]] == [143, 8]
    assert record["config"]["dataset"]["sources"][1]["share"] == 2.0


IMPORTS = REPO / "tests" / "data" / "imports"


def imported_dataset(tmp_path, name: str, extra: str = "") -> tuple[dict, str]:
    """A tool's example config (plus extra keys) imported: the preset's dataset section and what was printed."""
    config = tmp_path / name
    config.write_text((IMPORTS / name).read_text(encoding="utf-8") + extra, encoding="utf-8")
    for registry in ("dataset_info.json", "identity.json", "alpaca_en_demo.json"):
        (tmp_path / registry).write_text((IMPORTS / registry).read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / f"{name}.preset.yaml"
    result = run_command("import", str(config), "--output", str(out))
    assert result.returncode == 0, result.stderr
    return load_yaml(out.read_text(encoding="utf-8"))["dataset"], result.stdout + result.stderr


def test_llama_factory_datasets_arrive_interleaved_with_their_probabilities(tmp_path):
    dataset, printed = imported_dataset(tmp_path, "llama3_lora_sft.yaml", "mix_strategy: interleave_over\n"
                                        "interleave_probs: 0.8,0.2\nseed: 3\neval_dataset: identity\n")
    assert [(s["path"], s["probability"], s["max_rows"]) for s in dataset["sources"]] == [
        (str(tmp_path / "identity.json"), 0.8, 1000), (str(tmp_path / "alpaca_en_demo.json"), 0.2, 1000)]
    assert (dataset["mix"], dataset["stopping_strategy"], dataset["seed"]) == ("interleave", "all_exhausted", 3)
    assert dataset["eval_sources"] == [{"path": str(tmp_path / "identity.json"), "format": "alpaca", "max_rows": 1000}]
    assert "trains on one dataset" not in printed


def test_axolotl_datasets_arrive_with_weight_shards_and_test_datasets(tmp_path):
    dataset, _ = imported_dataset(tmp_path, "axolotl_lora_1b_two_datasets.yml")  # its two entries, as published
    assert [s["path"] for s in dataset["sources"]] == ["mhenrichsen/alpaca_2k_test"] * 2
    assert [s["format"] for s in dataset["sources"]] == ["alpaca"] * 2
    text = (IMPORTS / "axolotl_chat_template.yml").read_text().replace(
        "    train_on_eos: last\n", "    train_on_eos: last\n    weight: 0.5\n").replace(
        "    type: input_output\n", "    type: input_output\n    shards: 4\n")
    (tmp_path / "weighted.yml").write_text(text + "test_datasets:\n  - path: tests/data/imports/axolotl_chats.jsonl\n"
                                           "    type: chat_template\n    split: train\n"
                                           "    field_messages: conversations\n")
    result = run_command("import", str(tmp_path / "weighted.yml"), "--output", str(tmp_path / "w.yaml"))
    weighted = load_yaml((tmp_path / "w.yaml").read_text())["dataset"]
    assert [s.get("share") for s in weighted["sources"]] == [0.5, 0.25] and weighted["seed"] == 7
    assert "as many rows but not the same ones" in result.stderr + result.stdout
    assert weighted["eval_sources"][0]["columns"] == {"messages": "conversations"}
    assert weighted["sources"][0]["train_on_eos"] == "last" and "train_on_eos" not in weighted["eval_sources"][0]


def test_trl_dataset_mixture_arrives_with_its_fractions(tmp_path):
    dataset, _ = imported_dataset(tmp_path, "trl_sft_mixture.yaml")  # trl's documented mixture, as published
    assert [s["path"] for s in dataset["sources"]] == ["stanfordnlp/imdb", "roneneldan/TinyStories"]
    text = (IMPORTS / "trl_sft_mixture.yaml").read_text().replace("imdb\n", "imdb\n    fraction: 0.7\n").replace(
        "TinyStories\n", "TinyStories\n    fraction: 0.3\n    split: validation\n")
    (tmp_path / "fractions.yaml").write_text(text)
    result = run_command("import", str(tmp_path / "fractions.yaml"), "--output", str(tmp_path / "f.yaml"))
    shares = load_yaml((tmp_path / "f.yaml").read_text())["dataset"]
    assert [(s["mixture_share"], s.get("split", "train")) for s in shares["sources"]] == [(0.7, "train"),
                                                                                        (0.3, "validation")]
    assert shares["mixture_share_of"] == "rows" and "keeps the first rows" in result.stderr + result.stdout
