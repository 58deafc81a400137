"""GGUF export: llama.cpp's converter on tiny-demo, the Ollama Modelfile's template, read-back answers, bad inputs."""

import json
import re
import shutil
import signal
from pathlib import Path

import pytest
from chat_templates import chat_tokenizer
from conftest import REPO, run_cli, run_command, wait_until

from engine.outputs.gguf.ollama_template import (
    CHECK_CONVERSATIONS,
    chat_template_format,
    chat_template_renderer,
    render_template,
)

DEMO_RUN = REPO / "tests" / "data" / "recorded-run" / "run.yaml"


@pytest.fixture
def full_run(tmp_path):
    """A full fine-tuning run directory: the recorded demo run's run.yaml and tiny-demo's weights as final/."""
    from engine.models.tiny_demo import ensure_tiny_demo

    run_dir = tmp_path / "full-run"
    run_dir.mkdir()
    shutil.copy(DEMO_RUN, run_dir / "run.yaml")
    shutil.copytree(ensure_tiny_demo(), run_dir / "final")
    return run_dir


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo preset trained briefly (LoRA on tiny-demo), as `scripts/demo.sh` does."""
    run_dir = tmp_path_factory.mktemp("runs") / "demo"
    result = run_cli("train", "demo", "--headless", "--output-dir", str(run_dir), "--set", "training.num_train_epochs=3")
    assert result.returncode == 0, result.stderr
    return run_dir


def test_the_vendored_converter_knows_llama_and_the_catalog_families():
    from engine.outputs.gguf.converter import VENDORED_DIR, converter_dir, known_architectures

    assert converter_dir() == VENDORED_DIR
    known = known_architectures()
    assert {"LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Gemma2ForCausalLM", "MistralForCausalLM"} <= known
    assert "NotARealModelForCausalLM" not in known


@pytest.mark.parametrize("family", ["tiny-demo", "llama3", "qwen3", "gemma", "phi3"])
def test_the_modelfile_template_renders_as_the_chat_template(family, tmp_path):
    from transformers import AutoTokenizer

    from engine.models.tiny_demo import ensure_tiny_demo

    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny_demo()) if family == "tiny-demo" else chat_tokenizer(family, tmp_path)
    layout = chat_template_format(tokenizer)
    assert layout is not None
    template = layout.template()
    compared = 0
    for messages in CHECK_CONVERSATIONS:
        if family == "gemma" and messages[0]["role"] == "system":
            continue
        expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # llama.cpp and Ollama add the BOS token themselves: the template leaves it out
        assert render_template(template, messages) == expected.removeprefix(tokenizer.bos_token or "")
        compared += 1
    assert compared >= 2


def test_a_template_with_a_default_system_prompt_is_left_to_the_gguf(tmp_path):
    # Qwen2.5 writes "You are Qwen..." when there is no system message: not a per-message layout.
    assert chat_template_format(chat_tokenizer("qwen2.5", tmp_path)) is None


@pytest.mark.parametrize(("template", "header"), [("alpaca-zh", "### 指令:"), ("alpaca-preamble", "### Instruction:")])
def test_the_alpaca_modelfile_renders_the_training_prompt(template, header):
    from transformers import AutoTokenizer

    from engine.data.source.convert import to_training_row
    from engine.models.tiny_demo import ensure_tiny_demo
    from engine.outputs.gguf.modelfile import modelfile_text, training_format

    layout, note = training_format(AutoTokenizer.from_pretrained(ensure_tiny_demo()), "alpaca", template)
    assert layout is not None, note
    modelfile = modelfile_text("model-q8_0.gguf", layout, "Be brief.")
    row = {"instruction": "法国的首都是哪里？", "input": "", "output": "", "system": "Be brief.", "history": [["hi", "hello"]]}
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"}, {"role": "user", "content": "法国的首都是哪里？"}]
    assert render_template(_modelfile_template(modelfile), messages) == to_training_row(row, "alpaca", template)["prompt"]
    assert 'SYSTEM """Be brief."""' in modelfile and f'PARAMETER stop "{header}"\n' in modelfile


def test_a_directory_that_is_not_a_run_is_refused(tmp_path):
    result = run_command("export", str(tmp_path), "--format", "gguf")
    assert result.returncode == 2
    assert "no run.yaml" in result.stderr and "Traceback" not in result.stderr


def test_a_run_without_final_is_refused(tmp_path):
    shutil.copy(DEMO_RUN, tmp_path / "run.yaml")
    result = run_command("export", str(tmp_path))
    assert result.returncode == 2
    assert "no finished model in final/" in result.stderr and "sft-wizard stop" in result.stderr


def test_an_architecture_the_converter_does_not_know_is_named(full_run):
    config = json.loads((full_run / "final" / "config.json").read_text())
    config["architectures"] = ["FancyNewForCausalLM"]
    (full_run / "final" / "config.json").write_text(json.dumps(config))
    result = run_command("export", str(full_run), "--quant", "f16")
    assert result.returncode == 2
    assert "FancyNewForCausalLM" in result.stderr and "LLAMA_CPP_DIR" in result.stderr
    assert not (full_run / "gguf").exists()


def test_more_tokens_than_embedding_rows_is_refused(full_run):
    config = json.loads((full_run / "final" / "config.json").read_text())
    config["vocab_size"] = 500
    (full_run / "final" / "config.json").write_text(json.dumps(config))
    result = run_command("export", str(full_run))
    assert result.returncode == 2
    assert "embedding has 500 rows" in result.stderr and "resize_token_embeddings" in result.stderr


def test_a_k_quant_without_a_quantiser_says_how_to_get_one(full_run, monkeypatch, tmp_path):
    monkeypatch.delenv("LLAMA_CPP_DIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    result = run_command("export", str(full_run), "--quant", "q4_k_m")
    assert result.returncode == 2
    assert "llama-quantize" in result.stderr and "--quant q8_0" in result.stderr


def test_too_little_disk_space_is_refused_with_the_sizes():
    from engine.outputs.gguf.preflight import check_free_space

    problem = check_free_space(4 * 2**30, 2**30, Path("/data"))
    assert problem is not None and "4.00 GiB" in problem and "1.00 GiB is free" in problem and "--output" in problem
    assert check_free_space(2**30, 2**30, Path("/data")) is None


@pytest.mark.slow
def test_an_interrupted_export_leaves_nothing_behind(full_run):
    from engine.outputs.gguf.export import export_gguf

    seen = []

    def interrupt_at_the_first_tensor(line: str) -> None:
        seen.append(line)
        if "→" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export_gguf(str(full_run), "f16", progress=interrupt_at_the_first_tensor)
    assert any("→" in line for line in seen)
    assert sorted(p.name for p in full_run.iterdir()) == ["final", "run.yaml"]


@pytest.mark.slow
def test_sigterm_during_conversion_stops_it_and_removes_the_partial_folder(full_run):
    """The signal arrives while the converter writes tensors (sent from the progress of the first one), never after."""
    import os

    from engine.cli.export import _interrupt
    from engine.outputs.gguf.export import export_gguf

    def signal_at_first_tensor(line: str) -> None:
        if "→" in line:
            os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, _interrupt)  # what `sft-wizard export` installs
    try:
        with pytest.raises(KeyboardInterrupt):  # the command line turns it into exit 130
            export_gguf(str(full_run), "f16", progress=signal_at_first_tensor)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert sorted(p.name for p in full_run.iterdir()) == ["final", "run.yaml"]


@pytest.mark.slow
def test_a_full_fine_tune_exports_final_directly(full_run):
    result = run_cli("export", str(full_run), "--quant", "f16", "--no-check")
    assert result.returncode == 0, result.stderr
    assert "merging" not in result.stdout
    assert re.search(r"token_embd\.weight → F16", result.stdout)  # progress: one line per tensor
    assert "39 tensors: 30 F16, 9 F32" in result.stdout
    assert sorted(p.name for p in (full_run / "gguf").iterdir()) == ["Modelfile", "README.md", "model-f16.gguf"]


@pytest.mark.slow
@pytest.mark.parametrize("quant", ["q8_0", "f16"])
def test_the_demo_exports_offline_and_answers_as_the_fine_tuned_model(demo_run, quant):
    output = demo_run.parent / f"gguf-{quant}"
    result = run_cli("export", str(demo_run), "--format", "gguf", "--quant", quant, "--output", str(output))
    assert result.returncode == 0, result.stderr
    answers = dict(re.findall(r"^  (fine-tuned|exported): +(.*)$", result.stdout, re.M))
    assert answers["fine-tuned"] == answers["exported"] and len(answers["fine-tuned"]) > 2, result.stdout
    assert "same greedy token ids" in result.stdout
    gguf = output / f"model-{quant}.gguf"
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf))
    assert reader.get_field("general.architecture").contents() == "llama"
    assert len(reader.tensors) == 39
    modelfile = (output / "Modelfile").read_text()
    assert modelfile.startswith(f"FROM ./model-{quant}.gguf\n")
    prompt = render_template(_modelfile_template(modelfile), [{"role": "user", "content": "What is the capital of France?"}])
    assert prompt == "### Instruction:\nWhat is the capital of France?\n\n### Response:\n"
    readme = (output / "README.md").read_text()
    assert "ollama create demo -f Modelfile" in readme
    # an alpaca run: llama.cpp gets the raw prompt in the alpaca format, never the tokenizer's chat template
    assert (f"llama-completion -m model-{quant}.gguf -no-cnv -n 128 -p '### Instruction:\\nWhat is the capital of France?"
            "\\n\\n### Response:\\n'") in readme
    assert "llama-cli -m" not in readme and "-cnv" not in readme.replace("-no-cnv", "")
    assert "/completion -d" in readme
    contents = f"39 tensors: 30 {quant.upper()}, 9 F32"  # the types the file holds, read with gguf's GGUFReader
    assert contents in readme and contents in result.stdout
    assert "de-quantizing" not in result.stdout + result.stderr  # transformers' GGUF loading bar


@pytest.mark.slow
async def test_the_monitor_exports_a_finished_run_with_g(demo_run):
    from textual.widgets import RichLog

    from tui.monitor.app import MonitorApp

    app = MonitorApp.attach(str(demo_run))
    async with app.run_test(size=(140, 44)) as pilot:
        log = app.monitor.query_one("#log", RichLog)

        def logged() -> str:  # the log wraps at its width, which depends on the layout when a line came: words only
            return " ".join(" ".join(line.text for line in log.lines).split())

        await wait_until(pilot, lambda: app.monitor.state.finished, 30, "the replayed run")
        await pilot.press("g")
        await wait_until(pilot, lambda: "GGUF written to" in logged(), 600, "the export's last line")
    assert "token_embd.weight → Q8_0" in logged() and "same answer" in logged()
    assert sorted(p.name for p in (demo_run / "gguf").iterdir()) == ["Modelfile", "README.md", "model-q8_0.gguf"]


def _modelfile_template(modelfile: str) -> str:
    """The TEMPLATE as Ollama's Modelfile parser reads it."""
    from engine.outputs.gguf.ollama_modelfile import parse_modelfile

    return dict(parse_modelfile(modelfile))["template"]


