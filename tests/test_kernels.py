"""Hub kernels are sft-wizard's decision (model.use_kernels): offline nothing asks the Hub, and no kernel noise shows."""

from __future__ import annotations

import os
import runpy
import socket
import subprocess
import sys

import pytest
from conftest import REPO, run_command

from engine.config.presets import load_preset
from engine.config.run_config import ModelSection
from engine.errors import UserError
from engine.models import kernels as engine_kernels
from engine.models.kernel_rule import HubKernel, KernelFacts, KernelsUnavailable, decide_kernels
from engine.yamlio import load_yaml

ROTARY = HubKernel("kernels-community/rotary", 2)
RMS_NORM = HubKernel("kernels-community/liger-kernels", 4)
PINNED = HubKernel("Atlas-Inference/gdn", revision="531ae679ab5c13a3bf49607e1b6e6459300772e9")
NOISE = ("publisher trust", "gemm_4bit_forward", "kernels-community/quantization-bitsandbytes")
"""What the kernels library and bitsandbytes print about Hub kernels; none of it may reach a user."""


def facts(asked, *, needed=(ROTARY,), cached=False, offline=True, reachable=None, **other):
    """KernelFacts for a CUDA machine whose model uses `needed` (all cached, or none)."""
    return KernelFacts(asked, "cuda", needed=needed, missing=() if cached else needed, offline=offline,
                       reachable=reachable, **other)


@pytest.mark.parametrize("case, expected", [
    # (offline, cached, asked) -> enabled, or the error `true` gives
    (facts("auto", offline=True, cached=False), False),
    (facts("auto", offline=True, cached=True), True),
    (facts("auto", offline=False, cached=False, reachable=True), True),
    (facts("auto", offline=False, cached=False, reachable=False), False),
    (facts("auto", offline=False, cached=True, reachable=True), True),
    (facts("auto", offline=False, cached=False, reachable=True, needed=(PINNED,)), False),  # trust not settled
    (facts("true", offline=True, cached=False), KernelsUnavailable),
    (facts("true", offline=True, cached=True), True),
    (facts("true", offline=False, cached=False), True),
    (facts("true", offline=False, cached=False, needed=(PINNED,)), True),  # asked for: the kernels library checks
    (facts("false", offline=True, cached=True), False),
    (facts("false", offline=False, cached=False, reachable=True), False),
    (facts("auto", needed=()), False),  # nothing applies (e.g. on a CPU)
    (facts("true", needed=()), True),
    (facts("auto", needed=None), False),  # the model's layers could not be listed
    (facts("auto", installed=False), False),
    (facts("true", installed=False), KernelsUnavailable),
    (facts("auto", cached=True, env_disabled=True), False),
    (facts("true", cached=True, env_disabled=True), KernelsUnavailable),
])
def test_the_decision_table(case, expected):
    if expected is KernelsUnavailable:
        with pytest.raises(KernelsUnavailable):
            decide_kernels(case)
    else:
        decision = decide_kernels(case)
        assert decision.enabled is expected
        assert (decision.note is not None) is (not expected and bool(case.needed) and case.asked == "auto")


def test_true_offline_names_each_missing_kernel_and_how_to_download_it():
    with pytest.raises(KernelsUnavailable) as error:
        decide_kernels(facts("true", needed=(RMS_NORM, ROTARY)))
    message = str(error.value)
    for kernel in (RMS_NORM, ROTARY):
        assert kernel.label in message and kernel.download_command in message
    assert "model.use_kernels: auto" in message


@pytest.fixture
def kernel_cache(tmp_path, monkeypatch):
    """An empty kernels cache (KERNELS_CACHE), so nothing this machine downloaded earlier counts."""
    monkeypatch.setenv("KERNELS_CACHE", str(tmp_path / "kernels"))
    return tmp_path / "kernels"


def cache_kernel(cache, kernel):
    """Put a kernel version into the cache as the kernels library lays it out (refs/vN -> snapshots/COMMIT)."""
    folder = cache / ("kernels--" + kernel.repo_id.replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / f"v{kernel.version}").write_text(commit)
    (folder / "snapshots" / commit / "build").mkdir(parents=True)


