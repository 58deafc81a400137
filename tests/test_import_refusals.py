"""Importing configs that are not SFT training: refused in the source tool's words, exit 2, nothing written."""

import pytest
from conftest import REPO, run_command

NOT_SFT = REPO / "tests" / "data" / "imports" / "not_sft"
"""Real example configs of LLaMA-Factory, Axolotl and TRL (each file's first line says where it comes from)."""


def refused(tmp_path, config) -> str:
    """Import the file through the command line, assert it was refused with exit 2 and nothing written; the message."""
    out = tmp_path / "out.yaml"
    result = run_command("import", str(config), "--output", str(out))
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr and not out.exists()
    return result.stderr


@pytest.mark.parametrize(("name", "what"), [
    ("lf_llama3_lora_dpo.yaml", "a DPO config: LLaMA-Factory `stage: dpo`"),
    ("lf_llama3_lora_kto.yaml", "a KTO config: LLaMA-Factory `stage: kto`"),
    ("lf_llama3_lora_pretrain.yaml", "a pre-training config: LLaMA-Factory `stage: pt`"),
    ("lf_llama3_lora_reward.yaml", "a reward-model config: LLaMA-Factory `stage: rm`"),
    ("lf_llama3_lora_ppo.yaml", "a PPO config: LLaMA-Factory `stage: ppo`"),
    ("lf_inference_llama3.yaml", "an inference config: LLaMA-Factory `infer_backend`"),
    ("lf_merge_lora_llama3_lora_sft.yaml", "a merge/export config: LLaMA-Factory `export_dir`"),
    ("lf_nlg_eval_llama3_lora_predict.yaml", "a prediction config: LLaMA-Factory `do_predict: true` without `do_train"),
    ("lf_llama3_lora_eval.yaml", "an evaluation config: LLaMA-Factory `task: mmlu_test` (`llamafactory-cli eval`)"),
    ("axolotl_qwen2_dpo.yaml", "a DPO config: Axolotl `rl: dpo`"),
    ("axolotl_grpo.yaml", "a GRPO config: Axolotl `rl: grpo`"),
    ("axolotl_llama3_qlora_1b_kto.yaml", "a KTO config: Axolotl `rl: kto`"),
    ("axolotl_mistral_qlora_orpo.yml", "an ORPO config: Axolotl `rl: orpo`"),
    ("axolotl_qwen2_reward_model.yaml", "a reward-model config: Axolotl `reward_model: true`"),
    ("axolotl_qwen2_prm.yaml", "a process-reward-model config: Axolotl `process_reward_model: true`"),
    ("axolotl_streaming_pretrain.yaml", "a pre-training config: Axolotl `pretraining_dataset`"),
    ("axolotl_diffusion_sft_1b.yaml", "a diffusion language model config: Axolotl's DiffusionPlugin"),
    ("trl_grpo_config.yaml", "a GRPO or RLOO config: `reward_funcs` is a setting of `trl grpo` and `trl rloo`, "
                             "not of `trl sft`"),
])
def test_a_config_of_another_training_method_is_refused_by_its_own_keys(tmp_path, name, what):
    message = refused(tmp_path, NOT_SFT / name)
    assert f"{NOT_SFT / name}: {what}" in message
    assert "sft-wizard trains SFT (supervised fine-tuning) only, so nothing was written." in message


def test_a_pretraining_config_says_how_plain_text_trains_here(tmp_path):
    assert "dataset.format: text" in refused(tmp_path, NOT_SFT / "lf_llama3_lora_pretrain.yaml")


@pytest.mark.parametrize(("text", "what"), [
    ("stage: sft\ndo_train: false\n", "a config that trains nothing: LLaMA-Factory `do_train: false`"),
    ("stage: sft\ndo_eval: true\n", "an evaluation config: LLaMA-Factory `do_eval: true` without `do_train: true`"),
    ("stage: dpo\npref_loss: orpo\ndo_train: true\n", "an ORPO config: LLaMA-Factory `stage: dpo` with `pref_loss: orpo`"),
])
def test_llama_factory_configs_that_train_nothing_or_another_method_are_refused(tmp_path, text, what):
    config = tmp_path / "lf.yaml"
    config.write_text(f"model_name_or_path: Qwen/Qwen2.5-0.5B\nfinetuning_type: lora\ntemplate: qwen\n{text}"
                      "dataset: identity\n")
    assert f"{config}: {what}" in refused(tmp_path, config)


@pytest.mark.parametrize(("keys", "what"), [
    ("beta: 0.1\nprecompute_ref_log_probs: true\n", "a DPO or KTO config: `beta`, `precompute_ref_log_probs` are "
                                                    "settings of `trl dpo` and `trl kto`"),
    ("center_rewards_coefficient: 0.01\n", "a reward-model config: `center_rewards_coefficient` is a setting of "
                                          "`trl reward`"),
    ("beta: 0.1\n", "a config of another TRL trainer: `beta` is a setting of `trl distillation`, `trl dpo`, "
                    "`trl grpo`, `trl kto` and `trl rloo`"),
])
def test_trl_configs_with_settings_of_other_trainers_are_refused_naming_them(tmp_path, keys, what):
    config = tmp_path / "trl.yaml"
    config.write_text(f"model_name_or_path: Qwen/Qwen2.5-0.5B\ndataset_name: trl-lib/Capybara\n{keys}")
    assert f"{config}: {what}, not of `trl sft`" in refused(tmp_path, config)


