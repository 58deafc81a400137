"""Importing other tools' training configs: LLaMA-Factory, Axolotl and `trl sft --config` YAML, read without running."""

import json

import pytest
from conftest import REPO, run_command

from engine.errors import UserError
from engine.importing.detect import import_file, preset_from_file
from engine.yamlio import load_yaml

IMPORTS = REPO / "tests" / "data" / "imports"
ON_CPU = ("--set", "model.name_or_path=tiny-demo")
"""The tests check on CPU with the local tiny model; each asserts the file's own model id was read first."""


def imported(tmp_path, name: str) -> tuple[dict, str]:
    """Import a fixture through the command line: the preset written and what the command printed."""
    out = tmp_path / f"{name}.preset.yaml"
    result = run_command("import", str(IMPORTS / name), "--output", str(out))
    assert result.returncode == 0, result.stderr
    return load_yaml(out.read_text()), result.stdout


def assert_every_key_accounted_for(name: str, printed: str) -> None:
    """Each key the config sets is named in what the import printed, read or not read."""
    source = load_yaml((IMPORTS / name).read_text())
    missing = [key for key in source if key not in printed]
    assert missing == [], missing


def check(path, *overrides: str, sample: int | None = None):
    args = ["check", str(path), *ON_CPU]
    for override in overrides:
        args += ["--set", override]
    if sample is not None:
        args += ["--sample", str(sample), "--json"]
    return run_command(*args)