def test_chat_template_renderer_drops_the_bos_llama_cpp_adds(tmp_path):
    tokenizer = chat_tokenizer("llama3", tmp_path)
    text = chat_template_renderer(tokenizer)([{"role": "user", "content": "hi"}])
    assert not text.startswith("<|begin_of_text|>") and text.startswith("<|start_header_id|>user")


@pytest.mark.parametrize("systems, expected", [(["Be brief.", "Be brief."], "Be brief."), (["Be brief.", "Be long."], None),
                                               (["", ""], None)])
def test_the_system_prompt_every_training_row_shares_goes_in_the_modelfile(tmp_path, systems, expected):
    from engine.config.presets import load_preset
    from engine.outputs.gguf.system_prompt import shared_system_prompt

    rows = [{"messages": [{"role": "system", "content": s}, {"role": "user", "content": f"q{i}"},
                          {"role": "assistant", "content": f"a{i}"}] if s else
             [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i, s in enumerate(systems)]
    (tmp_path / "chat.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    preset = tmp_path / "p.yaml"
    preset.write_text("name: p\nmodel: {name_or_path: tiny-demo}\ndataset: {path: chat.jsonl, format: chat}\n"
                      "training: {output_dir: runs/p}\n", encoding="utf-8")
    config, _, _ = load_preset(str(preset))
    assert shared_system_prompt(config) == expected


def test_a_base_stored_in_4_bit_is_refused(full_run):
    config = json.loads((full_run / "final" / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True}
    (full_run / "final" / "config.json").write_text(json.dumps(config))
    result = run_command("export", str(full_run))
    assert result.returncode == 2
    assert "stored quantized (bitsandbytes)" in result.stderr and "16-bit original" in result.stderr


def test_a_converter_that_fails_after_writing_the_header_is_a_failure(tmp_path, monkeypatch):
    """llama.cpp's converter writes the GGUF header first: a crash leaves a file, which must not count as a GGUF."""
    from engine.errors import UserError
    from engine.outputs.gguf import converter

    outfile = tmp_path / "model-q8_0.gguf"

    def crashes_mid_tensor(command, env, on_line):
        outfile.write_bytes(b"GGUF\x03\x00\x00\x00")
        return ["writing blk.0.attn_q.weight", "Killed", "(exit code -9)"], -9

    monkeypatch.setattr(converter, "_stream", crashes_mid_tensor)
    with pytest.raises(UserError, match="converter failed"):
        converter.convert(tmp_path, outfile, "q8_0", "demo", progress=lambda line: None)


def test_the_vendored_converter_is_upstream_code_that_imports_nothing_of_sft_wizard():
    import ast

    from engine.outputs.gguf.converter import VENDORED_DIR

    assert VENDORED_DIR == REPO / "third_party" / "llama_cpp" and (VENDORED_DIR / "LICENSE").is_file()
    assert "0c1e57098" in (VENDORED_DIR / "SOURCE.md").read_text()
    assert not list(VENDORED_DIR.rglob("gguf_editor_gui.py")) and not (REPO / "engine" / "outputs" / "gguf" / "llama_cpp").exists()
    imported = set()
    for path in VENDORED_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    assert {"gguf", "conversion", "torch"} <= imported and not imported & {"engine", "tui", "third_party"}


@pytest.mark.parametrize("where", ["beneath a file", "in a read-only folder"])
def test_an_output_that_cannot_be_written_is_refused_and_nothing_is_left(full_run, tmp_path, where):
    import os

    if where == "beneath a file":
        (tmp_path / "a-file").write_text("")
        output = tmp_path / "a-file" / "gguf"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        (tmp_path / "read-only").mkdir(mode=0o555)
        output = tmp_path / "read-only" / "gguf"
    result = run_command("export", str(full_run), "--quant", "f16", "--output", str(output))
    assert result.returncode == 2, result.stderr
    assert f"--output {output}: cannot write there" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in full_run.iterdir()) == ["final", "run.yaml"]


def test_the_readme_of_a_chat_run_uses_the_chat_template_and_an_alpaca_run_the_raw_prompt(full_run):
    from engine.outputs.gguf.export import files_beside
    from engine.outputs.gguf.modelfile import RunUsage, readme_text
    from engine.outputs.gguf.preflight import export_source

    chat = readme_text("r", "m.gguf", "q8_0", "runs/r", RunUsage(True, "chat", "chat-template", "ignored"), ["1 tensors: 1 F32"], [])
    assert "`llama-cli -m m.gguf`" in chat and "`llama-server -m m.gguf`" in chat and "-no-cnv" not in chat
    beside = files_beside(export_source(full_run), "model-f16.gguf")  # the recorded demo run: alpaca
    assert beside.usage.example == "### Instruction:\nWhat is the capital of France?\n\n### Response:\n"
    alpaca = readme_text("r", "m.gguf", "f16", "runs/r", beside.usage, ["1 tensors: 1 F32"], [])
    assert "-no-cnv" in alpaca and "llama-cli -m" not in alpaca and "the alpaca prompt format, not on a chat template" in alpaca


def test_the_check_compares_token_ids_not_text():
    from engine.outputs.gguf.readback import AnswerCheck

    padded_vocabulary = AnswerCheck("q", ([1, 2], [5, 6]), ([1, 2], [5, 6]), "Paris", "Paris<unused>", "")
    assert padded_vocabulary.same and padded_vocabulary.difference() == ""
    other_answer = AnswerCheck("q", ([1, 2], [5, 6, 7]), ([1, 2], [5, 9]), "Paris", "Paris", "")
    assert not other_answer.same and other_answer.difference().startswith("answer token 1: fine-tuned 6, exported 9")
    other_prompt = AnswerCheck("q", ([1, 2], [5]), ([1, 3], [5]), "a", "a", "")
    assert other_prompt.difference().startswith("prompt token 1")


@pytest.mark.parametrize("quant, fine", [("q8_0", False), ("q4_k_m", True)])
def test_different_ids_fail_the_export_unless_it_is_a_k_quant(monkeypatch, capsys, tmp_path, quant, fine):
    from types import SimpleNamespace

    from engine.cli import export as command
    from engine.outputs.gguf import readback

    differs = readback.AnswerCheck("q", ([1], [5, 6]), ([1], [5, 7]), "same text", "same text", "cpu")
    monkeypatch.setattr(readback, "compare_answers", lambda run_dir, gguf, prompt: differs)
    assert command._print_answers(SimpleNamespace(run_dir=tmp_path, gguf=tmp_path / "m.gguf", folder=tmp_path), "q", quant) is fine
    out, err = capsys.readouterr()
    assert "answer token 1: fine-tuned 6, exported 7" in out + err
    assert ("must not" in err) is not fine


def test_llama_quantizes_fallback_warnings_are_reported(tmp_path, monkeypatch):
    """Lines as llama-quantize (llama.cpp 0c1e57098, built from the vendored commit) printed them for tiny-demo."""
    from engine.outputs.gguf import converter

    printed = [
        "warning: blk.2.attn_v.weight                  - ncols    128 not divisible by 256 (required for type    q6_K) "
        "-> falling back to    q8_0",
        "[   1/  39]                        output.weight - [   128,    928,      1,      1], type =    f16, "
        "converting to q8_0 .. size =     0.23 MiB ->     0.12 MiB",
        "llama_model_quantize_impl: WARNING: 29 of 39 tensor(s) required fallback quantization",
    ]
    outfile = tmp_path / "model-q4_k_m.gguf"

    def quantiser_run(command, env, on_line):
        for line in printed:
            on_line(line)
        outfile.write_bytes(b"GGUF")
        return printed, 0

    monkeypatch.setattr(converter, "_stream", quantiser_run)
    monkeypatch.setattr(converter, "find_quantiser", lambda: "/usr/bin/llama-quantize")
    progress = []
    warnings = converter.quantise(tmp_path / "model-f16.gguf", outfile, "q4_k_m", progress.append)
    assert len(warnings) == 2 and warnings[-1].endswith("WARNING: 29 of 39 tensor(s) required fallback quantization")
    assert warnings[0] == ("warning: blk.2.attn_v.weight - ncols 128 not divisible by 256 (required for type q6_K) "
                           "-> falling back to q8_0")
    assert any("falling back to q8_0" in line for line in progress)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("llama-quantize") is None, reason="needs llama.cpp's llama-quantize on PATH")
def test_a_q4_k_m_export_says_which_tensor_types_the_file_really_holds(full_run):
    result = run_cli("export", str(full_run), "--quant", "q4_k_m", "--no-check")
    assert result.returncode == 0, result.stderr
    from gguf import GGUFReader

    from engine.outputs.gguf.readback import read_summary

    held = read_summary(full_run / "gguf" / "model-q4_k_m.gguf").lines()[1]  # e.g. "39 tensors: 25 Q5_0, 9 F32, 5 Q8_0"
    assert len(GGUFReader(str(full_run / "gguf" / "model-q4_k_m.gguf")).tensors) == 39
    readme = (full_run / "gguf" / "README.md").read_text()
    assert held in result.stdout and held in readme
    assert "required fallback quantization" in result.stdout and "falling back to" in readme
