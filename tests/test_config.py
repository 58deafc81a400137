"""Preset validation: unknown keys, types, choices, legacy names, cross-field rules, --set."""

import pytest
from conftest import DEMO_DATA, MINIMAL, run_command, write_preset

from engine.config.parsing import load_config_text, parse_config
from engine.errors import UserError
from engine.yamlio import load_yaml


def problems_of(text: str, overrides=None) -> str:
    with pytest.raises(UserError) as info:
        load_config_text(text, "p.yaml", overrides)
    return str(info.value)


def with_training(extra: str, dataset_extra: str = "") -> str:
    return (f"model: {{name_or_path: tiny-demo}}\ndataset: {{path: {DEMO_DATA}{dataset_extra}}}\n"
            f"training:\n" + "".join(f"  {line}\n" for line in extra.strip().splitlines()))


def test_minimal_preset_is_valid_and_uses_sftconfig_defaults():
    config, warnings = load_config_text(MINIMAL, "p.yaml")
    assert warnings == []
    assert config.training == {"num_train_epochs": 1}
    assert config.training_value("learning_rate") == pytest.approx(2e-5)  # SFTConfig's own default


def test_unknown_key_names_key_section_and_closest_names():
    message = problems_of(with_training("lerning_rate: 0.1"))
    assert "unknown key `lerning_rate` in `training`" in message
    assert "learning_rate" in message.split("Did you mean")[1]


def test_unknown_top_level_and_lora_keys_are_reported_together():
    message = problems_of(MINIMAL + "lora: {rank: 8}\nmodle: x\n")
    assert "`rank` in `lora`" in message and "`modle` at the top level" in message


def test_wrong_type_names_key_value_and_expectation():
    message = problems_of(with_training("learning_rate: abc"))
    assert "training.learning_rate = 'abc'" in message and "expected float" in message


def test_wrong_choice_suggests_the_closest():
    message = problems_of(with_training("optim: adamw_8bt"))
    assert "training.optim = 'adamw_8bt'" in message and "adamw_8bit" in message


@pytest.mark.parametrize("old,new,value", [
    ("evaluation_strategy", "eval_strategy", "no"),
    ("max_seq_length", "max_length", 128),
    ("warmup_ratio", "warmup_steps", 0.03),
    ("gradient_checkpointing", "activation_checkpointing", False),
])
def test_legacy_training_names_map_to_current_ones_with_a_warning(old, new, value):
    config, warnings = load_config_text(with_training(f"{old}: {value}"), "p.yaml")
    assert config.training[new] == value and old not in config.training
    assert any(old in w and new in w for w in warnings)


def test_legacy_tokenizer_and_dataset_text_field_are_accepted():
    config, warnings = load_config_text(with_training("tokenizer: x\ndataset_text_field: body"), "p.yaml")
    assert "tokenizer" not in config.training
    assert config.dataset.columns == {"text": "body"}
    assert any("processing_class" in w for w in warnings)


def test_scientific_notation_is_a_float():
    config, _ = load_config_text(with_training("learning_rate: 2e-4"), "p.yaml")
    assert config.training["learning_rate"] == pytest.approx(2e-4)


def test_set_overrides_are_yaml_typed():
    config, _ = load_config_text(MINIMAL, "p.yaml", ["training.learning_rate=1e-3", "lora.r=4", "dataset.eval_split=0.2"])
    assert config.training["learning_rate"] == pytest.approx(1e-3)
    assert config.lora == {"r": 4} and config.dataset.eval_split == 0.2


@pytest.mark.parametrize("share", ["0", "0.0"])
def test_eval_split_zero_means_no_evaluation_split(share):
    config, _ = load_config_text(with_training("num_train_epochs: 1", f", eval_split: {share}"), "p.yaml")
    assert config.dataset.eval_split is None
    assert "must be between 0 and 1" in problems_of(with_training("num_train_epochs: 1", ", eval_split: 1.5"))


def test_set_with_unknown_section_is_a_user_error():
    assert "does not start with a preset section" in problems_of(MINIMAL, ["trainig.lr=1"])