def test_llama_factory_lora_example_with_its_dataset_info(tmp_path):
    preset, printed = imported(tmp_path, "llama3_lora_sft.yaml")
    assert preset["model"]["name_or_path"] == "meta-llama/Meta-Llama-3-8B-Instruct"
    assert preset["model"]["trust_remote_code"] is True
    assert preset["lora"] == {"r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "target_modules": "all-linear"}
    assert preset["quantization"] is None
    identity, demo = preset["dataset"]["sources"]  # dataset: identity,alpaca_en_demo, both from dataset_info.json
    assert identity == {"path": str(IMPORTS / "identity.json"), "format": "alpaca", "max_rows": 1000}
    assert demo == {"path": str(IMPORTS / "alpaca_en_demo.json"), "format": "alpaca", "max_rows": 1000}
    training = preset["training"]
    assert (training["max_length"], training["per_device_train_batch_size"], training["gradient_accumulation_steps"],
            training["learning_rate"], training["num_train_epochs"], training["lr_scheduler_type"],
            training["warmup_steps"], training["bf16"], training["output_dir"], training["dataset_num_proc"]) == (
        2048, 1, 8, 1e-4, 3.0, "cosine", 0.1, True, "saves/llama3-8b/lora/sft", 16)
    assert "mix_strategy" not in printed or "concatenated" in printed
    assert "template = 'llama3'" in printed and "plot_loss = True" in printed
    assert_every_key_accounted_for("llama3_lora_sft.yaml", printed)
    path = tmp_path / "llama3_lora_sft.yaml.preset.yaml"
    checked = check(path, "training.bf16=false")  # no bf16 on this CPU
    assert checked.returncode == 0, checked.stderr


def test_llama_factory_qlora_with_sharegpt_tags_and_a_bundled_dataset_name(tmp_path):
    preset, printed = imported(tmp_path, "llama3_lora_sft_otfq.yaml")
    assert preset["quantization"] == {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                                      "bnb_4bit_use_double_quant": True, "bnb_4bit_compute_dtype": "float16"}
    assert preset["lora"] == {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"]}
    dataset = preset["dataset"]
    assert dataset["path"] == str(IMPORTS / "lf_data" / "support_chats.json")  # through dataset_dir
    assert (dataset["format"], dataset["template"], dataset["eval_split"]) == ("chat", "chat-template", 0.1)
    assert dataset["columns"] == {"messages": "dialogue", "system": "system_prompt"}
    assert dataset["message_keys"] == {"role": "speaker", "content": "text"}
    assert dataset["roles"] == {"user": "customer", "assistant": "agent", "tool": "observation"}
    assert "dataset 'alpaca_en': not in" in printed and "bundled registry" in printed
    assert_every_key_accounted_for("llama3_lora_sft_otfq.yaml", printed)
    checked = check(tmp_path / "llama3_lora_sft_otfq.yaml.preset.yaml", "quantization=null", "training.fp16=false",
                    sample=0)
    assert checked.returncode == 0, checked.stderr
    segments = json.loads(checked.stdout)["sample"]["segments"]
    text = "".join(s["text"] for s in segments)
    # the row the seeded eval split leaves first: its speaker/text messages read as system, user and assistant turns
    assert text.startswith("<|system|>\nYou are a polite support agent.\n<|user|>\nHow do I reset my password?\n")
    assert [s["text"] for s in segments if s["learned"]] == ["Open settings, then choose reset password.</s>"]


def test_axolotl_qlora_example(tmp_path):
    preset, printed = imported(tmp_path, "axolotl_llama3_qlora.yml")
    assert preset["model"] == {"name_or_path": "NousResearch/Meta-Llama-3-8B", "attn_implementation": "flash_attention_2",
                               "dtype": "auto"}
    assert preset["quantization"] == {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True}
    assert preset["lora"] == {"r": 32, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": "all-linear"}
    assert preset["dataset"] == {"path": "aaditya/alpaca_subset_1", "format": "alpaca", "template": "alpaca-preamble"}
    training = preset["training"]
    assert (training["max_length"], training["packing"], training["per_device_train_batch_size"],
            training["gradient_accumulation_steps"], training["num_train_epochs"], training["optim"],
            training["lr_scheduler_type"], training["learning_rate"], training["warmup_steps"], training["tf32"],
            training["activation_checkpointing"], training["completion_only_loss"], training["output_dir"]) == (
        4096, True, 2, 4, 4, "paged_adamw_32bit", "cosine", 2e-4, 10, False, True, True, "./outputs/qlora-out")
    assert "bf16" not in training and "bf16 = 'auto'" in printed  # sft-wizard decides
    assert "special_tokens = {'pad_token': '<|end_of_text|>'}" in printed
    assert_every_key_accounted_for("axolotl_llama3_qlora.yml", printed)
    checked = check(tmp_path / "axolotl_llama3_qlora.yml.preset.yaml", "quantization=null", "training.tf32=null",
                    "training.packing=false", "training.optim=adamw_torch",
                    "dataset.path=tests/data/imports/alpaca_en_demo.json")
    assert checked.returncode == 0, checked.stderr


def test_axolotl_chat_template_entry_decides_which_turns_and_end_tokens_are_learned(tmp_path):
    preset, printed = imported(tmp_path, "axolotl_chat_template.yml")
    dataset, segments_source = preset["dataset"]["sources"]
    assert segments_source == {"path": str(IMPORTS / "axolotl_segments.jsonl"), "format": "auto"}
    assert dataset["path"] == str(IMPORTS / "axolotl_chats.jsonl") and dataset["format"] == "chat"
    assert dataset["columns"] == {"messages": "conversations"}
    assert dataset["message_keys"] == {"role": "from", "content": "value"}
    assert dataset["roles"] == {"user": ["human"], "assistant": ["gpt"], "system": ["system"]}
    assert dataset["train_on_eos"] == "last" and "roles_to_train" not in dataset  # ['assistant'], the default
    assert "dataset.sources[0].roles_to_train = ['assistant'] (from Axolotl datasets[0].roles_to_train)" in printed
    assert "dataset.sources[1].path = " in printed and "(from Axolotl datasets[1].path)" in printed
    assert_every_key_accounted_for("axolotl_chat_template.yml", printed)
    path = tmp_path / "axolotl_chat_template.yml.preset.yaml"

    def learned(*overrides):
        checked = check(path, *overrides, sample=0)
        assert checked.returncode == 0, checked.stderr
        return [s["text"] for s in json.loads(checked.stdout)["sample"]["segments"] if s["learned"]]

    assert learned() == ["Paris.", "Rome.</s>"]  # train_on_eos: last
    assert learned("dataset.sources[0].train_on_eos=turn") == ["Paris.</s>", "Rome.</s>"]
    assert learned("dataset.sources[0].train_on_eos=none") == ["Paris.", "Rome."]
    assert learned("dataset.sources[0].roles_to_train=[user, assistant]", "dataset.sources[0].train_on_eos=turn") == [
        "<|user|>\nWhat is the capital of France?\n", "Paris.</s><|user|>\nAnd of Italy?\n", "Rome.</s>"]  # turns whole


def test_axolotl_input_output_entry_is_read_as_its_file_with_a_note(tmp_path):
    config = tmp_path / "segments.yml"
    config.write_text("base_model: tiny-demo\nadapter: lora\nlora_r: 8\ndatasets:\n"
                      "  - path: tests/data/imports/axolotl_segments.jsonl\n    type: input_output\n")
    imported_preset = preset_from_file(str(config))
    assert imported_preset.config.dataset.path.endswith("tests/data/imports/axolotl_segments.jsonl")
    assert any("input_output" in w and "segments" in w for w in imported_preset.warnings)


def test_trl_sft_config(tmp_path):
    preset, printed = imported(tmp_path, "trl_sft_config.yaml")
    assert preset["model"] == {"name_or_path": "Qwen/Qwen2-0.5B", "dtype": "bfloat16"}
    assert preset["lora"] == {"r": 32, "lora_alpha": 16, "target_modules": "all-linear", "lora_dropout": 0.05,
                              "task_type": "CAUSAL_LM", "bias": "none"}
    assert preset["quantization"] == {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                                      "bnb_4bit_compute_dtype": "bfloat16"}
    assert preset["dataset"]["path"] == "trl-lib/Capybara"
    training = preset["training"]
    assert (training["learning_rate"], training["num_train_epochs"], training["packing"],
            training["per_device_train_batch_size"], training["gradient_accumulation_steps"],
            training["activation_checkpointing"], training["eos_token"], training["max_length"],
            training["output_dir"], training["eval_strategy"]) == (
        2e-4, 1, True, 2, 8, True, "<|im_end|>", 1024, "Qwen2-0.5B-SFT", "no")
    assert_every_key_accounted_for("trl_sft_config.yaml", printed)
    checked = check(tmp_path / "trl_sft_config.yaml.preset.yaml", "quantization=null", "model.dtype=auto",
                    "training.eos_token=null", "dataset.path=tests/data/imports/axolotl_chats.jsonl")
    assert checked.returncode == 0, checked.stderr


def test_trl_config_without_use_peft_trains_the_whole_model_and_lists_its_lora_keys(tmp_path):
    config = tmp_path / "full.yaml"
    config.write_text("model_name_or_path: Qwen/Qwen2-0.5B\ndataset_name: trl-lib/Capybara\nlora_r: 8\n"
                      "output_dir: out\nsome_flag: 3\n")
    result = import_file(str(config))
    assert result.raw["lora"] is None
    assert "lora_r = 8: trl sft uses it only with use_peft: true" in result.not_read
    assert "some_flag = 3: no sft-wizard setting (trl sft)" in result.not_read


@pytest.mark.parametrize("text", [
    "services:\n  web:\n    image: nginx\n",  # some other YAML
    "name: mine\nmodel:\n  name_or_path: tiny-demo\ntraining:\n  learning_rate: 1e-4\n",  # a sft-wizard preset
])
def test_a_yaml_that_is_no_known_config_exits_2_saying_what_was_expected(tmp_path, text):
    config = tmp_path / "other.yaml"
    config.write_text(text)
    result = run_command("import", str(config), "--output", str(tmp_path / "out.yaml"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "expected a LLaMA-Factory training YAML" in result.stderr and "Axolotl" in result.stderr
    assert not (tmp_path / "out.yaml").exists()


def test_an_invalid_yaml_file_names_the_line(tmp_path):
    config = tmp_path / "broken.yml"
    config.write_text("base_model: x\ndatasets: [\n")
    with pytest.raises(UserError, match="not valid YAML at line"):
        import_file(str(config))


@pytest.mark.parametrize(("setting", "message"), [
    ("dataset.roles_to_train=[]", "give the roles whose turns are learned"),
    ("dataset.train_on_eos=every", "is not one of turn, all, last, none"),
    ("dataset.message_keys={role: from, weight: w}", "it maps role and content only"),
])
def test_turn_settings_that_cannot_apply_are_named(setting, message):
    result = run_command("check", "demo", "--set", setting)
    assert result.returncode == 2 and message in result.stderr


def test_llama_factory_settings_without_a_counterpart_are_listed_not_guessed(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"mine": {"file_name": "mine.json"},
                                                            "held_out": {"file_name": "held_out.json"}}))
    config = tmp_path / "freeze.yaml"
    config.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\nstage: sft\nfinetuning_type: freeze\nlora_rank: 4\n"
                      "dataset: mine\neval_dataset: held_out\nquantization_bit: 3\nquantization_method: hqq\n")
    result = import_file(str(config))
    assert result.raw["lora"] is None and result.raw["quantization"] is None
    assert result.raw["dataset"] == {"path": str(tmp_path / "mine.json"), "format": "alpaca",
                                     "eval_sources": [{"path": str(tmp_path / "held_out.json"), "format": "alpaca"}]}
    assert [line.split(" = ")[0] for line in result.not_read] == [
        "finetuning_type", "lora_rank", "quantization_bit", "quantization_method"]


def test_a_dataset_info_that_is_not_a_mapping_of_entries_is_exit_2(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps([{"file_name": "a.json"}]))
    config = tmp_path / "lf.yaml"
    config.write_text("model_name_or_path: x/y\nstage: sft\nfinetuning_type: lora\ndataset: a\ntemplate: llama3\n")
    result = run_command("import", str(config), "--output", str(tmp_path / "out.yaml"))
    assert result.returncode == 2 and "dataset_info.json maps each dataset name" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_axolotl_hub_dataset_with_data_files_keeps_the_repo_and_the_files_inside_it(tmp_path):
    config = tmp_path / "hub.yml"
    config.write_text("base_model: tiny-demo\ndatasets:\n  - path: org/instructions\n    data_files:\n"
                      "      - data/train.jsonl\n    type: alpaca\n")
    dataset = import_file(str(config)).raw["dataset"]
    assert (dataset["path"], dataset["data_files"]) == ("org/instructions", "data/train.jsonl")
    config.write_text(f"base_model: tiny-demo\ndatasets:\n  - path: {tmp_path}\n    data_files: {config}\n")
    dataset = import_file(str(config)).raw["dataset"]  # a local folder's data_files are paths of their own in Axolotl
    assert dataset["path"] == str(config) and "data_files" not in dataset


def test_data_files_are_read_inside_the_hub_dataset_or_folder_of_dataset_path(tmp_path, monkeypatch):
    import datasets

    from engine.config.run_config import DatasetSection
    from engine.data.source.read import read_table

    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: calls.append((args, kwargs)))
    read_table("org/instructions", DatasetSection(path="org/instructions", data_files="data/train.jsonl"))
    assert calls == [(("org/instructions", None), {"data_files": "data/train.jsonl", "split": "train",
                                                   "revision": None})]
    monkeypatch.undo()
    folder = tmp_path / "repo"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train.jsonl").write_text(json.dumps({"instruction": "Say hi.", "input": "", "output": "Hi."}))
    (folder / "data" / "other.jsonl").write_text(json.dumps({"instruction": "Say no.", "input": "", "output": "No."}))
    table = read_table(str(folder), DatasetSection(path=str(folder), data_files="data/train.jsonl"))
    assert table["output"] == ["Hi."]


def test_axolotl_defaults_that_differ_from_sftconfig_are_written_into_the_preset(tmp_path):
    config = tmp_path / "short.yml"
    config.write_text("base_model: tiny-demo\nlearning_rate: 0.0002\ndatasets:\n"
                      "  - path: tests/data/imports/alpaca_en_demo.json\n    type: alpaca\n")
    training = import_file(str(config)).raw["training"]
    assert training == {"learning_rate": 0.0002, "lr_scheduler_type": "cosine", "num_train_epochs": 1.0,
                        "per_device_train_batch_size": 1, "max_length": 512, "per_device_eval_batch_size": 1,
                        "activation_checkpointing": False, "warmup_steps": 0.03}
    config.write_text(config.read_text() + "micro_batch_size: 4\nlr_scheduler: linear\nwarmup_steps: 5\n")
    training = import_file(str(config)).raw["training"]
    assert (training["per_device_eval_batch_size"], training["lr_scheduler_type"], training["warmup_steps"]) == (4, "linear", 5)


def test_llama_factory_defaults_that_differ_from_sftconfig_are_written_into_the_preset(tmp_path):
    config = tmp_path / "lf.yaml"
    config.write_text("model_name_or_path: x/y\nstage: sft\nfinetuning_type: lora\ntemplate: llama3\n")
    result = import_file(str(config))
    assert {key: result.raw["training"][key] for key in ("max_length", "learning_rate", "activation_checkpointing")} == {
        "max_length": 2048, "learning_rate": 5e-5, "activation_checkpointing": True}
    assert any("does not set do_train: true" in warning for warning in result.warnings)
    config.write_text(config.read_text() + "do_train: true\ndisable_gradient_checkpointing: true\n")
    result = import_file(str(config))
    assert result.raw["training"]["activation_checkpointing"] is False
    assert not any("do_train" in warning for warning in result.warnings)


@pytest.mark.parametrize(("text", "where", "expected"), [
    ("attn_implementation: sdpa\n", ("model", "attn_implementation"), "sdpa"),
    ("eval_batch_size: 3\n", ("training", "per_device_eval_batch_size"), 3),
    ("adam_epsilon: 1.0e-6\n", ("training", "adam_epsilon"), 1e-6),
    ("adapter: lora\nlora_target_parameters: [mlp.experts.gate_up_proj]\n", ("lora", "target_parameters"),
     ["mlp.experts.gate_up_proj"]),
])
def test_axolotl_keys_that_sft_wizard_has_are_read(tmp_path, text, where, expected):
    config = tmp_path / "keys.yml"
    config.write_text(f"base_model: tiny-demo\n{text}datasets:\n  - path: tests/data/imports/alpaca_en_demo.json\n"
                      "    type: alpaca\n")
    result = import_file(str(config))
    assert result.raw[where[0]][where[1]] == expected
    assert not any("no sft-wizard setting" in line for line in result.not_read), result.not_read


def test_axolotl_keys_axolotl_itself_ignores_or_patches_are_listed_with_why(tmp_path):
    config = tmp_path / "keys.yml"
    config.write_text("base_model: tiny-demo\nadam_eps: 0.00001\nattn_implementation: xformers\ndatasets:\n"
                      "  - path: tests/data/imports/alpaca_en_demo.json\n    type: alpaca\n")
    result = import_file(str(config))
    assert "adam_eps = 1e-05: Axolotl does not read it (its setting is adam_epsilon)" in "\n".join(result.not_read)
    assert "attn_implementation = 'xformers': an Axolotl attention patch" in "\n".join(result.not_read)
    assert "attn_implementation" not in result.raw["model"] and "adam_epsilon" not in result.raw["training"]


def test_trl_num_processes_and_llama_factory_gradient_checkpointing_are_read(tmp_path):
    config = tmp_path / "trl.yaml"
    config.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\ndataset_name: stanfordnlp/imdb\nnum_processes: 4\n")
    assert import_file(str(config)).raw["distributed"] == {"processes": 4}
    config = tmp_path / "lf.yaml"
    config.write_text("model_name_or_path: x/y\nstage: sft\ndo_train: true\ntemplate: llama3\n"
                      "disable_gradient_checkpointing: false\n")
    result = import_file(str(config))
    assert result.raw["training"]["activation_checkpointing"] is True
    assert "disable_gradient_checkpointing" not in "\n".join(result.not_read)


def test_the_alpaca_preamble_llama_factory_writes_is_flagged(tmp_path):
    (tmp_path / "dataset_info.json").write_text(json.dumps({"mine": {"file_name": "mine.json"}}))
    config = tmp_path / "lf.yaml"
    config.write_text("model_name_or_path: x/y\nstage: sft\ndo_train: true\ntemplate: alpaca\ndataset: mine\n")
    imported_preset = preset_from_file(str(config))
    preamble = [w for w in imported_preset.warnings if "Below is an instruction that describes a task." in w]
    assert preamble and "no such preamble" in preamble[0] and "`system` column of the data" in preamble[0]


# Axolotl's whole text for `type: alpaca` rows (AlpacaPrompter._build_result with its output, instruct style), built
# from the strings in src/axolotl/prompters.py of axolotl-ai-cloud/axolotl at 067b021c8b87a9e5e380b9173c704cf7340e30f5:
# system_prompt / system_no_input_prompt, system_format "{system}\n\n", turn_format / turn_no_input_format.
AXOLOTL_NO_INPUT = ("Below is an instruction that describes a task. Write a response that appropriately completes the "
                    "request.\n\n### Instruction:\n{instruction}\n\n### Response:\n{output}")
AXOLOTL_WITH_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
                      "Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n"
                      "### Input:\n{input}\n\n### Response:\n{output}")


