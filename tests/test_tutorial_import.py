"""Importing tutorial code as people publish it: every value the code trains with, read without running it."""

import json

import pytest
from conftest import REPO, run_command

from engine.errors import UserError
from engine.importing.python_code import import_python_code, preset_from_code
from engine.yamlio import load_yaml

TUTORIALS = REPO / "tests" / "data" / "tutorials"
COURSE = REPO / "tests" / "data" / "course-module7.py"  # a copy of shared/reference/course-module7.py


def raw_of(name: str) -> dict:
    return import_python_code(str(TUTORIALS / name)).raw


def test_top_level_variables_with_pip_lines_copied_from_colab():
    raw = raw_of("guanaco_top_level_variables.py")
    assert raw["model"] == {"name_or_path": "NousResearch/Llama-2-7b-chat-hf"}  # not the merge model loaded after training
    assert raw["quantization"] == {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4",
                                   "bnb_4bit_compute_dtype": "float16",  # getattr(torch, "float16")
                                   "bnb_4bit_use_double_quant": False}
    assert raw["lora"] == {"r": 64, "lora_alpha": 16, "lora_dropout": 0.1, "bias": "none", "task_type": "CAUSAL_LM"}
    assert raw["training"] == {
        "output_dir": "./results", "num_train_epochs": 1, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
        "optim": "paged_adamw_32bit", "logging_steps": 25, "learning_rate": 2e-4, "weight_decay": 0.001, "fp16": False,
        "bf16": False, "max_grad_norm": 0.3, "max_steps": -1, "lr_scheduler_type": "cosine", "report_to": "tensorboard",
        "dataset_text_field": "text", "max_seq_length": 512, "packing": False}
    assert raw["dataset"] == {"path": "mlabonne/guanaco-llama2-1k"}


def test_tuple_assignment_and_a_later_rebinding_for_evaluation():
    result = import_python_code(str(TUTORIALS / "text_to_sql_tuple_assignment.py"))
    raw = result.raw
    assert raw["model"] == {"name_or_path": "codellama/CodeLlama-7b-hf", "attn_implementation": "flash_attention_2",
                            "dtype": "bfloat16"}
    assert raw["training"]["output_dir"] == "code-llama-7b-text-to-sql"  # not "eval-results", bound after training
    assert raw["lora"] == {"lora_alpha": 128, "lora_dropout": 0.05, "r": 256, "bias": "none",
                           "target_modules": "all-linear", "task_type": "CAUSAL_LM"}
    assert raw["quantization"] == {"load_in_4bit": True, "bnb_4bit_use_double_quant": True, "bnb_4bit_quant_type": "nf4",
                                   "bnb_4bit_compute_dtype": "bfloat16"}
    training = raw["training"]
    assert (training["learning_rate"], training["per_device_train_batch_size"], training["gradient_accumulation_steps"],
            training["num_train_epochs"], training["max_seq_length"], training["bf16"], training["packing"]) == (
        2e-4, 3, 2, 3, 3072, True, True)
    assert raw["dataset"] == {"path": "train_dataset.json"}  # load_dataset("json", data_files=...)
    assert result.not_read == []


def test_dataclass_defaults_read_through_hf_argument_parser():
    raw = raw_of("trl_sft_script_dataclass.py")
    assert raw["model"] == {"name_or_path": "facebook/opt-350m", "trust_remote_code": False, "dtype": "bfloat16"}
    # load_in_4bit's default is True, so the elif branch is the one that runs
    assert raw["quantization"] == {"load_in_8bit": False, "load_in_4bit": True}
    assert raw["lora"] == {"r": 64, "lora_alpha": 16, "bias": "none", "task_type": "CAUSAL_LM",
                           "target_modules": ["q_proj", "v_proj"]}  # field(default_factory=lambda: [...])
    assert raw["training"] == {
        "output_dir": "output", "per_device_train_batch_size": 64, "gradient_accumulation_steps": 16,
        "learning_rate": 1.41e-5, "logging_steps": 1, "num_train_epochs": 3, "max_steps": -1, "report_to": "none",
        "save_steps": 100, "save_total_limit": 10, "push_to_hub": False, "hub_model_id": None,
        "gradient_checkpointing": False, "max_seq_length": 512, "dataset_text_field": "text"}
    assert raw["dataset"] == {"path": "timdettmers/openassistant-guanaco"}


