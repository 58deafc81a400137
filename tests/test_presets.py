"""Presets: bundled ones load, user presets override and save atomically, import of tutorial code."""

from pathlib import Path

import pytest
from conftest import REPO, run_cli, run_command

from engine.config.parsing import parse_config
from engine.config.presets import find_preset, list_presets, load_preset, save_preset
from engine.errors import UserError
from engine.importing.python_code import import_python_code
from engine.yamlio import load_yaml

COURSE = REPO / "tests" / "data" / "course-module7.py"  # a copy of shared/reference/course-module7.py
BUNDLED = ["course-module7", "demo", "lora-3b-bf16", "low-memory-8gb", "qlora-8b-24gb"]


@pytest.mark.parametrize("name", BUNDLED)
def test_every_bundled_preset_is_valid(name):
    config, warnings, _ = load_preset(name)
    assert config.name == name and warnings == []


def test_demo_dataset_path_resolves_beside_the_preset():
    config, _, _ = load_preset("demo")
    assert Path(config.dataset.path).is_file()


def test_save_then_load_round_trips(user_config):
    config, _, _ = load_preset("demo")
    config.name = "mine"
    config.training["learning_rate"] = 1e-3
    path = save_preset(config)
    assert path == user_config / "mine.yaml"
    again, _, _ = load_preset("mine")
    assert again == config
    assert path.read_text().startswith("# sft-wizard")


def test_saving_never_overwrites_without_permission(user_config):
    config, _, _ = load_preset("demo")
    path = save_preset(config, "keep")
    before = path.read_text()
    config.description = "changed"
    with pytest.raises(UserError, match="already exists"):
        save_preset(config, "keep")
    assert path.read_text() == before
    save_preset(config, "keep", overwrite=True)
    assert "changed" in path.read_text()
    assert [p.name for p in user_config.iterdir()] == ["keep.yaml"]  # no temporary files left


def test_a_user_preset_overrides_the_bundled_one(user_config):
    config, _, _ = load_preset("demo")
    config.description = "my demo"
    save_preset(config, "demo")
    assert find_preset("demo") == user_config / "demo.yaml"
    assert [p.source for p in list_presets() if p.name == "demo"] == ["user"]


def test_unknown_preset_suggests_close_names():
    with pytest.raises(UserError, match="Did you mean demo"):
        find_preset("dmo")


def test_course_code_imports_to_the_course_preset_in_substance():
    result = import_python_code(str(COURSE))
    imported, warnings = parse_config({**result.raw, "model": {"name_or_path": "x"}, "dataset": {
        **result.raw["dataset"], "path": "d.jsonl", "eval_split": 0.1}, "training": {**result.raw["training"], "report_to": "none"}},
        "course")
    bundled, _, _ = load_preset("course-module7")
    assert imported.training == bundled.training
    assert imported.dataset.template == bundled.dataset.template == "alpaca-zh"
    assert {"evaluation_strategy", "max_seq_length", "warmup_ratio"} <= {w.split()[0].split(".")[1] for w in warnings}
    assert any("Dataset.from_dict" in line for line in result.not_read)


@pytest.mark.slow
def test_import_command_writes_a_preset_and_reports_what_it_could_not_read(tmp_path):
    out = tmp_path / "course.yaml"
    result = run_cli("import", str(COURSE), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "not read" in result.stdout and "model.name_or_path" in result.stdout
    data = load_yaml(out.read_text())
    assert data["training"]["optim"] == "paged_adamw_8bit" and data["training"]["max_length"] == 512


def test_import_never_executes_the_code(tmp_path):
    marker = tmp_path / "ran"
    code = tmp_path / "evil.py"
    code.write_text(f"open({str(marker)!r}, 'w').write('x')\nfrom transformers import TrainingArguments\n"
                    "args = TrainingArguments(output_dir='o', learning_rate=lr, num_train_epochs=2)\n")
    result = import_python_code(str(code))
    assert not marker.exists()
    assert result.raw["training"] == {"output_dir": "o", "num_train_epochs": 2}
    assert any("learning_rate = lr" in line for line in result.not_read)


def test_import_reads_well_known_names_and_model_ids(tmp_path):
    code = tmp_path / "q.py"
    code.write_text("import torch\nfrom transformers import BitsAndBytesConfig, AutoModelForCausalLM\nfrom peft import LoraConfig\n"
                    "bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16)\n"
                    "m = AutoModelForCausalLM.from_pretrained('Qwen/Qwen2.5-0.5B-Instruct', quantization_config=bnb)\n"
                    "lora = LoraConfig(r=8, target_modules=['q_proj', 'v_proj'])\n")
    raw = import_python_code(str(code)).raw
    assert raw["quantization"] == {"load_in_4bit": True, "bnb_4bit_compute_dtype": "bfloat16"}
    assert raw["model"]["name_or_path"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert raw["lora"] == {"r": 8, "target_modules": ["q_proj", "v_proj"]}


def test_import_of_broken_python_is_a_user_error(tmp_path):
    code = tmp_path / "bad.py"
    code.write_text("!pip install trl\nargs = TrainingArguments(output_dir='o',\n")
    result = run_command("import", str(code))
    assert result.returncode == 2 and "not valid Python at line 2" in result.stderr and "Traceback" not in result.stderr


def test_presets_command_lists_bundled_presets():
    result = run_command("presets")
    assert result.returncode == 0
    for name in BUNDLED:
        assert name in result.stdout
