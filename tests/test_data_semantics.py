"""Data semantics other tools define (tests/data/shapes/): the text `check --sample N` shows learned is what the tool trains.

The files follow each tool's documentation: OpenAI's fine-tuning chat data with `weight` on assistant turns,
Axolotl's chat_template data with `train` and `train_detail` on turns and its input_output `segments`,
Databricks Dolly 15k rows (instruction, context, response, category), OpenAssistant's flat message export
(oasst1 columns, two trees with branches, ranks and a deleted reply), and a gzip-compressed JSONL file.
Each is checked on tiny-demo (its template's own {% generation %} markers), Qwen2.5 (TRL's training template)
and Llama 3.1 (no markers: turns found by rendering turn by turn), real templates from tests/chat_templates.py.
"""

import gzip
import json

import pytest
from chat_templates import chat_tokenizer
from conftest import REPO, write_preset

from engine.cli.main import main
from engine.config.run_config import DatasetSection
from engine.data.pipeline import prepare_data
from engine.errors import UserError
from engine.models.tiny_demo import ensure_tiny_demo

SHAPES = REPO / "tests" / "data" / "shapes"
FAMILIES = ("tiny-demo", "qwen2.5", "llama3.1")
END = {"tiny-demo": ("", "</s>"), "qwen2.5": ("\n", "<|im_end|>\n"), "llama3.1": ("", "<|eot_id|>")}
"""family: (what its training template learns before an assistant turn's text, and after it)."""


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """family -> model folder: tiny-demo, or a tokenizer with the family's real template beside tiny-demo's config."""
    folder = tmp_path_factory.mktemp("families")
    found = {"tiny-demo": "tiny-demo"}
    for family in FAMILIES[1:]:
        chat_tokenizer(family, folder)
        (folder / family / "config.json").write_text((ensure_tiny_demo() / "config.json").read_text())
        found[family] = str(folder / family)
    return found


def check_sample(tmp_path, capsys, model, data, index=0, dataset="", training="{}"):
    """`check PRESET --sample INDEX --json` on the data file: (exit code, its JSON or its error text, what it said).

    What it said: its warnings, and the facts the plain `check` prints (the data format, what is learned).
    """
    preset = write_preset(tmp_path, f"name: t\nmodel: {{name_or_path: {model}}}\n"
                                    f"dataset: {{path: {data}{dataset}}}\ntraining: {training}\n")
    code = main(["check", str(preset), "--sample", str(index), "--json"])
    out, err = capsys.readouterr()
    if code != 0:
        return code, err, err
    main(["check", str(preset)])
    plain, plain_err = capsys.readouterr()
    return code, json.loads(out), err + plain + plain_err


def learned(report):
    """The learned runs of text of the sample in a `check --json` report."""
    return [segment["text"] for segment in report["sample"]["segments"] if segment["learned"]]


def whole(report):
    """The sample's whole text."""
    return "".join(segment["text"] for segment in report["sample"]["segments"])


@pytest.mark.parametrize("family", FAMILIES)
def test_openai_weight_0_turns_are_not_learned(family, models, tmp_path, capsys):
    before, after = END[family]
    for data in (SHAPES / "openai-chat-weight.jsonl", SHAPES / "openai-chat-weight.jsonl.gz"):
        code, report, said = check_sample(tmp_path, capsys, models[family], data)
        assert code == 0, report
        assert learned(report) == [f"{before}Paris, as if everyone doesn't know that already.{after}"]
        assert "2 assistant turns are not learned (weight 0" in said
    code, report, said = check_sample(tmp_path, capsys, models[family], SHAPES / "openai-chat-weight.jsonl", 2)
    assert learned(report) == [f"{before}384,400 kilometers{after}",
                               f"{before}Around 384,400 kilometers. Give or take a few, like that really matters.{after}"]


@pytest.mark.parametrize("family", FAMILIES)
def test_axolotl_train_and_train_detail_learn_exactly_the_marked_text(family, models, tmp_path, capsys):
    before, after = END[family]
    code, report, said = check_sample(tmp_path, capsys, models[family], SHAPES / "axolotl-chat-train.jsonl")
    assert code == 0, report
    user_end = {"tiny-demo": "", "qwen2.5": "<|im_end|>\n", "llama3.1": "<|eot_id|>"}[family]
    # the user turn with train: true learns its text (and the end-of-turn tokens assistant turns learn), the
    # train_detail turn only characters 9..18 (" very well") and its end-of-turn token; train: false nothing
    assert learned(report) == [f"{before}Hello{after}", f"How are you?{user_end}", " very well", after]
    assert "1 learn only their train_detail spans" in said
    assert "1 non-assistant turns are learned (train true)" in said
    code, report, said = check_sample(tmp_path, capsys, models[family], SHAPES / "axolotl-chat-train.jsonl", 1)
    assert learned(report) == [f"{before}You are welcome.{after}"]


