"""The `distributed:` section, its rules, the per-GPU estimate and the multi-node launch files (no training)."""

import subprocess

import pytest
from conftest import MINIMAL, run_cli, run_command, write_preset

from engine.config.parsing import load_config_text
from engine.errors import UserError

QLORA = MINIMAL + "lora: {r: 8}\nquantization: {load_in_4bit: true, bnb_4bit_quant_type: nf4}\n"


def test_the_section_round_trips_and_is_left_out_when_default():
    config, _ = load_config_text(MINIMAL + "distributed: {processes: 4, strategy: fsdp}\n", "p")
    assert (config.distributed.processes, config.distributed.strategy) == (4, "fsdp")
    assert config.to_dict()["distributed"] == {"processes": 4, "strategy": "fsdp"}
    assert "distributed" not in load_config_text(MINIMAL, "p")[0].to_dict()


@pytest.mark.parametrize("section, expected", [
    ("{strategy: fdsp}", "is not one of ddp, fsdp, zero3. Did you mean fsdp"),
    ("{processes: 0}", "distributed.processes = 0 must be 1 or more"),
    ("{processes: 2, fsdp_version: 3}", "fsdp_version = 3 must be 1 or 2"),
    ("{procs: 2}", "unknown key `procs` in `distributed`"),
])
def test_bad_distributed_settings_are_named(section, expected):
    with pytest.raises(UserError) as caught:
        load_config_text(MINIMAL + f"distributed: {section}\n", "p")
    assert expected in str(caught.value)


def test_qlora_shards_only_where_the_libraries_support_it():
    def problems(text):
        try:
            load_config_text(text, "p")
        except UserError as exc:
            return str(exc)
        return ""

    fsdp = "distributed: {processes: 2, strategy: fsdp}\n"
    assert "bnb_4bit_quant_storage=bfloat16" in problems(QLORA + fsdp)
    assert "fsdp_version=1" in problems(QLORA + fsdp)
    storage = QLORA.replace("nf4}", "nf4, bnb_4bit_quant_storage: bfloat16}")
    assert problems(storage + "distributed: {processes: 2, strategy: fsdp, fsdp_version: 1}\n") == ""
    assert problems(storage + "distributed: {processes: 2, strategy: zero3}\n") == ""
    assert "8-bit model cannot be sharded" in problems(MINIMAL + "quantization: {load_in_8bit: true}\n" + fsdp)
    assert problems(QLORA + "distributed: {processes: 2}\n") == ""  # DDP: a 4-bit copy on each GPU


def test_zero3_without_deepspeed_and_sharding_without_gpus_are_refused_before_anything_is_written():
    from fake_nvml import FakeNvml, a100

    from engine.config.rules import check_hardware_rules
    from engine.machine.hardware import hardware_report

    config, _ = load_config_text(MINIMAL + "distributed: {processes: 2, strategy: zero3}\n", "p")
    two = [a100("GPU-a100-1111"), a100("GPU-a100-2222")]
    gpus = check_hardware_rules(config, hardware_report(FakeNvml(two)), "p")
    import importlib.util

    if importlib.util.find_spec("deepspeed") is None:
        assert any("needs DeepSpeed, which is not installed" in str(p) and p.field == "distributed.strategy" for p in gpus)
    config.distributed.strategy = "fsdp"
    assert check_hardware_rules(config, hardware_report(FakeNvml(two)), "p") == []
    cpu = check_hardware_rules(config, hardware_report(FakeNvml([])), "p")
    assert any("shards the model across GPUs, and this machine has none" in str(p) for p in cpu)


def test_a_refused_strategy_leaves_no_run_directory(tmp_path):
    preset = write_preset(tmp_path, MINIMAL)
    result = run_command("train", str(preset), "--headless", "--processes", "2", "--set", "distributed.strategy=zero3",
                         "--output-dir", str(tmp_path / "run"))
    assert result.returncode == 2 and "distributed.strategy zero3" in result.stderr
    assert not (tmp_path / "run").exists()