def test_argparse_defaults_in_a_main_function():
    result = import_python_code(str(TUTORIALS / "argparse_script.py"))
    raw = result.raw
    assert raw["model"] == {"name_or_path": "mistralai/Mistral-7B-v0.1", "dtype": "bfloat16"}  # --no_bf16 store_false
    assert raw["quantization"] is None  # --use_4bit is off unless given
    assert raw["lora"] == {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05,
                           "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"], "task_type": "CAUSAL_LM"}
    assert raw["training"] == {
        "output_dir": "mistral-7b-sft-lora", "learning_rate": 1e-4,  # default="1e-4" with type=float
        "num_train_epochs": 2, "per_device_train_batch_size": 2,  # --batch-size
        "gradient_accumulation_steps": 8, "max_length": 2048, "warmup_ratio": 0.1, "bf16": True, "packing": False,
        "seed": 1234, "logging_steps": 10, "report_to": "none"}
    assert raw["dataset"] == {"path": "HuggingFaceH4/ultrachat_200k", "split": "train_sft"}
    assert result.not_read == []  # the required --hub_token only reaches the tokenizer


def test_unsloth_colab_notebook_trains_the_base_model_not_the_saved_adapter():
    result = import_python_code(str(TUTORIALS / "unsloth_alpaca_colab.ipynb"))
    raw = result.raw
    assert raw["model"] == {"name_or_path": "unsloth/Meta-Llama-3.1-8B"}  # not "lora_model" of the inference cell
    assert raw["quantization"] == {"load_in_4bit": True}
    assert raw["lora"] == {"r": 16, "lora_alpha": 16, "lora_dropout": 0, "bias": "none", "use_rslora": False,
                           "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}
    training = raw["training"]
    assert training == {
        "per_device_train_batch_size": 2, "gradient_accumulation_steps": 4, "warmup_steps": 5, "max_steps": 60,
        "learning_rate": 2e-4, "logging_steps": 1, "optim": "adamw_8bit", "weight_decay": 0.01,
        "lr_scheduler_type": "linear", "seed": 3407, "output_dir": "outputs", "report_to": "none",
        "dataset_text_field": "text", "max_seq_length": 2048, "dataset_num_proc": 2, "packing": False,
        "gradient_checkpointing": True, "completion_only_loss": False}
    assert raw["dataset"] == {"path": "yahma/alpaca-cleaned", "template": "alpaca", "format": "alpaca"}
    not_read = "\n".join(result.not_read)
    assert "training.fp16 = not is_bfloat16_supported()" in not_read
    assert "training.bf16 = is_bfloat16_supported()" in not_read
    assert "random_state=3407" in not_read
    assert "'Below is an instruction that describes a task" in not_read  # the preamble the template lacks


def test_unsloth_conversational_code_copied_with_pip_lines_and_a_plain_inference_reload():
    result = import_python_code(str(TUTORIALS / "unsloth_conversational_copied.py"))
    raw = result.raw
    assert raw["model"] == {"name_or_path": "unsloth/Llama-3.2-3B-Instruct"}  # not "lora_model", re-bound after training
    assert raw["quantization"] == {"load_in_4bit": True}
    assert raw["lora"]["r"] == 16 and raw["lora"]["lora_alpha"] == 16 and len(raw["lora"]["target_modules"]) == 7
    assert raw["dataset"] == {"path": "mlabonne/FineTome-100k", "template": "chat-template"}  # standardize_sharegpt, map
    assert raw["training"]["max_seq_length"] == 2048 and raw["training"]["max_steps"] == 60
    assert "completion_only_loss" not in raw["training"]
    not_read = "\n".join(result.not_read)
    assert "chat_template='llama-3.1'" in not_read and "train_on_responses_only" in not_read


def test_trl_notebook_with_the_model_id_and_sft_config_inside_the_trainer():
    result = import_python_code(str(TUTORIALS / "trl_sft_lora_notebook.ipynb"))
    raw = result.raw
    assert raw["model"] == {"name_or_path": "Qwen/Qwen3-0.6B", "dtype": "bfloat16", "attn_implementation": "sdpa"}
    assert raw["quantization"] is None
    assert raw["lora"] == {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear"}
    assert raw["training"] == {
        "output_dir": "Qwen3-0.6B-SFT", "per_device_train_batch_size": 2, "gradient_accumulation_steps": 8,
        "learning_rate": 2e-4, "num_train_epochs": 1, "max_length": 1024, "bf16": True, "gradient_checkpointing": True,
        "logging_steps": 10, "report_to": "none"}
    assert raw["dataset"] == {"path": "HuggingFaceH4/Multilingual-Thinking"}
    assert result.not_read == []


def test_marimo_cells():
    result = import_python_code(str(TUTORIALS / "marimo_sft.py"))
    raw = result.raw
    assert raw["model"] == {"name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct"}
    assert raw["lora"] == {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": "all-linear"}
    assert raw["training"] == {"output_dir": "runs/SmolLM2-135M-Instruct",  # f-string over model_id.split("/")
                               "num_train_epochs": 2, "per_device_train_batch_size": 8, "max_length": 512,
                               "packing": True, "fp16": False, "bf16": False}
    assert raw["dataset"] == {"path": "data/chats.jsonl"}
    assert result.not_read == ["training.learning_rate = lr_slider.value (from SFTConfig) is not a literal"]


def test_kaggle_settings_class():
    raw = raw_of("kaggle_cfg_class.py")
    assert raw["model"] == {"name_or_path": "google/gemma-2b-it"}  # through prepare_model_for_kbit_training, get_peft_model
    assert raw["quantization"] == {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": "bfloat16"}
    assert raw["lora"] == {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "bias": "none", "task_type": "CAUSAL_LM",
                           "target_modules": ["q_proj", "o_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj"]}
    assert raw["training"] == {
        "per_device_train_batch_size": 1, "gradient_accumulation_steps": 16, "num_train_epochs": 2, "learning_rate": 1e-4,
        "fp16": False, "bf16": True, "logging_steps": 10, "output_dir": "/kaggle/working/gemma-medical",
        "optim": "paged_adamw_8bit", "report_to": "none", "max_seq_length": 1024}
    assert raw["dataset"] == {"path": "/kaggle/input/medical-qa/train.jsonl"}


def test_trl_parser_script_leaves_every_command_line_value_to_the_user():
    result = import_python_code(str(TUTORIALS / "trl_sft_script_trlparser.py"))
    assert result.raw == {"training": {}, "quantization": None, "dataset": {}, "model": {}}  # the usage docstring is no value
    not_read = "\n".join(result.not_read)
    assert "training: SFTConfig takes its values from the command line" in not_read
    assert "set model.name_or_path" in not_read and "set dataset.path" in not_read
    assert "peft_config=get_peft_config(model_args)" in not_read


def test_stanford_alpaca_training_arguments_subclass_and_transformers_trainer():
    result = import_python_code(str(TUTORIALS / "stanford_alpaca_train.py"))
    assert result.raw["model"] == {"name_or_path": "facebook/opt-125m"}  # ModelArguments' default
    assert result.raw["training"] == {"optim": "adamw_torch"}  # the subclass's default over the library's
    assert "lora" not in result.raw and result.raw["quantization"] is None
    not_read = "\n".join(result.not_read)
    assert "training.model_max_length = 512 (from TrainingArguments): not a setting of SFTConfig" in not_read
    assert "training: TrainingArguments takes its values from the command line" in not_read
    assert "a SupervisedDataset object" in not_read and "set dataset.path" in not_read


def test_course_reference_code_keeps_its_model_for_the_user():
    result = import_python_code(str(COURSE))
    assert result.raw["model"] == {}
    training = result.raw["training"]
    assert (training["learning_rate"], training["per_device_train_batch_size"], training["gradient_accumulation_steps"],
            training["num_train_epochs"], training["fp16"], training["bf16"], training["max_seq_length"],
            training["packing"], training["output_dir"]) == (2e-4, 4, 4, 3, True, False, 512, False, "./results")
    assert result.raw["dataset"] == {"template": "alpaca-zh", "format": "alpaca"}
    not_read = "\n".join(result.not_read)
    assert "model: SFTTrainer's model is model, not a literal id nor loaded from one in this file; set model.name_or_path" in not_read
    assert "Dataset.from_dict" in not_read and "lora:" in not_read


def write(tmp_path, code: str, name: str = "t.py") -> str:
    path = tmp_path / name
    path.write_text(code, encoding="utf-8")
    return str(path)


def test_the_value_in_force_at_the_training_call(tmp_path):
    code = """
import torch
from transformers import AutoModelForCausalLM
from peft import LoraConfig, TaskType
from trl import SFTConfig, SFTTrainer
lr = 1e-3
lr = 5e-5                      # re-bound before use: this one trains
DEBUG = False
epochs = 1 if DEBUG else 3     # a literal condition
name = "llama"
base = f"meta-llama/{name.title() if False else 'Llama-3.2-1B'}"
steps = 10 * 6
def build():
    rank = 32
    return LoraConfig(r=rank, lora_alpha=rank * 2, task_type=TaskType.CAUSAL_LM)
model = AutoModelForCausalLM.from_pretrained(base, torch_dtype=getattr(torch, "bfloat16"))
trainer = SFTTrainer(model=model, args=SFTConfig(learning_rate=lr, num_train_epochs=epochs, max_steps=steps,
                     output_dir=f"out-{name}"), peft_config=build())
trainer.train()
lr = 0.1
model = AutoModelForCausalLM.from_pretrained("my-finetuned-llama")
"""
    raw = import_python_code(write(tmp_path, code)).raw
    assert raw["training"] == {"learning_rate": 5e-5, "num_train_epochs": 3, "max_steps": 60, "output_dir": "out-llama"}
    assert raw["model"] == {"name_or_path": "meta-llama/Llama-3.2-1B", "dtype": "bfloat16"}
    assert raw["lora"] == {"r": 32, "lora_alpha": 64, "task_type": "CAUSAL_LM"}


def test_values_only_known_at_run_time_are_listed_never_guessed(tmp_path):
    code = """
import os, torch
from transformers import AutoModelForCausalLM, TrainingArguments
from trl import SFTTrainer
model_id = os.environ["MODEL_ID"]
if torch.cuda.is_bf16_supported():
    batch = 8
else:
    batch = 2
model = AutoModelForCausalLM.from_pretrained(model_id)
args = TrainingArguments(output_dir="o", per_device_train_batch_size=batch, learning_rate=float(os.getenv("LR", "2e-4")),
                         bf16=True if torch.cuda.is_available() else False)
trainer = SFTTrainer(model=model, args=args, train_dataset=make_dataset())
trainer.train()
"""
    result = import_python_code(write(tmp_path, code))
    assert result.raw["training"] == {"output_dir": "o"}
    assert "name_or_path" not in result.raw["model"]
    not_read = "\n".join(result.not_read)
    assert "training.per_device_train_batch_size = batch (set under `if torch.cuda.is_bf16_supported()`)" in not_read
    assert "training.learning_rate = float(os.getenv('LR', '2e-4'))" in not_read
    assert "training.bf16 = True if torch.cuda.is_available() else False" in not_read
    assert "the model id is not a literal" in not_read and "set dataset.path" in not_read


def test_notebook_cells_in_order_with_magics_and_markdown(tmp_path):
    cells = [{"cell_type": "markdown", "source": ["model_id = 'not code'"]},
             {"cell_type": "code", "source": ["%pip install trl\n", "model_id = 'a/first'\n"]},
             {"cell_type": "code", "source": "if True:\n    !nvidia-smi\n    model_id = 'b/second'\n"},
             {"cell_type": "code", "source": "%%bash\nmodel_id=c/shell\n"},
             {"cell_type": "code", "source": ["from trl import SFTConfig, SFTTrainer\n",
                                              "SFTTrainer(model=model_id, args=SFTConfig(learning_rate=3e-4)).train()"]}]
    path = write(tmp_path, json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}), "n.ipynb")
    raw = import_python_code(path).raw
    assert raw["model"] == {"name_or_path": "b/second"} and raw["training"] == {"learning_rate": 3e-4}


def test_a_notebook_that_writes_its_training_script_then_launches_it(tmp_path):
    script = "%%writefile train.py\nfrom trl import SFTTrainer\nSFTTrainer(model='Qwen/Qwen3-0.6B').train()\n"
    cells = [{"cell_type": "code", "source": "%%writefile accelerate.yaml\nnum_processes: 2\n"},
             {"cell_type": "code", "source": script},
             {"cell_type": "code", "source": "!accelerate launch --config_file accelerate.yaml train.py"}]
    path = write(tmp_path, json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": {}}), "n.ipynb")
    assert import_python_code(path).raw["model"] == {"name_or_path": "Qwen/Qwen3-0.6B"}


@pytest.mark.parametrize(("name", "text", "message"), [
    ("broken.ipynb", '{"cells": [', "not a readable notebook (invalid JSON at line 1"),
    ("list.ipynb", "[1, 2]", "not a Jupyter notebook"),
    ("cell.ipynb", json.dumps({"cells": [{"cell_type": "code", "source": "x = 1"},
                                         {"cell_type": "code", "source": "SFTTrainer(model=\n"}]}),
     "cell.ipynb: cell 2: not valid Python at line 1"),
    ("train.py", "def main(:\n    pass\n", "train.py: not valid Python at line 1"),
    ("data.csv", "instruction,input,output\nhello,there,world\n", "no training code found"),
    ("notes.txt", "Fine-tune Llama with LoRA r=16 and lr 2e-4.\n", "not valid Python at line 1"),
    ("deep.py", "x = " + "+".join(["1"] * 3000), "not Python code that sft-wizard can read"),
])
def test_bad_input_is_one_clear_user_error(tmp_path, name, text, message):
    with pytest.raises(UserError, match="^.*" + message.replace("(", r"\(")):
        import_python_code(write(tmp_path, text, name))


def test_import_of_an_unreadable_file_is_a_user_error(tmp_path):
    path = tmp_path / "binary.ipynb"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(UserError, match="cannot read"):
        import_python_code(str(path))


def test_imported_presets_validate(tmp_path):
    for path in sorted(TUTORIALS.iterdir()):
        imported = preset_from_code(str(path))
        problems = [p.text for p in imported.to_complete if p.field != "training.report_to"]  # no tensorboard here
        if path.name == "trl_sft_script_trlparser.py":  # names neither, so says so
            assert [p.field for p in imported.to_complete] == ["model.name_or_path", "dataset.path"]
        elif path.name == "stanford_alpaca_train.py":  # its data is read by its own Dataset class
            assert [p.field for p in imported.to_complete if p.field != "training.report_to"] == ["dataset.path"]
        else:
            assert problems == [], (path.name, problems)


def test_import_then_check_names_the_missing_model(tmp_path):
    out = tmp_path / "course.yaml"
    imported = run_command("import", str(COURSE), "--output", str(out))
    assert imported.returncode == 0, imported.stderr
    assert "SFTTrainer's model is model, not a literal id" in imported.stdout
    assert load_yaml(out.read_text())["model"]["name_or_path"] == ""
    checked = run_command("check", str(out))
    assert checked.returncode == 2 and "Traceback" not in checked.stderr
    assert "model.name_or_path is empty" in checked.stderr


def test_import_of_a_notebook_through_the_command_line(tmp_path):
    out = tmp_path / "unsloth.yaml"
    result = run_command("import", str(TUTORIALS / "unsloth_alpaca_colab.ipynb"), "--output", str(out))
    assert result.returncode == 0, result.stderr
    data = load_yaml(out.read_text())
    assert data["model"]["name_or_path"] == "unsloth/Meta-Llama-3.1-8B"
    assert data["lora"]["r"] == 16 and data["training"]["max_length"] == 2048
    assert "not read (4):" in result.stdout


@pytest.mark.parametrize(("load", "expected"), [
    ('load_dataset("json", data_files=["data/train.jsonl"], split="train")', {"path": "data/train.jsonl"}),
    ('load_dataset("csv", data_files={"train": "t.csv", "test": "v.csv"})["train"]', {"path": "t.csv"}),
    ('Dataset.from_json("rows.jsonl")', {"path": "rows.jsonl"}),
    ('load_dataset("HuggingFaceH4/no_robots", "default", split="train[:500]").shuffle(seed=1)',
     {"path": "HuggingFaceH4/no_robots", "subset": "default", "split": "train[:500]"}),
    ('load_dataset("json", data_files=files)', {}),
])
def test_where_the_training_data_comes_from(tmp_path, load, expected):
    code = f"from datasets import Dataset, load_dataset\nfrom trl import SFTTrainer\nds = {load}\n" \
           "SFTTrainer(model='m/m', train_dataset=ds).train()\n"
    result = import_python_code(write(tmp_path, code))
    assert result.raw["dataset"] == expected
    assert bool(expected) != any(line.startswith("dataset:") for line in result.not_read)


def test_functions_loops_and_try_blocks(tmp_path):
    code = """
import torch
from transformers import AutoModelForCausalLM
from trl import SFTConfig, SFTTrainer
def pick_dtype():
    if torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16
def load(name, rank=8):
    return AutoModelForCausalLM.from_pretrained(name, torch_dtype=pick_dtype()), rank
try:
    import flash_attn
    attention = "flash_attention_2"
except ImportError:
    attention = "sdpa"
for step in range(3):
    warmup = step
model, rank = load("Qwen/Qwen2.5-0.5B")
config = SFTConfig(output_dir="o", warmup_steps=warmup, seed=rank)
trainer = SFTTrainer(model=model, args=config)
trainer.train()
"""
    result = import_python_code(write(tmp_path, code))
    assert result.raw["model"] == {"name_or_path": "Qwen/Qwen2.5-0.5B"}
    assert result.raw["training"] == {"output_dir": "o", "seed": 8}
    not_read = "\n".join(result.not_read)
    assert "model.dtype = pick_dtype()" in not_read and "training.warmup_steps = warmup (set in a loop)" in not_read


def test_model_init_kwargs_when_the_trainer_loads_the_model_by_id(tmp_path):
    code = """
import torch
from transformers import BitsAndBytesConfig
from trl import SFTConfig, SFTTrainer
quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")
args = SFTConfig(output_dir="o", model_init_kwargs={"dtype": torch.float16, "quantization_config": quant,
                                                    "device_map": "auto"})
SFTTrainer(model="Qwen/Qwen2.5-0.5B-Instruct", args=args).train()
"""
    result = import_python_code(write(tmp_path, code))
    assert result.raw["model"] == {"name_or_path": "Qwen/Qwen2.5-0.5B-Instruct", "dtype": "float16"}
    assert result.raw["quantization"] == {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}
    assert result.raw["training"] == {"output_dir": "o"}
    assert [line for line in result.not_read if "model_init_kwargs" in line] == []


def test_subclasses_of_the_trainer_and_its_config(tmp_path):
    code = """
from dataclasses import dataclass
from trl import SFTConfig, SFTTrainer
@dataclass
class MyConfig(SFTConfig):
    learning_rate: float = 1e-4
    num_train_epochs: float = 2
class WeightedTrainer(SFTTrainer):
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
trainer = WeightedTrainer(model="Qwen/Qwen2.5-0.5B", args=MyConfig(output_dir="w", num_train_epochs=1))
trainer.train()
"""
    raw = import_python_code(write(tmp_path, code)).raw
    assert raw["model"] == {"name_or_path": "Qwen/Qwen2.5-0.5B"}
    assert raw["training"] == {"learning_rate": 1e-4, "num_train_epochs": 1, "output_dir": "w"}


def test_settings_changed_on_the_objects_before_training_count_and_after_do_not(tmp_path):
    code = """
from datasets import load_dataset
from transformers import AutoModelForCausalLM, TrainingArguments
from trl import SFTTrainer
model = AutoModelForCausalLM.from_pretrained("gpt2")
model.config.use_cache = False
model.is_parallelizable = True
args = TrainingArguments(output_dir="o", num_train_epochs=1)
args.learning_rate = 3e-5
trainer = SFTTrainer(model=model, args=args, train_dataset=load_dataset("json", data_files="d.jsonl")["train"])
trainer.args.num_train_epochs = 4
trainer.train()
trainer.args.num_train_epochs = 9
args.learning_rate = 1.0
"""
    result = import_python_code(write(tmp_path, code))
    assert result.raw["training"] == {"output_dir": "o", "num_train_epochs": 4, "learning_rate": 3e-5}
    assert result.raw["model"] == {"name_or_path": "gpt2"} and result.not_read == []