@pytest.mark.parametrize("training,dataset_extra,expected", [
    ("load_best_model_at_end: true\neval_strategy: steps\nsave_strategy: epoch", ", eval_split: 0.1", "to match"),
    ("load_best_model_at_end: true\neval_strategy: steps\neval_steps: 30\nsave_steps: 50", ", eval_split: 0.1", "multiple of eval_steps"),
    ("eval_strategy: steps", "", "needs evaluation data"),
    ("fp16: true\nbf16: true", "", "both true"),
    ("learning_rate: 0", "", "must be > 0"),
    ("per_device_train_batch_size: 0", "", "must be >= 1"),
    ("gradient_accumulation_steps: 0", "", "must be >= 1"),
    ("", ", format: chat, template: alpaca-preamble", "formats instruction data"),
])
def test_cross_field_rules(training, dataset_extra, expected):
    assert expected in problems_of(with_training(training, dataset_extra))


def test_four_and_eight_bit_together_is_rejected():
    assert "choose one" in problems_of(MINIMAL + "quantization: {load_in_4bit: true, load_in_8bit: true}\n"
                                       "lora: {r: 8}\n")


def test_every_problem_is_reported_not_only_the_first():
    message = problems_of(with_training("learning_rate: -1\nper_device_train_batch_size: 0\nfoo: 1"))
    assert "learning_rate" in message and "per_device_train_batch_size" in message and "foo" in message


def test_config_round_trips_through_yaml():
    config, _ = load_config_text(MINIMAL + "quantization: {load_in_4bit: true}\nlora: {r: 8, target_modules: [q_proj]}\n",
                                 "p.yaml")
    again, _ = parse_config(load_yaml(config.to_yaml()), "again")
    assert again == config


def test_cli_bad_preset_exits_2_with_one_message_and_no_traceback(tmp_path):
    preset = write_preset(tmp_path, with_training("lerning_rate: 0.1"))
    result = run_command("check", str(preset))
    assert result.returncode == 2
    assert "lerning_rate" in result.stderr and "Traceback" not in result.stderr


def test_cli_broken_yaml_names_the_line(tmp_path):
    preset = write_preset(tmp_path, "name: x\ntraining: {a: [1, 2\n")
    result = run_command("check", str(preset))
    assert result.returncode == 2 and "not valid YAML at line" in result.stderr and "Traceback" not in result.stderr


def test_cli_hardware_rules_on_cpu_name_the_fix():
    result = run_command("check", "course-module7")
    assert result.returncode == 2
    assert "need bitsandbytes on a CUDA GPU" in result.stderr and "--set training.optim=adamw_torch" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_lora_target_that_does_not_exist_lists_the_model_modules():
    result = run_command("check", "demo", "--set", "lora.target_modules=[c_attn]")
    assert result.returncode == 2
    assert "c_attn" in result.stderr and "q_proj" in result.stderr and "Traceback" not in result.stderr


def test_check_refuses_save_strategy_best_as_the_trainer_does():
    """transformers' Trainer raises at construction for save_strategy best without metric_for_best_model; check says so first."""
    refused = run_command("check", "demo", "--set", "training.save_strategy=best")
    assert refused.returncode == 2
    assert "training.metric_for_best_model" in refused.stderr and "Traceback" not in refused.stderr
    without_eval = run_command("check", "demo", "--set", "training.save_strategy=best",
                               "--set", "training.metric_for_best_model=eval_loss", "--set", "training.eval_strategy=no")
    assert without_eval.returncode == 2 and "training.eval_strategy is 'no'" in without_eval.stderr
    # load_best_model_at_end makes "loss" the metric, and save_strategy best needs no matching eval strategy
    accepted = run_command("check", "demo", "--set", "training.save_strategy=best", "--set", "training.load_best_model_at_end=true")
    assert accepted.returncode == 0, accepted.stderr


def test_a_problem_names_its_fields_so_no_one_parses_its_text():
    from engine.config.parsing import parse_config_collecting

    _, _, problems = parse_config_collecting({"training": {"learning_rate": 0, "save_steps": 10, "eval_steps": 3,
                                                           "load_best_model_at_end": True, "eval_strategy": "steps",
                                                           "save_strategy": "steps"},
                                              "dataset": {"path": "d.jsonl", "eval_split": 0.1},
                                              "model": {"name_or_path": "tiny-demo"}}, "p")
    assert [p.fields for p in problems] == [("training.learning_rate",), ("training.save_steps", "training.eval_steps")]
    assert str(problems[0]) == "p: training.learning_rate = 0 must be > 0."
    assert problems[1].fix == "e.g. save_steps: 9." and problems[1].severity == "error"