@pytest.mark.parametrize("family", FAMILIES)
def test_axolotl_input_output_learns_the_labelled_segments(family, models, tmp_path, capsys):
    code, report, said = check_sample(tmp_path, capsys, models[family], SHAPES / "axolotl-input-output.jsonl")
    assert code == 0, report
    assert "# data: input-output format" in said
    assert learned(report) == ["<s>Hello\nhi there!. ", "farewell</s>"]
    assert whole(report) == "<s>Hello\nhi there!. goodbye farewell</s>"
    code, report, said = check_sample(tmp_path, capsys, models[family], SHAPES / "axolotl-input-output.jsonl", 1)
    assert learned(report) == ["A: 4</s>"]


@pytest.mark.parametrize("family", FAMILIES)
def test_oasst_message_tables_train_the_top_ranked_path_of_each_tree(family, models, tmp_path, capsys):
    before, after = END[family]
    code, report, said = check_sample(tmp_path, capsys, models[family], SHAPES / "oasst-flat.jsonl")
    assert code == 0, report
    assert learned(report) == [f"{before}The capital of France is Paris.{after}", f"{before}About two million.{after}"]
    text = whole(report)
    assert "Lyon" not in text and "Are you sure?" not in text and "Thanks! How many people live there?" in text
    assert "rebuilt 2 conversations from 2 trees" in said and "3 messages" in said
    code, report, said = check_sample(tmp_path, capsys, models[family], SHAPES / "oasst-flat.jsonl", 1)
    assert learned(report) == [f"{before}A spider has eight legs.{after}"]  # the deleted "Six." is left out


@pytest.mark.parametrize("family", ["tiny-demo", "qwen2.5"])
def test_dolly_context_is_written_into_the_prompt(family, models, tmp_path, capsys):
    code, report, said = check_sample(tmp_path, capsys, models[family], SHAPES / "dolly.jsonl")
    assert code == 0, report
    text = whole(report)
    assert "### Input:\nVirgin Australia, the trading name of Virgin Australia Airlines Pty Ltd" in text
    assert learned(report) == ["Virgin Australia commenced services on 31 August 2000 as Virgin Blue, with two "
                               f"aircraft on a single route.{'</s>' if family == 'tiny-demo' else '<|im_end|>'}"]
    assert "`context` as the input written into the prompt" in said


def test_dolly_under_an_alpaca_preset_names_the_mapping_and_never_drops_the_context(tmp_path, capsys):
    code, error, _ = check_sample(tmp_path, capsys, "tiny-demo", SHAPES / "dolly.jsonl", dataset=", format: alpaca")
    assert code == 2 and "Map them with dataset.columns: {output: response, input: context}" in error
    code, error, _ = check_sample(tmp_path, capsys, "tiny-demo", SHAPES / "dolly.jsonl",
                               dataset=", format: alpaca, columns: {output: response}")
    assert code == 2 and "column `context` holds part of the prompt" in error and "{input: context}" in error
    code, report, said = check_sample(tmp_path, capsys, "tiny-demo", SHAPES / "dolly.jsonl",
                                dataset=", format: alpaca, columns: {output: response, input: context}")
    assert code == 0 and "### Input:\nVirgin Australia" in whole(report)


