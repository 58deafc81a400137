"""The memory estimator: accuracy on published measurements, verdicts, recommendations, the command."""

import json
import subprocess
import sys

import pytest
from conftest import REPO, run_command, write_preset

from engine.config.parsing import load_config_text
from engine.fit.calibration import error_table
from engine.fit.verdicts import Target, fit_report, parse_gpu_memory
from engine.models.structure import catalog_entry, structure_for_config
from engine.units import GIB

REFERENCE = REPO / "tests" / "data" / "vram-measured.csv"  # a copy of shared/reference/vram-measured.csv

QLORA_8B = """
name: q8
model: {name_or_path: meta-llama/Llama-3.1-8B-Instruct}
quantization: {load_in_4bit: true, bnb_4bit_quant_type: nf4, bnb_4bit_use_double_quant: true}
lora: {r: 16, target_modules: all-linear}
dataset: {path: x.jsonl}
training: {per_device_train_batch_size: 8, gradient_accumulation_steps: 2, max_length: 2048, optim: paged_adamw_8bit}
"""


def test_estimator_error_on_published_measurements(capsys):
    table = error_table(REFERENCE)
    errors = [abs(e) for _, _, e in table]
    mape = sum(errors) / len(errors)
    with capsys.disabled():
        print(f"\nestimator vs vram-measured.csv: MAPE {mape:.1%}, worst {max(errors):.1%} over {len(errors)} rows")
    assert len(table) >= 11
    assert mape <= 0.15
    assert max(errors) <= 0.35


def test_breakdown_sums_to_the_total_and_names_every_term():
    config, _ = load_config_text(QLORA_8B, "q8")
    report = fit_report(config, structure_for_config(catalog_entry(config.model.name_or_path)["config"]),
                        [Target("24G", 24 * GIB, False)])
    assert sum(report.estimate.breakdown.values()) == report.estimate.total_bytes
    assert {"weights", "gradients", "optimizer_states", "activations", "logits_and_loss", "cuda_context"} <= set(report.estimate.breakdown)


def test_longer_sequences_and_bigger_batches_need_more_memory_and_checkpointing_less():
    config, _ = load_config_text(QLORA_8B, "q8")
    structure = structure_for_config(catalog_entry(config.model.name_or_path)["config"])
    total = lambda cfg: fit_report(cfg, structure, []).estimate.total_bytes  # noqa: E731
    longer = config.copy(); longer.training["max_length"] = 4096
    no_ckpt = config.copy(); no_ckpt.training["activation_checkpointing"] = False
    assert total(longer) > total(config) < total(no_ckpt)


def test_recommendation_keeps_the_effective_batch_size():
    config, _ = load_config_text(QLORA_8B, "q8")
    structure = structure_for_config(catalog_entry(config.model.name_or_path)["config"])
    # with TRL's fused LM head 8 × 2048 tokens of an 8B QLoRA fit 24 GiB; 12 GiB needs a smaller micro-batch
    report = fit_report(config, structure, [Target("12G", 12 * GIB, False)])
    assert report.verdicts[0].status == "does not fit"
    first = report.recommendations[0]
    batch = int(first.overrides[0].split("=")[1])
    accumulation = int(first.overrides[1].split("=")[1])
    assert batch * accumulation == 16 and batch < 8
    assert first.total_bytes <= 12 * GIB * 0.9


def test_a_big_gpu_with_a_tiny_batch_gets_a_bigger_batch_suggested():
    config, _ = load_config_text(QLORA_8B.replace("per_device_train_batch_size: 8, gradient_accumulation_steps: 2",
                                                  "per_device_train_batch_size: 1, gradient_accumulation_steps: 16"), "q8")
    structure = structure_for_config(catalog_entry(config.model.name_or_path)["config"])
    report = fit_report(config, structure, [parse_gpu_memory("H100-80G")])
    assert report.verdicts[0].status == "fits"
    assert "raise per_device_train_batch_size" in report.recommendations[0].description


def test_gpu_memory_sizes_and_names():
    assert parse_gpu_memory("24GiB").capacity_bytes == 24 * GIB
    assert parse_gpu_memory("16000MiB").capacity_bytes == 16000 * 2**20
    assert parse_gpu_memory("a100-80g").capacity_bytes == 80 * GIB


def test_estimate_json_for_a_local_directory_with_only_config_json(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(catalog_entry("Qwen/Qwen2.5-0.5B-Instruct")["config"]))
    preset = write_preset(tmp_path, f"model: {{name_or_path: {model_dir}}}\ndataset: {{path: x.jsonl}}\nlora: {{r: 8}}\n")
    result = run_command("estimate", str(preset), "--json", "--gpu-memory", "T4")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["total_bytes"] == sum(data["breakdown"].values())
    assert data["verdicts"][0]["gpu"] == "T4" and data["verdicts"][0]["status"] in ("fits", "tight", "does not fit")


@pytest.mark.slow
def test_estimate_for_a_70b_qlora_preset_needs_no_torch(tmp_path):
    preset = write_preset(tmp_path, QLORA_8B.replace("meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.3-70B-Instruct"))
    code = ("import sys, json\nfrom engine.cli.main import main\nrc = main(['estimate', sys.argv[1], '--json', '--gpu-memory', 'A100-80G'])\n"
            "print('HEAVY', [m for m in ('torch', 'trl', 'transformers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code, str(preset)], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in out.stdout, out.stderr
    assert json.loads(out.stdout.split("HEAVY")[0])["total_bytes"] > 40 * GIB


def test_estimate_names_unknown_lora_targets():
    result = run_command("estimate", "qlora-8b-24gb", "--set", "lora.target_modules=[wq]")
    assert result.returncode == 2 and "q_proj" in result.stderr and "Traceback" not in result.stderr


def test_estimator_generalises_to_published_rows_never_used_for_fitting():
    from engine.fit.calibration import errors, fit_constants, load_rows
    from engine.fit.estimate import CONSTANTS

    published = REPO / "benchmarks" / "data" / "vram-published.csv"
    rows = load_rows([REFERENCE, published])
    fit = [r for r in rows if r.split == "fit"]
    held_out = [r for r in rows if r.split == "held-out"]
    assert len(held_out) * 3 >= len(rows) - 2  # about a third is held out
    assert fit_constants(fit) == CONSTANTS  # the constants in use come from the fit rows alone
    held = [abs(e) for e in errors(held_out, CONSTANTS)]
    assert sum(held) / len(held) <= 0.10 and max(held) <= 0.25
    import csv

    with open(published, encoding="utf-8") as handle:
        assert all(row["source"] and row["split"] in ("fit", "held-out") for row in csv.DictReader(handle))
