"""export-script: the exported script turns rows into training text with the engine's own code, and stands alone."""

import ast
import builtins
import json
import runpy
import subprocess
import symtable
import sys

import pytest
from conftest import DEMO_DATA, PRESETS, REPO, force_fp16_amp, run_cli, write_preset

from engine.config.presets import load_preset
from engine.data.pipeline import prepare_data
from engine.data.source.check import resolve_format
from engine.data.source.convert import _SHAREGPT_ROLES, to_training_row
from engine.data.source.formats import resolve_template
from engine.machine.hardware import hardware_report
from engine.outputs.script import export_script

SHAREGPT_ROWS = [
    {"conversations": [{"from": role, "value": f"a {role} turn"} for role in _SHAREGPT_ROLES]},
    {"conversations": [{"from": "narrator", "value": "a role the engine does not know"},
                       {"from": "gpt", "value": "ok"}]},
]
ALPACA_ROWS = [
    {"instruction": "Add the numbers.", "input": "2 and 2", "output": "4"},
    {"instruction": "Say hello.", "input": "", "output": "hello"},
    {"instruction": "Say goodbye.", "output": "goodbye"},
]


def write_jsonl(path, rows):
    """Write rows as a JSONL data file."""
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def exported(tmp_path, dataset_yaml):
    """The script export-script prints for tiny-demo with this dataset section, saved to a file."""
    preset = write_preset(tmp_path, f"name: t\nmodel: {{name_or_path: tiny-demo}}\ndataset: {dataset_yaml}\n")
    config, _, _ = load_preset(str(preset))
    script = tmp_path / "train.py"
    script.write_text(export_script(config, hardware_report()), encoding="utf-8")
    return script, config


def script_namespace(script):
    """The exported script's module-level names, defined without running its training."""
    namespace = runpy.run_path(str(script), run_name="exported_script")
    assert "trainer" not in namespace and callable(namespace["main"])
    return namespace


def engine_rows(rows, dataset):
    """The rows the engine trains on: to_training_row with the format and template it resolves."""
    from datasets import Dataset

    table = Dataset.from_list(rows)
    fmt = resolve_format(table, dataset, "test data")
    template = resolve_template(fmt, dataset.template)
    return [to_training_row(row, fmt, template) for row in table]


@pytest.mark.parametrize("rows, format_and_template", [
    (SHAREGPT_ROWS, "format: auto, template: auto"),
    (SHAREGPT_ROWS, "format: sharegpt, template: chat-template"),
    (ALPACA_ROWS, "format: alpaca, template: alpaca"),
    (ALPACA_ROWS, "format: auto, template: alpaca-zh"),
], ids=["sharegpt-auto", "sharegpt", "alpaca", "alpaca-zh-auto"])
def test_exported_script_converts_rows_exactly_as_the_engine_does(tmp_path, rows, format_and_template):
    data = write_jsonl(tmp_path / "data.jsonl", rows)
    script, config = exported(tmp_path, f"{{path: {data}, {format_and_template}}}")
    namespace = script_namespace(script)
    assert namespace["DATA_FILE"] == str(data)
    assert list(namespace["load"](namespace["DATA_FILE"])) == engine_rows(rows, config.dataset)


def test_exported_script_maps_every_sharegpt_role_the_engine_knows(tmp_path):
    data = write_jsonl(tmp_path / "data.jsonl", SHAREGPT_ROWS)
    script, _ = exported(tmp_path, f"{{path: {data}}}")
    messages = list(script_namespace(script)["load"](str(data)))[0]["messages"]
    assert [m["role"] for m in messages] == list(_SHAREGPT_ROLES.values())


def test_exported_script_applies_the_column_mapping_as_train_does(tmp_path):
    rows = [{"question": "2+2?", "answer": "4", "output": "an old column the mapping replaces"}]
    data = write_jsonl(tmp_path / "data.jsonl", rows)
    script, config = exported(tmp_path, f"{{path: {data}, columns: {{instruction: question, output: answer}}}}")
    assert list(script_namespace(script)["load"](str(data))) == list(prepare_data(config.dataset).train)