def test_an_unread_column_that_holds_part_of_the_prompt_stops_check(tmp_path):
    path = tmp_path / "chat-with-context.jsonl"
    rows = [{"messages": [{"role": "user", "content": "When did it start?"}, {"role": "assistant", "content": "2000."}],
             "passage": "Virgin Blue started in 2000."}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(UserError, match=r"column `passage` holds part of the prompt, and chat rows do not read it.*"
                                        r"Write its text into the conversations"):
        prepare_data(DatasetSection(path=str(path)))


@pytest.mark.parametrize("name, looks", [
    ("openai-chat-weight.jsonl", r"this file is chat data \(messages\): set dataset.format: chat or auto "
                                 r"\(and dataset.template: auto"),
    ("trl-prompt-completion.jsonl", r"this file is prompt-completion data \(prompt, completion\)"),
    ("axolotl-input-output.jsonl", r"this file is input-output data \(segments\)"),
    ("oasst-flat.jsonl", r"is a message table .* not alpaca data.*set dataset.format: chat or auto "
                         r"\(and dataset.template: auto"),
])
def test_a_preset_fixing_alpaca_names_the_format_the_file_has(name, looks):
    with pytest.raises(UserError, match=looks) as info:
        prepare_data(DatasetSection(path=str(SHAPES / name), format="alpaca", template="alpaca"))
    assert "{instruction:" not in str(info.value) and "{output:" not in str(info.value)


def test_a_column_mapping_is_suggested_only_when_the_columns_fit():
    with pytest.raises(UserError, match=r"Map them with dataset.columns: \{instruction: question, output: answer\}"):
        prepare_data(DatasetSection(path=str(SHAPES / "question-answer.jsonl"), format="alpaca"))
    with pytest.raises(UserError, match=r"needs column\(s\) messages.*Map them with dataset.columns \(ours: "):
        prepare_data(DatasetSection(path=str(SHAPES / "question-answer.jsonl"), format="chat"))


@pytest.mark.parametrize("turn, problem", [
    ({"role": "assistant", "content": "Paris", "weight": 0.5}, r"weight 0.5; weight is 0 .* or 1"),
    ({"role": "assistant", "content": "Paris", "weight": True}, r"weight True"),
    ({"role": "assistant", "content": "Paris", "train": "yes"}, r"train is 'yes'; it is true or false"),
    ({"role": "assistant", "content": "Paris", "train_detail": [{"begin_offset": 0, "end_offset": 5, "train": True}]},
     r"train_detail span 0..5 outside its content of 5 characters"),
    ({"role": "assistant", "content": "Paris", "train_detail": [{"begin": 0, "end": 2}]}, r"each is \{begin_offset"),
])
def test_bad_turn_marks_are_refused_with_the_row(turn, problem, tmp_path):
    path = tmp_path / "marks.jsonl"
    rows = [{"messages": [{"role": "user", "content": "Capital?"}, {"role": "assistant", "content": "Paris"}]},
            {"messages": [{"role": "user", "content": "Capital of France?"}, turn]}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(UserError, match=rf"row 2 has a .*{problem}"):
        prepare_data(DatasetSection(path=str(path)))


def test_a_weight_on_a_user_turn_is_refused(tmp_path):
    path = tmp_path / "user-weight.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi", "weight": 1},
                                             {"role": "assistant", "content": "Hello"}]}) + "\n")
    with pytest.raises(UserError, match=r"row 1 has a user turn with a weight; OpenAI's weight marks assistant turns"):
        prepare_data(DatasetSection(path=str(path)))


def test_turn_marks_with_every_token_learned_are_refused(tmp_path, capsys):
    code, error, _ = check_sample(tmp_path, capsys, "tiny-demo", SHAPES / "openai-chat-weight.jsonl",
                               training="{assistant_only_loss: false}")
    assert code == 2 and "2 conversations mark which turns are learned" in error


def test_gzip_json_files_are_read_and_broken_gzip_is_refused(tmp_path):
    plain = prepare_data(DatasetSection(path=str(SHAPES / "openai-chat-weight.jsonl")))
    packed = prepare_data(DatasetSection(path=str(SHAPES / "openai-chat-weight.jsonl.gz")))
    assert packed.format == "chat" and list(packed.train) == list(plain.train)
    array = tmp_path / "rows.json.gz"
    array.write_bytes(gzip.compress(json.dumps({"rows": [{"text": "Guten Morgen."}]}).encode()))
    assert [row["text"] for row in prepare_data(DatasetSection(path=str(array))).train] == ["Guten Morgen."]
    table = tmp_path / "qa.csv.gz"
    table.write_bytes(gzip.compress(b"question,answer\nCapital of France?,Paris\n"))
    assert [row["completion"] for row in prepare_data(DatasetSection(path=str(table))).train] == ["Paris"]
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match=r"broken.jsonl.gz: cannot be decompressed as gzip"):
        prepare_data(DatasetSection(path=str(broken)))