def test_tiny_demo_on_cuda_needs_rotary_and_rms_norm_kernels_offline_they_are_off_until_cached(kernel_cache):
    decision = engine_kernels.decide_model_kernels(ModelSection(), device="cuda")
    assert decision.kernels == [RMS_NORM.label, ROTARY.label] and decision.enabled is False
    assert "not in the local cache" in decision.note
    cache_kernel(kernel_cache, RMS_NORM)
    assert engine_kernels.decide_model_kernels(ModelSection(), device="cuda").enabled is False  # rotary still missing
    cache_kernel(kernel_cache, ROTARY)
    decision = engine_kernels.decide_model_kernels(ModelSection(use_kernels="true"), device="cuda")
    assert decision.enabled is True and "in the local cache" in decision.reason


def test_the_engine_refuses_true_it_cannot_meet_as_a_user_error(kernel_cache):
    with pytest.raises(UserError, match="kernels-community/rotary version 2"):
        engine_kernels.decide_model_kernels(ModelSection(use_kernels="true"), device="cuda")


@pytest.fixture
def no_hub(monkeypatch):
    """Any connection or Hub kernel fetch is recorded and refused."""
    import kernels
    import transformers.integrations.hub_kernels as hub_kernels

    asked = []

    def refuse(*args, **kwargs):
        asked.append(args)
        raise OSError("the Hub was asked")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(hub_kernels, "get_kernel_hub", refuse)
    monkeypatch.setattr(kernels, "get_kernel", refuse)
    return asked


def test_a_model_loaded_offline_has_kernels_off_and_nothing_asks_the_hub(no_hub):
    from engine.libraries import quiet_libraries
    from engine.machine.precision import decide_precision
    from engine.models.loading import load_model

    quiet_libraries()
    model = load_model(ModelSection(), decide_precision(None), None)
    assert model.use_kernels is False
    model.train()
    assert model.use_kernels is False and no_hub == []
    random = load_model(ModelSection(), decide_precision(None), None, random_init=True)
    assert random.use_kernels is False and no_hub == []


def test_a_model_asked_with_kernels_gets_them(no_hub):
    """`true` where nothing is missing (no Hub kernel applies on a CPU): the model is kernelized, still offline."""
    from engine.machine.precision import decide_precision
    from engine.models.loading import load_model

    model = load_model(ModelSection(use_kernels=True), decide_precision(None), None)
    assert model.use_kernels is True and no_hub == []


@pytest.mark.parametrize("command", [["check", "demo"], ["train", "demo", "--headless"]])
def test_use_kernels_true_offline_on_cuda_is_exit_2_naming_the_kernel(command, monkeypatch, kernel_cache, tmp_path):
    monkeypatch.setattr(engine_kernels, "training_device", lambda: "cuda")
    output = ["--output-dir", str(tmp_path / "run")] if command[0] == "train" else []
    result = run_command(*command, *output, "--set", "model.use_kernels=true")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "kernels-community/rotary version 2" in result.stderr and "get_kernel(" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_run_yaml_records_the_kernels_decision_beside_precision(tmp_path):
    from engine.run.train import RunRequest, _write_run_file, plan_run

    config, _, _ = load_preset("demo")
    plan = plan_run(RunRequest(config, output_dir=str(tmp_path / "run")))
    (tmp_path / "run").mkdir()
    _write_run_file(plan)
    record = load_yaml((tmp_path / "run" / "run.yaml").read_text())
    assert record["kernels"] == {"asked": "auto", "enabled": False,
                                 "reason": "no Hub kernel applies to this model on cpu", "kernels": []}
    assert "precision" in record


def test_a_cuda_run_without_its_kernels_says_so_in_one_line(monkeypatch, kernel_cache, tmp_path):
    from engine.run.train import RunRequest, plan_run

    monkeypatch.setattr(engine_kernels, "training_device", lambda: "cuda")
    config, _, _ = load_preset("demo")
    plan = plan_run(RunRequest(config, output_dir=str(tmp_path / "run")))
    lines = [warning for warning in plan.data.warnings if "Hub kernels" in warning]
    assert len(lines) == 1 and "kernels-community/rotary" in lines[0] and "\n" not in lines[0]
    assert plan.kernels.enabled is False


def test_the_launched_ranks_load_with_the_launchers_decision(tmp_path):
    from engine.run.multi.launcher import write_launch_files
    from engine.run.train import RunRequest, plan_run

    config, _, _ = load_preset("demo")
    config.distributed.processes = 2
    plan = plan_run(RunRequest(config, output_dir=str(tmp_path / "run")))
    write_launch_files(plan)
    ranks = load_yaml((tmp_path / "run" / "launch" / "preset.yaml").read_text())
    assert ranks["model"]["use_kernels"] is False


