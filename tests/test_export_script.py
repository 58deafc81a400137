"""export-script: the exported script turns rows into training text with the engine's own code, and stands alone."""

import ast
import builtins
import json
import runpy
import symtable

import pytest
from conftest import write_preset

from engine.config.presets import load_preset
from engine.data.formats import _SHAREGPT_ROLES, resolve_format, resolve_template, to_training_row
from engine.data.prepare import prepare_data
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


def test_exported_script_imports_only_training_libraries(tmp_path):
    script, _ = exported(tmp_path, "{path: data.jsonl}")
    tree = ast.parse(script.read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {name.split(".")[0] for name in imported} == {"torch", "datasets", "peft", "transformers", "trl"}


def test_every_name_the_exported_script_uses_is_defined_in_it(tmp_path):
    script, _ = exported(tmp_path, "{path: data.jsonl}")
    module = symtable.symtable(script.read_text(encoding="utf-8"), str(script), "exec")
    defined = {s.get_name() for s in module.get_symbols() if s.is_assigned() or s.is_imported()}
    assert global_names_used(module) - defined - set(dir(builtins)) == set()


def global_names_used(table):
    """Every global or builtin name the functions (and lambdas) in a symbol table read."""
    names = {s.get_name() for s in table.get_symbols() if s.is_global() and s.is_referenced()}
    return names.union(*(global_names_used(child) for child in table.get_children()))