def test_the_other_trainers_settings_are_read_from_trl_itself():
    from engine.importing.trainer_keys import other_trainers

    trainers = other_trainers()
    assert "reward_funcs" in trainers["trl grpo"]["keys"] and "beta" in trainers["trl dpo"]["keys"]
    assert not any(key in trainer["keys"] for trainer in trainers.values()
                   for key in ("learning_rate", "max_length", "model_name_or_path", "dataset_name", "lora_r"))


@pytest.mark.parametrize("name", ["lf_v1_train_lora_sft.yaml", "lf_v1_train_lora_dpo.yaml", "lf_v1_export_lora.yaml"])
def test_a_llama_factory_v1_config_is_named_as_such_and_not_read_as_axolotl(tmp_path, name):
    message = refused(tmp_path, NOT_SFT / name)
    assert f"{NOT_SFT / name}: a LLaMA-Factory v1 config" in message and "not supported yet" in message
    assert "Axolotl" not in message and "nothing was written" in message


TRL_DOCS = REPO / "tests" / "data" / "imports" / "trl"
"""TRL's docs' config files (docs/source/clis.md), named and commented as the docs name them: only the name says
the trainer."""


@pytest.mark.parametrize(("name", "what"), [
    ("dpo_config.yaml", "a DPO config, as its comment `# dpo_config.yaml` says: TRL launches it with "
                        "`trl dpo --config dpo_config.yaml`"),
    ("kto_config.yaml", "a KTO config, as its comment `# kto_config.yaml` says: TRL launches it with "
                        "`trl kto --config kto_config.yaml`"),
    ("reward_config.yaml", "a reward-model config, as its comment `# reward_config.yaml` says: TRL launches it with "
                           "`trl reward --config reward_config.yaml`"),
])
def test_a_trl_config_whose_comment_names_another_trainer_is_refused_under_any_name(tmp_path, name, what):
    copied = tmp_path / "my_config.yaml"  # a user's copy of the docs' block: the comment still names the trainer
    copied.write_text((TRL_DOCS / name).read_text(encoding="utf-8"), encoding="utf-8")
    for config in (TRL_DOCS / name, copied):
        message = refused(tmp_path, config)
        assert f"{config}: {what} (an SFT config says so in its first line: `# trl sft`). sft-wizard trains SFT " \
               "(supervised fine-tuning) only, so nothing was written." in message


@pytest.mark.parametrize(("name", "what"), [
    ("dpo.yaml", "a DPO config, as its file name dpo.yaml says: TRL launches it with `trl dpo --config dpo_config.yaml`"),
    ("qwen_kto_config.yml", "a KTO config, as its file name qwen_kto_config.yml says"),
    ("reward.yaml", "a reward-model config, as its file name reward.yaml says"),
    ("distillation.yaml", "a distillation config, as its file name distillation.yaml says"),
])
def test_a_trl_config_named_for_another_trainer_is_refused(tmp_path, name, what):
    config = tmp_path / name
    config.write_text("model_name_or_path: Qwen/Qwen2.5-0.5B\ndataset_name: trl-lib/kto-mix-14k\n", encoding="utf-8")
    assert f"{config}: {what}" in refused(tmp_path, config)


@pytest.mark.parametrize(("name", "comment"), [
    ("sft_config.yaml", None),  # TRL's docs' own sft_config.yaml
    ("dpo.yaml", "# sft_config.yaml\n"),  # the comment names the trainer before the file name does
    ("reward_study_qwen.yaml", ""),  # a trainer's name inside a file name is not what the file is for
    ("dpo.yaml", "# trl sft\n"),  # the fix the refusal names
    ("dpo_sft.yaml", "# This is an example configuration file of TRL CLI, you can use it for\n"
                     "# SFT like that: `trl sft --config config.yaml --output_dir test-sft`\n"),
])
def test_a_trl_config_named_for_sft_imports(tmp_path, name, comment):
    config = TRL_DOCS / name if comment is None else tmp_path / name
    if comment is not None:
        config.write_text(f"{comment}model_name_or_path: Qwen/Qwen2.5-0.5B\ndataset_name: stanfordnlp/imdb\n",
                          encoding="utf-8")
    out = tmp_path / "out.yaml"
    result = run_command("import", str(config), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "name_or_path: Qwen/Qwen2.5-0.5B" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(("rows", "what"), [
    ('{"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}\n', "is preference data (columns `chosen` and "
                                                                        "`rejected`"),
    ('{"prompt": "Hi", "completion": "Hello!", "label": true}\n{"prompt": "Hi", "completion": "Go away.", '
     '"label": false}\n', "is KTO data: its `label` column"),
])
def test_a_trl_config_whose_local_data_is_preference_data_is_refused(tmp_path, rows, what):
    data = tmp_path / "pairs.jsonl"
    data.write_text(rows, encoding="utf-8")
    for text in (f"dataset_name: {data}\n", f"datasets:\n  - path: {data}\n  - path: {data}\n"):
        config = tmp_path / "trl.yaml"
        config.write_text(f"model_name_or_path: Qwen/Qwen2.5-0.5B\n{text}", encoding="utf-8")
        message = refused(tmp_path, config)
        assert f"{config}: its dataset {data} {what}" in message and message.rstrip().endswith("Nothing was written.")


def test_a_trl_config_whose_local_data_is_sft_data_imports(tmp_path):
    data = tmp_path / "rows.jsonl"
    data.write_text('{"prompt": "Hi", "completion": "Hello!"}\n', encoding="utf-8")
    config, out = tmp_path / "trl.yaml", tmp_path / "out.yaml"
    config.write_text(f"model_name_or_path: Qwen/Qwen2.5-0.5B\ndataset_name: {data}\n", encoding="utf-8")
    result = run_command("import", str(config), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert str(data) in out.read_text(encoding="utf-8")
