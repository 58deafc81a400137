"""What the model learns: the labels the trainer's collator gets, per chat template family, and the sample shown."""

import json

import pytest
from chat_templates import FAMILIES, NO_SYSTEM_ROLE, chat_tokenizer, family_template
from conftest import DEMO_DATA, run_command, write_preset

from engine.cli.main import main
from engine.config.presets import load_preset
from engine.config.run_config import ModelSection
from engine.data.label.rows import IGNORED
from engine.data.pipeline import prepare_for_training
from engine.data.preview import collator_view, row_sample
from engine.errors import UserError
from engine.models.hub import load_tokenizer
from engine.models.tiny_demo import ensure_tiny_demo

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
TURNS = [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "2 + 2 = 4."},
         {"role": "user", "content": "Thanks!"}, {"role": "assistant", "content": "You are welcome."}]
LEARNED = {
    # family: the text each assistant turn of TURNS learns, as the family's (training) template renders it
    "tiny-demo": ["2 + 2 = 4.</s>", "You are welcome.</s>"],
    "qwen2.5": ["\n2 + 2 = 4.<|im_end|>\n", "\nYou are welcome.<|im_end|>\n"],
    "qwen3": ["<think>\n\n</think>\n\n2 + 2 = 4.<|im_end|>\n", "<think>\n\n</think>\n\nYou are welcome.<|im_end|>\n"],
    "llama3": ["2 + 2 = 4.<|eot_id|>", "You are welcome.<|eot_id|>"],
    "llama3.1": ["2 + 2 = 4.<|eot_id|>", "You are welcome.<|eot_id|>"],
    "gemma": ["2 + 2 = 4.<end_of_turn>\n", "You are welcome.<end_of_turn>\n"],
    "phi3": ["2 + 2 = 4.<|end|>\n", "You are welcome.<|end|>\n<|endoftext|>"],
}

NOTED = {  # family: what `check` says about how its assistant turns are learned
    "tiny-demo": "the chat template's own {% generation %} markers",
    "qwen3": "adds an empty <think></think> block",
    "llama3": "TRL's training template",
    "llama3.1": "rendering each conversation turn by turn",
    "phi3": "EOS '<|endoftext|>' after the last turn; learned in 1 of 1",
}


def write_rows(path, rows):
    """Write rows as a JSONL data file."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def config_for(tmp_path, model, data, training="{}"):
    """A run config for this model folder (or tiny-demo) and data file."""
    text = f"name: t\nmodel: {{name_or_path: {model}}}\ndataset: {{path: {data}}}\ntraining: {training}\n"
    return load_preset(str(write_preset(tmp_path, text)))[0]


def family_model(family, tmp_path):
    """(tokenizer, model folder) of a family: a tokenizer with its real template beside tiny-demo's config."""
    if family == "tiny-demo":
        return load_tokenizer(ModelSection()), "tiny-demo"
    tokenizer = chat_tokenizer(family, tmp_path)
    (tmp_path / family / "config.json").write_text((ensure_tiny_demo() / "config.json").read_text())
    return tokenizer, tmp_path / family


@pytest.mark.parametrize("family", ["tiny-demo", *FAMILIES])
def test_collator_labels_are_the_assistant_turns_and_the_sample_shows_them(family, tmp_path):
    tokenizer, model = family_model(family, tmp_path)
    messages = TURNS if family in NO_SYSTEM_ROLE else [SYSTEM, *TURNS]
    data = write_rows(tmp_path / "chat.jsonl", [{"messages": messages}])
    config = config_for(tmp_path, model, data)
    prepared = prepare_for_training(config, tokenizer)
    ids, labels = collator_view(prepared.trained[0], tokenizer, config)
    assert ids == prepared.trained[0]["input_ids"] and labels == prepared.trained[0]["labels"]
    assert all(label in (IGNORED, token) for token, label in zip(ids, labels))
    runs, start = [], None  # runs of learned tokens, decoded
    for index, label in enumerate([*labels, IGNORED]):
        if label != IGNORED and start is None:
            start = index
        elif label == IGNORED and start is not None:
            runs.append(tokenizer.decode(ids[start:index]))
            start = None
    assert runs == LEARNED[family]
    sample = row_sample(prepared, 0, tokenizer, config)
    assert "".join(s.text for s in sample.segments) == tokenizer.decode(ids)
    assert [s.text for s in sample.segments if s.learned] == runs
    assert "".join(s.text for s in sample.segments if s.learned) == tokenizer.decode([t for t in labels if t != IGNORED])
    assert sample.learned_tokens == sum(1 for t in labels if t != IGNORED)
    assert not [w for w in prepared.warnings if "end-of-turn" in w or "learned whole" in w]
    assert NOTED.get(family, "learned: the assistant turns") in " ".join(prepared.notes)


def test_a_template_without_markers_that_cannot_be_split_by_turns_is_refused(tmp_path):
    tokenizer = chat_tokenizer("qwen3", tmp_path)
    tokenizer.chat_template = family_template("qwen3") + "\n"  # a local edit: neither TRL's nor marked
    tokenizer.save_pretrained(tmp_path / "qwen3")
    (tmp_path / "qwen3" / "config.json").write_text((ensure_tiny_demo() / "config.json").read_text())
    data = write_rows(tmp_path / "chat.jsonl", [{"messages": TURNS}])
    with pytest.raises(UserError, match="assistant_only_loss: false"):
        prepare_for_training(config_for(tmp_path, tmp_path / "qwen3", data), tokenizer)
    whole = prepare_for_training(config_for(tmp_path, tmp_path / "qwen3", data, "{assistant_only_loss: false}"),
                                 tokenizer)
    assert IGNORED not in whole.trained[0]["labels"]
    assert any("1 of 1 conversations are learned whole" in w for w in whole.warnings)