def test_the_estimate_is_per_gpu_full_copy_for_ddp_sharded_for_fsdp():
    from engine.config.run_config import RunConfig
    from engine.fit.verdicts import fit_report, parse_gpu_memory
    from engine.models.structure import model_structure

    config, _ = load_config_text(MINIMAL.replace("tiny-demo", "meta-llama/Llama-3.1-8B-Instruct"), "p")
    structure = model_structure(config.model)
    target = [parse_gpu_memory("24GiB")]

    def estimate(processes, strategy):
        copy: RunConfig = config.copy()
        copy.distributed.processes, copy.distributed.strategy = processes, strategy
        return fit_report(copy, structure, target, "bf16")

    one, ddp, fsdp = estimate(1, "ddp"), estimate(2, "ddp"), estimate(2, "fsdp")
    assert ddp.estimate.breakdown["weights"] == one.estimate.breakdown["weights"]
    assert ddp.estimate.breakdown["ddp_gradient_buckets"] == ddp.estimate.breakdown["gradients"]
    assert fsdp.estimate.breakdown["weights"] == one.estimate.breakdown["weights"] // 2
    assert fsdp.estimate.total_bytes < ddp.estimate.total_bytes
    assert any(r.overrides == ["distributed.strategy=fsdp"] for r in ddp.recommendations)
    assert ddp.to_dict()["per_gpu_of"] == 2 and fsdp.to_dict()["strategy"] == "fsdp"


def test_gpus_needs_a_gpu_and_processes_a_count(tmp_path):
    preset = write_preset(tmp_path, MINIMAL)
    result = run_command("train", str(preset), "--headless", "--gpus", "2", "--output-dir", str(tmp_path / "run"))
    assert result.returncode == 2 and "no visible GPU; use --processes N" in result.stderr
    result = run_command("train", str(preset), "--headless", "--processes", "0", "--output-dir", str(tmp_path / "run"))
    assert result.returncode == 2 and "1 or more" in result.stderr


def test_export_launch_writes_configs_accelerate_reads_and_scripts_bash_accepts(tmp_path):
    from accelerate.commands.config.config_args import load_config_from_file

    out = tmp_path / "launch"
    result = run_cli("export-launch", "demo", "--nodes", "2", "--gpus-per-node", "4", "--strategy", "fsdp",
                     "--output", str(out), "--main-ip", "10.0.0.1")
    assert result.returncode == 0, result.stderr
    for node in (0, 1):
        config = load_config_from_file(str(out / f"accelerate-node-{node}.yaml"))
        assert (config.num_processes, config.num_machines, config.machine_rank) == (8, 2, node)
        assert config.distributed_type == "FSDP" and config.main_process_ip == "10.0.0.1"
        assert config.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    for script in ("train.sbatch", "torchrun.sh"):
        checked = subprocess.run(["bash", "-n", str(out / script)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
    sbatch = (out / "train.sbatch").read_text()
    assert "#SBATCH --nodes=2" in sbatch and "#SBATCH --ntasks-per-node=1" in sbatch
    assert "#SBATCH --signal=TERM@300" in sbatch and "--machine_rank \"$SLURM_NODEID\"" in sbatch
    torchrun = (out / "torchrun.sh").read_text()
    assert "--nnodes 2 --nproc-per-node 4" in torchrun and "export ACCELERATE_USE_FSDP=true" in torchrun
    assert load_config_text((out / "preset.yaml").read_text(), "p")[0].distributed.processes == 8


def test_export_launch_refuses_what_cannot_run(tmp_path):
    result = run_command("export-launch", "qlora-8b-24gb", "--nodes", "1", "--gpus-per-node", "2", "--strategy", "fsdp",
                         "--output", str(tmp_path / "x"))
    assert result.returncode == 2 and "bnb_4bit_quant_storage" in result.stderr
    assert not (tmp_path / "x").exists()