@pytest.mark.parametrize("name", ["openai-chat-tools.jsonl", "llamafactory-sharegpt-tools.json",
                                  "llamafactory-alpaca-history.json", "question-answer.jsonl",
                                  "trl-prompt-completion-conversational.jsonl", "dolly.jsonl", "oasst-flat.jsonl",
                                  "openai-chat-weight.jsonl.gz", "axolotl-chat-train.jsonl",
                                  "axolotl-input-output.jsonl"])
def test_exported_script_converts_tools_history_and_usual_pairs_as_the_engine_does(tmp_path, name):
    data = REPO / "tests" / "data" / "shapes" / name
    script, config = exported(tmp_path, f"{{path: {data}}}")
    assert list(script_namespace(script)["load"](str(data))) == list(prepare_data(config.dataset).train)


def test_exported_script_imports_only_training_libraries(tmp_path):
    script, _ = exported(tmp_path, "{path: data.jsonl}")
    tree = ast.parse(script.read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    outside_stdlib = {name.split(".")[0] for name in imported} - set(sys.stdlib_module_names)
    # huggingface_hub (a dependency of transformers) gives the Hub-kernels rule the cache folder and offline mode
    assert outside_stdlib == {"torch", "datasets", "peft", "transformers", "trl", "huggingface_hub"}


def shape_rows(name):
    """The rows of a JSONL file in tests/data/shapes."""
    text = (REPO / "tests" / "data" / "shapes" / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("rows, training", [
    (SHAREGPT_ROWS, "{}"), (SHAREGPT_ROWS, "{assistant_only_loss: false}"),
    (ALPACA_ROWS, "{}"), (ALPACA_ROWS, "{completion_only_loss: false, max_length: 40}"),
    (shape_rows("axolotl-chat-train.jsonl"), "{}"), (shape_rows("openai-chat-weight.jsonl"), "{}"),
    (shape_rows("axolotl-input-output.jsonl"), "{}"),
], ids=["chat", "chat-whole", "alpaca", "alpaca-whole-cut", "axolotl-train", "openai-weight", "input-output"])
def test_exported_script_learns_the_tokens_the_engine_trains_on(tmp_path, rows, training):
    theirs, ours, _ = script_and_engine_labels(tmp_path, rows, "", training)
    assert theirs["input_ids"] == ours["input_ids"] and theirs["labels"] == ours["labels"]


def script_and_engine_labels(tmp_path, rows: list, dataset: str, training: str = "{}"):
    """The exported script's input_ids and labels of the rows, the engine's, and the tokenizer both used."""
    from datasets import Dataset

    from engine.data.pipeline import prepare_for_training
    from engine.models.hub import load_tokenizer

    data = write_jsonl(tmp_path / "data.jsonl", rows)
    preset = write_preset(tmp_path, f"name: t\nmodel: {{name_or_path: tiny-demo}}\ndataset: {{path: {data}{dataset}}}\n"
                                    f"training: {training}\n")
    config, _, _ = load_preset(str(preset))
    script = tmp_path / "train.py"
    script.write_text(export_script(config, hardware_report()), encoding="utf-8")
    namespace = script_namespace(script)
    tokenizer = load_tokenizer(config.model)
    theirs = namespace["labelled"](namespace["to_training_rows"](Dataset.from_list(rows)), tokenizer)
    return theirs, prepare_for_training(config, tokenizer).trained, tokenizer


def test_every_name_the_exported_script_uses_is_defined_in_it(tmp_path):
    script, _ = exported(tmp_path, "{path: data.jsonl}")
    module = symtable.symtable(script.read_text(encoding="utf-8"), str(script), "exec")
    defined = {s.get_name() for s in module.get_symbols() if s.is_assigned() or s.is_imported()}
    assert global_names_used(module) - defined - set(dir(builtins)) == set()


def global_names_used(table):
    """Every global or builtin name the functions (and lambdas) in a symbol table read."""
    names = {s.get_name() for s in table.get_symbols() if s.is_global() and s.is_referenced()}
    return names.union(*(global_names_used(child) for child in table.get_children()))


@pytest.mark.parametrize("capability, gpu", [((7, 5), "t4"), ((8, 0), "a100"), (None, None)])
@pytest.mark.parametrize("preset", sorted(path.stem for path in PRESETS.glob("*.yaml")))
def test_the_script_decides_precision_where_it_runs_as_the_engine_would_there(preset, capability, gpu, tmp_path,
                                                                             monkeypatch):
    """Exported on this CPU machine, run on a T4, an A100 or a CPU: the engine's decision for that machine."""
    import fake_nvml
    import torch

    from engine.config.resolve import resolve_precision

    config, _, _ = load_preset(preset)
    script = tmp_path / "train.py"
    script.write_text(export_script(config, hardware_report()), encoding="utf-8")
    namespace = script_namespace(script)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: capability is not None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *args: capability)
    dtype, mixed, fields = namespace["precision_here"]()
    there = hardware_report(fake_nvml.FakeNvml([getattr(fake_nvml, gpu)()]) if gpu else fake_nvml.FakeNvml([]))
    engine_decision, _ = resolve_precision(config, there)
    assert (dtype, mixed) == (getattr(torch, engine_decision.dtype), engine_decision.mixed)
    assert fields["use_cpu"] is (capability is None) and fields["fp16"] is (mixed == "fp16")
    assert fields.get("tf32", False) is (capability == (8, 0) and engine_decision.tf32)


def test_the_script_keeps_fp16_trainable_weights_in_fp32(tmp_path):
    import torch

    script, _ = exported(tmp_path, "{path: data.jsonl}")
    namespace = script_namespace(script)
    layer = torch.nn.Linear(2, 2).half()
    frozen = torch.nn.Linear(2, 2).half().requires_grad_(False)
    assert namespace["trainable_in_fp32"](torch.nn.Sequential(layer, frozen)) == 2
    assert layer.weight.dtype == torch.float32 and frozen.weight.dtype == torch.float16
    assert "trainable_in_fp32(trainer.model)" in script.read_text()


ON_TINY_DEMO = ["model.name_or_path=tiny-demo", f"dataset.path={DEMO_DATA}"]
"""Overrides that make a preset's exported script load tiny-demo (built by the tiny_demo fixture) and the demo data."""
GPUS = {"t4": (7, 5), "a100": (8, 0), "cpu": None}


def fake_cuda(monkeypatch, capability):
    """torch.cuda as the script sees it on a GPU of this compute capability (None: no GPU)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: capability is not None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *args: capability)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


@pytest.fixture
def tiny_demo():
    """tiny-demo built where the exported script looks for it."""
    from engine.models.tiny_demo import ensure_tiny_demo

    ensure_tiny_demo()


class Loaded(Exception):
    """Stops the script's main() once it has asked for its model."""


@pytest.mark.parametrize("gpu", GPUS)
@pytest.mark.parametrize("preset", ["qlora-8b-24gb", "course-module7", "lora-3b-bf16"])
def test_the_script_loads_its_model_for_the_machine_it_runs_on(preset, gpu, tmp_path, monkeypatch, tiny_demo):
    """Exported on this CPU machine: dtype, 4-bit compute dtype and device map are those of a T4, an A100 or a CPU."""
    import torch

    from engine.machine.precision import PrecisionDecision
    from engine.models.loading import quantization_config

    config, _, _ = load_preset(preset, ON_TINY_DEMO)
    script = tmp_path / "train.py"
    script.write_text(export_script(config, hardware_report()), encoding="utf-8")
    main = script_namespace(script)["main"]
    asked = {}

    def from_pretrained(location, **kwargs):
        asked.update(kwargs)
        raise Loaded

    monkeypatch.setattr(main.__globals__["AutoModelForCausalLM"], "from_pretrained", from_pretrained)
    fake_cuda(monkeypatch, GPUS[gpu])
    with pytest.raises(Loaded):
        main()
    dtype, _, _ = main.__globals__["precision_here"]()
    assert asked["dtype"] == dtype
    quantized = asked["quantization_config"]
    assert asked["device_map"] == ({"": 0} if quantized is not None and gpu != "cpu" else None)
    if quantized is not None:  # the 4-bit layers compute and store as sft-wizard's own loading has them there
        ours = quantization_config(config.quantization, PrecisionDecision(str(dtype).removeprefix("torch."), "", False, ""))
        assert (quantized.bnb_4bit_compute_dtype, quantized.bnb_4bit_quant_storage) == \
            (ours.bnb_4bit_compute_dtype, ours.bnb_4bit_quant_storage)
        assert quantized.bnb_4bit_compute_dtype == (torch.float16 if preset == "course-module7" else dtype)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["qlora-8b-24gb", "demo"])
