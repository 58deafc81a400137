"""Data in the shapes other tools document (tests/data/shapes/): trained with all it holds, or refused with the reason.

The files follow LLaMA-Factory's data/README.md (alpaca and sharegpt, with system, history, tools, DPO, KTO and
multimodal), OpenAI's fine-tuning formats (chat with tool_calls and content null, text parts, vision, DPO),
TRL's dataset formats (preference, unpaired preference, tool calling, vision) and ShareGPT/FastChat.
Chat rows are rendered with real families' chat templates (tests/chat_templates.py).
"""

import json

import pytest
from chat_templates import WITH_TOOLS, chat_tokenizer
from conftest import REPO, run_cli, run_command, write_preset

from engine.config.run_config import DatasetSection, ModelSection
from engine.data.pipeline import prepare_data
from engine.data.source.convert import tools_of
from engine.errors import UserError
from engine.models.hub import load_tokenizer

SHAPES = REPO / "tests" / "data" / "shapes"


def prepare(name, tokenizer=None, **kwargs):
    """The prepared data of a shape file (or any path), as training takes it."""
    path = name if not isinstance(name, str) else SHAPES / name
    return prepare_data(DatasetSection(path=str(path), **kwargs), tokenizer)


def template_warnings(data):
    """The warnings about the chat template (system turns folded)."""
    return [warning for warning in data.warnings if "chat template" in warning]


def render(tokenizer, row):
    """A prepared chat row as the model sees it: the chat template with the row's tools, as TRL renders it."""
    return tokenizer.apply_chat_template(row["messages"], tools=tools_of(row), tokenize=False)


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    """Small tokenizers with the real chat templates of Qwen2.5, Qwen3, Llama-3.1 and Gemma."""
    folder = tmp_path_factory.mktemp("templates")
    return {family: chat_tokenizer(family, folder) for family in ("qwen2.5", "qwen3", "llama3.1", "gemma")}


@pytest.mark.parametrize("name, reason", [
    ("llamafactory-alpaca-dpo.json", r"preference data \(columns `chosen` and `rejected`.*dataset.columns: \{output: chosen\}"),
    ("llamafactory-sharegpt-dpo.json", r"preference data .*`chosen` answer as the last assistant turn"),
    ("openai-dpo.jsonl", r"preference data \(columns `preferred_output` and `non_preferred_output`.*DPOTrainer"),
    ("trl-preference.jsonl", r"preference data .*\{instruction: prompt, output: chosen\}"),
    ("trl-preference-implicit-conversational.jsonl", r"preference data \(columns `chosen` and `rejected`"),
    ("chosen-messages-preference.jsonl", r"preference data \(columns `chosen_messages` and `rejected_messages`"),
    ("llamafactory-sharegpt-kto.json", r"KTO data: its `kto_tag` column .*KTOTrainer"),
    ("trl-kto.jsonl", r"KTO data: its `label` column marks each answer desirable"),
    ("trl-kto-conversational.jsonl", r"KTO data: its `label` column"),
    ("messages-kto.jsonl", r"KTO data: its `label` column"),
    ("llamafactory-multimodal.json", r"multimodal data: its `images` column holds images"),
    ("llamafactory-audio.json", r"multimodal data: its `audios` column holds audios"),
    ("openai-vision.jsonl", r"row 1 is multimodal: it holds a content part of type 'image_url'"),
    ("trl-vision.jsonl", r"multimodal data: its `images` column"),
])
def test_data_sft_cannot_train_is_refused_with_what_it_is(name, reason):
    with pytest.raises(UserError, match=reason) as info:
        prepare(name)
    assert "sft-wizard does supervised fine-tuning" in str(info.value)


def test_image_placeholders_without_an_images_column_are_refused(tmp_path):
    path = tmp_path / "placeholders.jsonl"
    rows = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
            {"messages": [{"role": "user", "content": "<image>What is in the picture?"}, {"role": "assistant", "content": "A cat."}]}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(UserError, match=r"row 2 is multimodal: it holds a <image> placeholder"):
        prepare(path)


def test_mapping_the_chosen_answers_trains_them_alone():
    data = prepare("llamafactory-alpaca-dpo.json", columns={"output": "chosen"})
    assert [row["completion"] for row in data.train] == ["2 + 2 = 4.", "Hello!"]