def test_axolotl_alpaca_trains_axolotls_exact_prompt_with_its_preamble(tmp_path):
    from engine.data.source.convert import to_training_row

    rows = json.loads((IMPORTS / "alpaca_en_demo.json").read_text())[:2]  # the first without an input, then one with
    rows.append({**rows[1], "input": " "})  # Axolotl tests `if input_text:`: a blank input is still an input
    for row, axolotl in zip(rows, (AXOLOTL_NO_INPUT, AXOLOTL_WITH_INPUT, AXOLOTL_WITH_INPUT)):
        trained = to_training_row(row, "alpaca", "alpaca-preamble")
        assert trained["prompt"] + trained["completion"] == axolotl.format(**row)
    config = tmp_path / "axolotl.yml"
    config.write_text("base_model: tiny-demo\nmax_steps: 2\ndatasets:\n  - path: tests/data/imports/alpaca_en_demo.json\n"
                      "    type: alpaca\n")
    out = tmp_path / "axolotl.preset.yaml"
    imported_now = run_command("import", str(config), "--output", str(out))
    assert imported_now.returncode == 0, imported_now.stderr
    assert load_yaml(out.read_text())["dataset"]["template"] == "alpaca-preamble"
    assert "no such preamble" not in imported_now.stdout and "Below is an instruction" not in imported_now.stdout
    shown = run_command("check", str(out), "--sample", "0")
    assert shown.returncode == 0, shown.stderr
    assert AXOLOTL_NO_INPUT.format(instruction=rows[0]["instruction"], output="") in shown.stdout
    trained = run_command("train", str(out), "--headless", "--output-dir", str(tmp_path / "run"))
    assert trained.returncode == 0, trained.stderr