def test_the_wizard_preview_marks_the_learned_spans_of_marked_turns(tmp_path):
    from engine.config.presets import load_preset
    from engine.data.preview import dataset_preview

    preset = write_preset(tmp_path, "name: t\nmodel: {name_or_path: tiny-demo}\n"
                                    f"dataset: {{path: {SHAPES / 'axolotl-chat-train.jsonl'}}}\n")
    preview = dataset_preview(load_preset(str(preset))[0])
    assert preview.problem is None
    assert [s.text for s in preview.sample.segments if s.learned] == ["Hello</s>", "How are you?", " very well", "</s>"]
    assert any("learn only their train_detail spans" in note for note in preview.notes)


def test_sharegpt_turns_carry_their_marks_too(tmp_path):
    from engine.config.presets import load_preset
    from engine.data.pipeline import prepare_for_training
    from engine.data.preview import row_sample
    from engine.models.hub import load_tokenizer

    path = tmp_path / "sharegpt-marks.jsonl"
    turns = [{"from": "human", "value": "What is 2 + 2?"}, {"from": "gpt", "value": "5.", "train": False},
             {"from": "human", "value": "Sure?"}, {"from": "gpt", "value": "2 + 2 = 4."}]
    path.write_text(json.dumps({"conversations": turns}) + "\n")
    config = load_preset(str(write_preset(tmp_path, f"name: t\nmodel: {{name_or_path: tiny-demo}}\n"
                                                    f"dataset: {{path: {path}}}\n")))[0]
    tokenizer = load_tokenizer(config.model)
    data = prepare_for_training(config, tokenizer)
    assert [s.text for s in row_sample(data, 0, tokenizer, config).segments if s.learned] == ["2 + 2 = 4.</s>"]


def test_marks_on_a_turn_the_template_rewrites_are_refused(tmp_path):
    from engine.config.presets import load_preset
    from engine.data.pipeline import prepare_for_training
    from engine.models.hub import load_tokenizer

    config = load_preset(str(write_preset(tmp_path, "name: t\nmodel: {name_or_path: tiny-demo}\n"
                                                    f"dataset: {{path: {SHAPES / 'axolotl-chat-train.jsonl'}}}\n")))[0]
    tokenizer = load_tokenizer(config.model)
    tokenizer.chat_template = tokenizer.chat_template.replace("{{ message['content'] }}</s>",
                                                              "{{ message['content'] | upper }}</s>")
    with pytest.raises(UserError, match=r"marks which of its turns are learned .* turn 5 \(assistant\): its text "
                                        r"does not appear as written"):
        prepare_for_training(config, tokenizer)


def test_train_detail_on_a_user_turn_keeps_its_spans_when_gemma_folds_the_system_text_into_it(tmp_path):
    from chat_templates import chat_tokenizer as family_tokenizer

    from engine.data.label.rows import IGNORED, label_settings, row_labels
    from engine.data.label.turn_masks import mask_runs

    tokenizer = family_tokenizer("gemma", tmp_path)
    path = tmp_path / "gemma-marks.jsonl"
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Say hi to Paris.",
                 "train_detail": [{"begin_offset": 4, "end_offset": 5, "train": True}]},
                {"role": "assistant", "content": "Hi Paris."}]
    path.write_text(json.dumps({"messages": messages}) + "\n")
    row = prepare_data(DatasetSection(path=str(path)), tokenizer).train[0]
    assert row["messages"][0]["content"] == "Be brief.\n\nSay hi to Paris."
    labelled = row_labels(row, tokenizer, label_settings({}, True, tokenizer))
    mask = [int(label != IGNORED) for label in labelled["labels"]]
    assert [tokenizer.decode(labelled["input_ids"][start:end]) for start, end in mask_runs(mask)] == \
        ["hi", "<end_of_turn>\n", "Hi Paris.<end_of_turn>\n"]


def test_a_message_table_whose_ids_loop_ends_instead_of_hanging():
    from engine.data.source.normalise import top_ranked_conversations

    rows = [{"message_id": "a", "parent_id": None, "role": "prompter", "text": "hi"},
            {"message_id": "b", "parent_id": "a", "role": "assistant", "text": "hello"},
            {"message_id": "a", "parent_id": "b", "role": "prompter", "text": "again"}]  # repeats an ancestor's id
    conversations, trees, _ = top_ranked_conversations(rows)
    assert trees == 1 and conversations == [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]]