def write_image_parquet(path):
    """A Parquet file as datasets writes vision data: content parts pointing at an `images` column of Image type."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Features, Image, List, Value

    part = {"type": Value("string"), "text": Value("string"), "index": Value("int64")}
    features = Features({"messages": List({"role": Value("string"), "content": List(part)}), "images": List(Image())})
    table = pa.table({
        "messages": [[{"role": "user", "content": [{"type": "image", "text": None, "index": 0},
                                                   {"type": "text", "text": "What is this?", "index": None}]},
                      {"role": "assistant", "content": [{"type": "text", "text": "A dot.", "index": None}]}]],
        "images": [[{"bytes": b"\x89PNG\r\n\x1a\n", "path": "dot.png"}]],
    })
    pq.write_table(table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features.to_dict()}})}), path)
    return path


def test_cli_check_refuses_a_parquet_file_of_images_with_exit_2_though_pillow_is_missing(tmp_path):
    parquet = write_image_parquet(tmp_path / "vision.parquet")
    preset = write_preset(tmp_path, f"model: {{name_or_path: tiny-demo}}\ndataset: {{path: {parquet}}}\n")
    result = run_command("check", str(preset))
    assert result.returncode == 2, result.stderr
    assert "is multimodal data: its `images` column holds image data" in result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr


def test_alpaca_history_and_system_become_the_earlier_turns():
    row = prepare("llamafactory-alpaca-history.json").train[0]
    assert row["prompt"] == (
        "You are a geography tutor.\n\n"
        "### Instruction:\nWhat is the capital of France?\n\n### Response:\nThe capital of France is Paris.\n\n"
        "### Instruction:\nAnd of Italy?\n\n### Response:\nThe capital of Italy is Rome.\n\n"
        "### Instruction:\nAnd of Germany?\n\n### Response:\n")
    assert row["completion"] == "The capital of Germany is Berlin."


WEATHER_CALL = {"name": "get_weather", "arguments": {"city": "Paris"}}


@pytest.mark.parametrize("name", ["llamafactory-sharegpt-tools.json", "openai-chat-tools.jsonl"])
def test_tool_calling_rows_keep_tools_calls_results_and_system(name):
    data = prepare(name)
    messages = data.train[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[0]["content"] == "You are a weather assistant."
    assert messages[2]["content"] == "" and messages[2]["tool_calls"][0]["function"] == WEATHER_CALL
    assert json.loads(messages[3]["content"]) == {"temperature": 21, "sky": "sunny"}
    tools = json.loads(data.train[0]["tools"])
    assert tools[0]["type"] == "function" and tools[0]["function"]["name"] == "get_weather"
    assert tools[0]["function"]["parameters"]["required"] == ["city"]
    assert "tool_calls" not in messages[1] and "tool_call_id" not in messages[4]  # no keys from other rows
    if name.startswith("openai"):
        assert messages[2]["tool_calls"][0]["id"] == messages[3]["tool_call_id"] == "call_1"


def test_openai_function_calling_of_old_becomes_tool_calls():
    data = prepare("openai-chat-functions.jsonl")
    assistant, result = data.train[0]["messages"][1:3]
    assert assistant["tool_calls"] == [{"type": "function", "function": {
        "name": "get_current_weather", "arguments": {"location": "San Francisco, USA", "format": "celsius"}}}]
    assert result == {"role": "tool", "name": "get_current_weather", "content": "21.0"}
    assert json.loads(data.train[0]["tools"])[0]["function"]["parameters"]["required"] == ["location", "format"]


@pytest.mark.parametrize("family", sorted(WITH_TOOLS))
def test_templates_with_tools_render_definitions_calls_and_results(templates, family):
    for name in ("llamafactory-sharegpt-tools.json", "openai-chat-tools.jsonl", "trl-tools.jsonl",
                 "openai-chat-functions.jsonl"):
        data = prepare(name, templates[family])
        assert template_warnings(data) == []
        text = render(templates[family], data.train[0])
        definition = json.loads(data.train[0]["tools"])[0]["function"]
        assert definition["name"] in text and definition["description"] in text
        call = next(m for m in data.train[0]["messages"] if m.get("tool_calls"))["tool_calls"][0]["function"]
        assert call["name"] in text and json.dumps(call["arguments"]) in text
        result = next(m["content"] for m in data.train[0]["messages"] if m["role"] == "tool")
        assert result in text or json.dumps(result) in text


def test_a_template_without_tools_is_refused_for_tool_data(templates):
    tiny = load_tokenizer(ModelSection())
    with pytest.raises(UserError, match=r"row 1 holds tool definitions \(`tools`\), but this model's chat template "
                                        r"leaves 'get_weather' out .*renders tools"):
        prepare("openai-chat-tools.jsonl", tiny)
    with pytest.raises(UserError, match=r"row 1: this model's chat template cannot render it: TemplateError: "
                                        r"Conversation roles must alternate.*renders tools"):
        prepare("trl-tools.jsonl", templates["gemma"])


@pytest.mark.parametrize("name", ["sharegpt-fastchat-system.jsonl", "llamafactory-openai-parts.json"])
def test_system_turns_render_or_fold_into_the_first_user_turn_where_the_template_refuses_them(templates, name):
    plain = prepare(name).train[0]["messages"]
    system = plain[0]["content"]
    assert plain[0]["role"] == "system" and system in ("You are Vicuna, a helpful assistant.", "You are terse.")
    for family in ("qwen2.5", "qwen3", "llama3.1"):
        data = prepare(name, templates[family])
        assert template_warnings(data) == [] and system in render(templates[family], data.train[0])
    gemma = prepare(name, templates["gemma"])
    [warning] = template_warnings(gemma)
    assert "does not take a system turn" in warning and "System role not supported" in warning and "1 row(s)" in warning
    first_user = gemma.train[0]["messages"][0]
    assert first_user == {"role": "user", "content": f"{system}\n\n{plain[1]['content']}"}
    assert system in render(templates["gemma"], gemma.train[0])


def test_text_parts_become_the_message_text():
    assert [m["content"] for m in prepare("llamafactory-openai-parts.json").train[0]["messages"]] == [
        "You are terse.", "Name a primary colour.", "Red."]
    rows = prepare("openai-chat-parts.jsonl").train
    assert [[m["content"] for m in row["messages"]] for row in rows] == [
        ["Name a primary colour.", "Red."], ["Name another.", "Blue."]]


def test_trl_prompt_completion_standard_and_conversational(templates):
    assert prepare("trl-prompt-completion.jsonl").train[0] == {"prompt": "The sky is", "completion": " blue."}
    data = prepare("trl-prompt-completion-conversational.jsonl", templates["llama3.1"])
    assert data.template == "chat-template"
    assert data.train[1]["messages"] == [{"role": "system", "content": "Answer in one word."},
                                         {"role": "user", "content": "What color is grass?"},
                                         {"role": "assistant", "content": "Green."}]
    text = render(templates["llama3.1"], data.train[1])
    assert "Answer in one word." in text and text.rstrip().endswith("Green.<|eot_id|>")


def test_braces_in_the_data_reach_the_model_unchanged(templates, tmp_path):
    rows = prepare("braces-text.jsonl").train
    assert rows[0]["completion"] == "Write {{ name }} in the template; {% raw %} stays raw."
    assert "What does {{user}} mean in a mustache file?" in rows[1]["prompt"]
    chat = tmp_path / "braces-chat.jsonl"
    chat.write_text(json.dumps({"messages": [{"role": "user", "content": "Show {{ name }} and {% if x %}"},
                                             {"role": "assistant", "content": "{{ name }} {% if x %}"}]}) + "\n")
    text = render(templates["qwen2.5"], prepare(chat, templates["qwen2.5"]).train[0])
    assert "Show {{ name }} and {% if x %}" in text and "{{ name }} {% if x %}<|im_end|>" in text


def test_usual_column_pairs_are_mapped_with_a_note(tmp_path):
    data = prepare("question-answer.jsonl")
    assert data.format == "alpaca" and data.train[0]["completion"] == "Paris."
    assert "reading column `question` as the instruction and `answer` as the answer" in data.warnings[0]
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"query": "q", "response": "r"}) + "\n")
    assert prepare(path).train[0]["completion"] == "r"
    path.write_text(json.dumps({"title": "q", "body": "r"}) + "\n")
    with pytest.raises(UserError, match=r"question/answer, prompt/response, query/response, input/output.*dataset.columns"):
        prepare(path)


def test_columns_training_does_not_read_are_named_in_a_warning(tmp_path):
    assert prepare("openai-chat-tools.jsonl").warnings == [
        f"dataset {SHAPES / 'openai-chat-tools.jsonl'}: column(s) parallel_tool_calls are not used in training "
        "(chat rows are read from messages, tools)."]
    assert "column(s) id are not used" in prepare("sharegpt-fastchat-system.jsonl").warnings[0]
    assert prepare("llamafactory-alpaca-history.json").warnings == []  # system and history are read
    path = tmp_path / "labelled.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
                                "label": "greeting"}) + "\n")
    assert "column(s) label are not used in training" in prepare(path).warnings[0]


def test_bad_tool_data_names_the_row(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([{"conversations": [{"from": "human", "value": "hi"},
                                                   {"from": "function_call", "value": "get_weather(Paris)"}]}]))
    with pytest.raises(UserError, match=r"row 1 has a function_call turn whose value is not JSON"):
        prepare(path)
    path.write_text(json.dumps([{"messages": [{"role": "user", "content": "hi"}], "tools": "[{broken"}]))
    with pytest.raises(UserError, match=r"row 1 has a `tools` value that is not valid JSON"):
        prepare(path)


def test_a_column_only_later_rows_have_is_kept(tmp_path):
    path = tmp_path / "late.jsonl"
    rows = [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "c"}]}, {"role": "assistant", "content": "d"}],
             "tools": [{"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {}}}]}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    data = prepare(path)
    assert data.train[0].get("tools") is None
    assert json.loads(data.train[1]["tools"])[0]["function"]["name"] == "get_weather"


def test_a_tokenizer_without_tokenizer_json_is_refused(tmp_path):
    from engine.models.tiny_demo import ensure_tiny_demo

    folder = tmp_path / "model"
    folder.mkdir()
    for name in ("config.json", "tokenizer_config.json"):
        (folder / name).write_bytes((ensure_tiny_demo() / name).read_bytes())
    config = json.loads((folder / "tokenizer_config.json").read_text())
    for tokenizer_class in ("TokenizersBackend", "Qwen2Tokenizer"):  # fails to build / builds with a few tokens
        (folder / "tokenizer_config.json").write_text(json.dumps({**config, "tokenizer_class": tokenizer_class}))
        with pytest.raises(UserError, match=rf"the tokenizer is incomplete: tokenizer.json is missing from {folder}"):
            load_tokenizer(ModelSection(name_or_path=str(folder)))


def test_long_rows_do_not_print_the_token_indices_warning(capfd):
    tokenizer = load_tokenizer(ModelSection())
    tokenizer("word " * (tokenizer.model_max_length + 10))
    assert "Token indices sequence length" not in capfd.readouterr().err


@pytest.mark.slow
def test_alpaca_history_trains_with_tiny_demo(tmp_path):
    run_dir = tmp_path / "run"
    preset = write_preset(tmp_path, f"model: {{name_or_path: tiny-demo}}\n"
                                    f"dataset: {{path: {SHAPES / 'llamafactory-alpaca-history.json'}, eval_split: 0}}\n"
                                    f"training: {{max_steps: 2, output_dir: {run_dir}}}\n")
    result = run_cli("train", str(preset), "--headless")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (run_dir / "final").is_dir()


def test_tool_calling_trains_with_a_qwen_template_and_trl_sees_the_tools(tmp_path, templates):
    """TRL's SFTTrainer renders the `tools` column into the training text, and a step trains on it."""
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from engine.models.tiny_demo import ensure_tiny_demo

    tokenizer = templates["qwen2.5"]
    data = prepare("llamafactory-sharegpt-tools.json", tokenizer)
    model = AutoModelForCausalLM.from_pretrained(ensure_tiny_demo())  # vocabulary 928 > the tokenizer's 400 + specials
    args = SFTConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, report_to=[], use_cpu=True,
                     logging_steps=1, save_strategy="no")
    trainer = SFTTrainer(model=model, args=args, train_dataset=data.train, processing_class=tokenizer)
    trained_text = tokenizer.decode(trainer.train_dataset[0]["input_ids"])
    assert "Get the current weather in a city" in trained_text and '"city": "Paris"' in trained_text
    assert "You are a weather assistant." in trained_text and "<tool_response>" in trained_text
    assert trainer.train().training_loss > 0