@pytest.mark.parametrize("asked, on_cuda, expected", [("auto", False, False), ("true", False, True),
                                                      ("false", False, False), ("auto", True, False),
                                                      ("true", True, SystemExit)])
def test_the_exported_script_loads_with_the_same_decision(asked, on_cuda, expected, tmp_path, monkeypatch, kernel_cache):
    from engine.machine.hardware import hardware_report
    from engine.models.tiny_demo import ensure_tiny_demo
    from engine.outputs.script import export_script

    ensure_tiny_demo()
    config, _, _ = load_preset("demo", [f"model.use_kernels={asked}"])
    script = tmp_path / "train.py"
    script.write_text(export_script(config, hardware_report()), encoding="utf-8")
    namespace = runpy.run_path(str(script), run_name="exported_script")
    assert namespace["USE_KERNELS"] == asked
    main = namespace["main"]
    loaded = {}

    class Loaded(Exception):
        pass

    def from_pretrained(location, **kwargs):
        loaded.update(kwargs)
        raise Loaded

    monkeypatch.setattr(namespace["AutoModelForCausalLM"], "from_pretrained", from_pretrained)
    monkeypatch.setitem(main.__globals__, "training_device", lambda: "cuda" if on_cuda else "cpu")
    if expected is SystemExit:
        with pytest.raises(SystemExit, match="kernels-community/rotary version 2"):
            main()
        return
    with pytest.raises(Loaded):
        main()
    assert loaded["use_kernels"] is expected


def test_bitsandbytes_cpu_kernel_is_never_fetched():
    """bitsandbytes asks for kernels-community/quantization-bitsandbytes on import; after the libraries load, it is refused."""
    import kernels

    from engine.libraries import BITSANDBYTES_HUB_KERNEL, quiet_libraries

    quiet_libraries()
    with pytest.raises(ImportError, match="does not fetch"):
        kernels.get_kernel(BITSANDBYTES_HUB_KERNEL, version=1)


def test_no_kernel_noise_reaches_the_output_of_a_process_that_loads_the_libraries():
    code = ("from engine.libraries import quiet_libraries; quiet_libraries(); import bitsandbytes; "
            "from engine.machine.precision import decide_precision; from engine.models.loading import load_model; "
            "from engine.config.run_config import ModelSection; "
            "load_model(ModelSection(use_kernels=True), decide_precision(None), None).train()")
    env = os.environ | {"PYTHONPATH": str(REPO)}
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, cwd=REPO)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert not any(noise in ran.stdout + ran.stderr for noise in NOISE), ran.stdout + ran.stderr


def _noisy() -> str:
    """What a library in an analysis process does: print, and write to the stderr file descriptor itself."""
    print("Skipping publisher trust check for 'kernels-community/x' (stdout)", flush=True)
    os.write(2, b"Failed to load CPU gemm_4bit_forward from kernels-community (fd 2)\n")
    return "answered"


def test_analysis_processes_write_to_their_log_never_the_terminal(capfd, tmp_path, monkeypatch):
    from tui.wizard.job_processes import JOBS as analysis
    from tui.wizard.job_processes import JobProcesses

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the children's log goes here
    JobProcesses.terminate(analysis)  # fresh processes, spawned with this cache (the session keeps the pool otherwise)
    analysis.open_pool()
    try:
        assert analysis.run(_noisy) == "answered"
        assert analysis.run_alone(_noisy) == "answered"
    finally:
        JobProcesses.terminate(analysis)
        analysis.open_pool()
    shown = capfd.readouterr()
    assert not any(noise in shown.out + shown.err for noise in NOISE), shown
    log = (tmp_path / "cache" / "sft-wizard" / "logs" / "analysis.log").read_text()
    assert log.count("publisher trust") == 2 and log.count("gemm_4bit_forward") == 2


def test_a_probe_on_cuda_without_its_kernels_says_so_in_one_line(monkeypatch, kernel_cache, capsys):
    from engine.cli.main import main

    monkeypatch.setattr(engine_kernels, "training_device", lambda: "cuda")
    assert main(["probe", "demo", "--steps", "1"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "Hub kernels" in line]
    assert lines == ["probe: Hub kernels not used: kernels-community/liger-kernels version 4, kernels-community/rotary "
                     "version 2 not in the local cache and the Hub is offline (model.use_kernels: auto)"]