def test_an_imported_deepspeed_config_is_said_at_import_and_check_and_refused_by_train_with_exit_2(tmp_path):
    import importlib.util

    config = tmp_path / "ds.yml"
    config.write_text("base_model: tiny-demo\ndeepspeed: deepspeed_configs/zero2.json\ndatasets:\n"
                      "  - path: tests/data/imports/alpaca_en_demo.json\n    type: alpaca\n")
    out = tmp_path / "ds.preset.yaml"
    imported_now = run_command("import", str(config), "--output", str(out))
    said = ("needs DeepSpeed, which is not installed here" if importlib.util.find_spec("deepspeed") is None
            else "no such DeepSpeed config file")
    assert imported_now.returncode == 0 and said in imported_now.stdout.split("to complete before training")[1]
    checked = check(out)
    assert checked.returncode == 2 and said in checked.stderr and "Traceback" not in checked.stderr
    trained = run_command("train", str(out), *ON_CPU, "--headless", "--output-dir", str(tmp_path / "run"))
    assert trained.returncode == 2 and said in trained.stderr and "Traceback" not in trained.stderr
    if said.startswith("needs"):
        assert "pip install deepspeed" in trained.stderr


def test_an_axolotl_folder_with_several_data_files_gives_one_source_per_file_inside_the_folder(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("a.jsonl", "b.jsonl"):
        (folder / name).write_text(json.dumps({"instruction": f"Say {name}.", "input": "", "output": name}) + "\n")
    config = tmp_path / "axolotl.yml"
    config.write_text(f"base_model: tiny-demo\ndatasets:\n  - path: {folder}\n    data_files: [a.jsonl, b.jsonl]\n"
                      "    type: alpaca\n")
    out = tmp_path / "preset.yaml"
    result = run_command("import", str(config), "--output", str(out))
    assert result.returncode == 0, result.stderr
    sources = load_yaml(out.read_text())["dataset"]["sources"]
    assert [s["path"] for s in sources] == [str(folder / "a.jsonl"), str(folder / "b.jsonl")]  # not a.jsonl in the cwd