def test_prompt_completion_learns_the_completion_unless_told_and_packing_keeps_the_mask(tmp_path):
    tokenizer = load_tokenizer(ModelSection())
    default = prepare_for_training(config_for(tmp_path, "tiny-demo", DEMO_DATA), tokenizer)
    row = default.train[0]
    with pytest.raises(UserError, match=f"training rows 0 to {len(default.train) - 1}"):
        row_sample(default, len(default.train), tokenizer, config_for(tmp_path, "tiny-demo", DEMO_DATA))
    sample = row_sample(default, 0, tokenizer, config_for(tmp_path, "tiny-demo", DEMO_DATA))
    assert [s.text for s in sample.segments] == [row["prompt"], row["completion"] + "</s>"]
    assert [s.learned for s in sample.segments] == [False, True]
    whole_config = config_for(tmp_path, "tiny-demo", DEMO_DATA, "{completion_only_loss: false}")
    whole = prepare_for_training(whole_config, tokenizer)
    assert [s.learned for s in row_sample(whole, 0, tokenizer, whole_config).segments] == [True]
    packed_config = config_for(tmp_path, "tiny-demo", DEMO_DATA, "{packing: true, max_length: 256}")
    packed = prepare_for_training(packed_config, tokenizer)
    assert [(s.text, s.learned) for s in row_sample(packed, 0, tokenizer, packed_config).segments] == \
        [(s.text, s.learned) for s in sample.segments]
    text_data = write_rows(tmp_path / "text.jsonl", [{"text": "Guten Morgen."}, {"text": "Gute Nacht."}])
    text_config = config_for(tmp_path, "tiny-demo", text_data, "{packing: true, max_length: 256}")
    segments = row_sample(prepare_for_training(text_config, tokenizer), 0, tokenizer, text_config).segments
    assert [s.learned for s in segments] == [False, True] and segments[0].tokens == 1  # padding-free: a row's first token


def test_assistant_only_loss_on_rows_that_are_not_conversations_is_refused(tmp_path):
    config = config_for(tmp_path, "tiny-demo", DEMO_DATA, "{assistant_only_loss: true}")
    with pytest.raises(UserError, match="applies to chat data"):
        prepare_for_training(config, load_tokenizer(config.model))


def test_chat_training_computes_the_loss_on_the_assistant_tokens_only(tmp_path):
    from engine.machine.precision import PrecisionDecision
    from engine.models.loading import load_model
    from engine.run.trainer import build_trainer

    rows = [{"messages": [SYSTEM, *TURNS]}, {"messages": TURNS[:2]}]
    config = config_for(tmp_path, "tiny-demo", write_rows(tmp_path / "chat.jsonl", rows),
                        "{max_steps: 2, per_device_train_batch_size: 2, logging_steps: 1}")
    tokenizer = load_tokenizer(config.model)
    data = prepare_for_training(config, tokenizer)
    precision = PrecisionDecision("float32", "no", False, "test")
    trainer = build_trainer(config, precision, load_model(config.model, precision, None), tokenizer, data.trained,
                            None, str(tmp_path / "run"), on_gpu=False, callbacks=[])
    batch = next(iter(trainer.get_train_dataloader()))
    answers = [m["content"] for row in rows for m in row["messages"] if m["role"] == "assistant"]
    expected = sum(len(tokenizer(answer + "</s>", add_special_tokens=False)["input_ids"]) for answer in answers)
    assert int((batch["labels"] != IGNORED).sum()) == expected
    learned = tokenizer.decode(batch["labels"][batch["labels"] != IGNORED].tolist())
    assert all(answer in learned for answer in answers) and "Thanks!" not in learned and "helpful" not in learned
    result = trainer.train()
    assert result.global_step == 2 and result.training_loss > 0


def test_check_sample_prints_the_marked_row_and_json_segments(tmp_path, capsys):
    data = write_rows(tmp_path / "chat.jsonl", [{"messages": [SYSTEM, *TURNS]}, {"messages": TURNS[:2]}])
    preset = write_preset(tmp_path, f"name: t\nmodel: {{name_or_path: tiny-demo}}\ndataset: {{path: {data}}}\n")
    assert main(["check", str(preset), "--sample", "1"]) == 0
    plain = capsys.readouterr().out
    assert "<|user|>\nWhat is 2 + 2?\n<|assistant|>\n⟦2 + 2 = 4.</s>⟧" in plain
    assert "# learned: the assistant turns" in plain and f"# sample: training row 1 from {data}, " in plain
    as_json = run_command("check", str(preset), "--sample", "0", "--json")
    assert as_json.returncode == 0, as_json.stderr
    sample = json.loads(as_json.stdout)["sample"]
    assert sample["index"] == 0
    assert [s["text"] for s in sample["segments"] if s["learned"]] == LEARNED["tiny-demo"]
    assert "".join(s["text"] for s in sample["segments"]).startswith("<|system|>\nYou are a helpful assistant.\n")
    assert main(["check", str(preset), "--json"]) == 2 and "--sample N" in capsys.readouterr().err