def test_the_script_run_as_on_a_t4_gives_the_fp16_scaler_fp32_gradients_only(preset, tmp_path, monkeypatch,
                                                                              tiny_demo):
    """main() as on a T4 (its own precision decision, accelerate's fp16 scaler forced on), on this CPU."""
    import torch

    one_step = ["training.max_steps=1", "training.gradient_accumulation_steps=1", "training.eval_strategy=no",
                "training.save_strategy=no", "training.optim=adamw_torch", f"training.output_dir={tmp_path / 'run'}"]
    config, _, _ = load_preset(preset, ON_TINY_DEMO + one_step)
    script = tmp_path / "train.py"
    script.write_text(export_script(config, hardware_report()), encoding="utf-8")
    namespace = script_namespace(script)["main"].__globals__
    decide, real_trainer, unscaled = namespace["precision_here"], namespace["SFTTrainer"], []

    def on_a_t4():
        with monkeypatch.context() as cuda:
            fake_cuda(cuda, GPUS["t4"])
            dtype, mixed, fields = decide()
        assert (dtype, mixed, fields) == (torch.float16, "fp16", {"bf16": False, "fp16": True, "use_cpu": False,
                                                                  "tf32": False})
        return dtype, mixed, {"bf16": False, "fp16": True, "use_cpu": True}  # trains here, on the CPU

    class SFTTrainer(real_trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            unscaled.append(force_fp16_amp(self.accelerator, monkeypatch))  # filled during train()

    monkeypatch.setitem(namespace, "precision_here", on_a_t4)
    monkeypatch.setitem(namespace, "SFTTrainer", SFTTrainer)
    namespace["main"]()
    assert unscaled == [{torch.float32}] and (tmp_path / "run" / "final").is_dir()


def test_exported_script_maps_message_keys_and_learns_the_chosen_turns_as_the_engine_does(tmp_path):
    rows = [{"dialogue": [{"speaker": "customer", "text": "Hi"}, {"speaker": "agent", "text": "Hello!"},
                          {"speaker": "customer", "text": "Bye"}, {"speaker": "agent", "text": "Goodbye!"}]}]
    theirs, ours, tokenizer = script_and_engine_labels(
        tmp_path, rows, ", format: chat, columns: {messages: dialogue}, message_keys: {role: speaker, content: text}, "
                        "roles: {user: customer, assistant: [agent]}, roles_to_train: [user, assistant], train_on_eos: last")
    assert theirs["input_ids"] == ours["input_ids"] and theirs["labels"] == ours["labels"]
    learned = tokenizer.decode([t for t in ours["labels"][0] if t != -100])
    assert "Hi" in learned and "Goodbye!</s>" in learned and "Hello!</s>" not in learned


@pytest.mark.slow
def test_exported_script_runs_with_trl_directly(tmp_path):
    from engine.models.tiny_demo import ensure_tiny_demo

    ensure_tiny_demo()  # the script names tiny-demo's folder; export-script itself never builds it
    out_dir = tmp_path / "exported"
    result = run_cli("export-script", "demo", "--set", "training.num_train_epochs=1",
                     "--set", f"training.output_dir={out_dir}")
    assert result.returncode == 0, result.stderr
    script = tmp_path / "train.py"
    script.write_text(result.stdout)
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert (out_dir / "final" / "adapter_model.safetensors").is_file()
