"""Several GPUs, refusals and out-of-memory as a user meets them: `train`, `probe`, the wizard and the monitor's retry.

CPU simulations: a fake NVML with two GPUs, a fake CUDA driver that reads CUDA_VISIBLE_DEVICES once
when first asked (as cuInit does), and out-of-memory errors raised in a real model's forward or load.
"""

import json
import os
import subprocess
import sys
import weakref

import pytest
from conftest import REPO, wait_until
from fake_nvml import GIB, FakeNvml, a100, t4

from engine.config.presets import load_preset
from engine.errors import UserError
from engine.machine.hardware import hardware_report
from engine.machine.precision import PrecisionDecision

ON_CPU = {"bf16": False, "fp16": False, "tf32": False, "max_steps": 1, "eval_strategy": "no", "save_strategy": "no"}
"""Training settings that let a run planned for a (fake) GPU train on this CPU."""


@pytest.fixture
def no_visible_devices(monkeypatch):
    """CUDA_VISIBLE_DEVICES unset now, and restored after the test whatever the code under test set."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")


def _two_gpus() -> FakeNvml:
    """Two A100s: GPU-busy (70 GiB used) and GPU-idle."""
    busy, idle = a100("GPU-busy"), a100("GPU-idle")
    busy.used = 70 * GIB
    return FakeNvml([busy, idle])


TWO_GPU_COMMAND = """
import json, sys
from fake_nvml import FakeCudaDriver, FakeNvml, GIB, a100
busy, idle = a100("GPU-busy"), a100("GPU-idle")
busy.used = 70 * GIB
sys.modules["pynvml"] = FakeNvml([busy, idle])
import torch
driver = FakeCudaDriver(["GPU-busy", "GPU-idle"]).install(torch)
from engine.cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "driver_saw": driver.visible}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("command", [["train", "demo", "--headless"], ["probe", "demo", "--steps", "1"]])
def test_on_two_gpus_cuda_starts_with_only_the_most_free_one_visible(command, tmp_path):
    """In a fresh process, as a user runs it: importing bitsandbytes asks CUDA first, so the GPU is chosen before."""
    settings = [arg for key, value in ON_CPU.items() for arg in ("--set", f"training.{key}={str(value).lower()}")]
    output = ["--output-dir", str(tmp_path / "run")] if command[0] == "train" else []
    env = {key: value for key, value in os.environ.items() if key != "CUDA_VISIBLE_DEVICES"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests")])
    result = subprocess.run([sys.executable, "-c", TWO_GPU_COMMAND, *command, *output, *settings], capture_output=True,
                            text=True, cwd=REPO, env=env, timeout=600)
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer == {"code": 0, "driver_saw": ["GPU-idle"]}, result.stderr[-3000:]  # n_gpu 1: no DataParallel
    assert "training on NVIDIA A100-SXM4-80GB (GPU-idle, the most free memory" in result.stdout + result.stderr


def test_chat_on_two_gpus_loads_its_model_with_only_the_most_free_one_visible(tmp_path, monkeypatch, capsys,
                                                                              no_visible_devices):
    """`chat` places its model on cuda:0, so that must be the chosen GPU, made visible before the model loads."""
    from engine.cli.main import main
    from engine.outputs import generate

    monkeypatch.setitem(sys.modules, "pynvml", _two_gpus())
    seen = []

    def load_generator(run_dir):
        seen.append(os.environ.get("CUDA_VISIBLE_DEVICES"))
        raise UserError("stopped once the model would load")

    monkeypatch.setattr(generate, "load_generator", load_generator)
    assert main(["chat", str(tmp_path), "--prompt", "hi"]) == 2
    assert seen == ["GPU-idle"]
    assert "generating on NVIDIA A100-SXM4-80GB (GPU-idle, the most free memory" in capsys.readouterr().err


@pytest.mark.slow
async def test_the_gpu_picked_in_the_wizard_is_the_one_the_run_makes_visible(tmp_path, monkeypatch,
                                                                             no_visible_devices):
    """The wizard hands its pick to the engine's rule (gpu_choice), which wins over the most-free default."""
    from tui.monitor.screen import MonitorScreen
    from tui.wizard.app import make_app

    nvml = _two_gpus()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)  # what the run reads through hardware_report()
    app = make_app("demo", runs_root=str(tmp_path / "runs"), warm_imports=False, hardware=lambda: hardware_report(nvml))
    async with app.run_test(size=(100, 30)) as pilot:
        app.state.cuda_device = "GPU-busy"  # the Hardware step's choice
        app.config.training.update(ON_CPU, output_dir=str(tmp_path / "run"))
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state.finished, 180,
                         "the one-step run to end")
        end = app.screen.state.end
    assert end["status"] == "completed", end
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "GPU-busy"
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert any("GPU-busy, as asked" in str(e.get("message")) for e in events)


# refusals before the run directory ----------------------------------------------------------------

def test_tf32_on_a_t4_is_refused_before_the_run_directory_exists(tmp_path, no_visible_devices):
    from engine.run.train import RunRequest, run_training

    config, _, _ = load_preset("demo")
    config.training.update(output_dir=str(tmp_path / "run"), bf16=False, fp16=False, tf32=True)
    with pytest.raises(UserError, match="rejected by trl.SFTConfig.*tf32"):
        run_training(RunRequest(config, hardware=lambda: hardware_report(FakeNvml([t4()]))))
    assert not (tmp_path / "run").exists()


def test_tf32_false_reaches_sftconfig_on_a_gpu(tmp_path):
    from engine.run.trainer import trainer_arguments

    config, _, _ = load_preset("demo")
    config.training["tf32"] = False
    args, _ = trainer_arguments(config, PrecisionDecision("float32", "no", False, "test"), str(tmp_path), on_gpu=True)
    assert args.tf32 is False
    args, _ = trainer_arguments(config, PrecisionDecision("float32", "no", False, "test"), str(tmp_path), on_gpu=False)
    assert args.tf32 is None and args.use_cpu  # no CUDA: nothing to set


# out of memory through the monitor's retry --------------------------------------------------------

@pytest.mark.slow
def test_the_monitors_retry_after_out_of_memory_loads_only_once_the_first_model_is_released(tmp_path, monkeypatch):
    """OOM in the first step's forward, then the retry (same run directory) runs out of memory while loading."""
    import torch

    import engine.models.loading
    from engine.record.state import RunState
    from tui.monitor.sources import InProcessRun

    real_load = engine.models.loading.load_model
    models: list[weakref.ref] = []
    alive_at_load: list[int] = []

    def out_of_memory(*args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def load_model(*args, **kwargs):
        alive_at_load.append(sum(ref() is not None for ref in models))
        if models:
            out_of_memory()
        model = real_load(*args, **kwargs)
        model.model.layers[0].register_forward_pre_hook(out_of_memory)
        models.append(weakref.ref(model))
        return model

    monkeypatch.setattr(engine.models.loading, "load_model", load_model)
    config, _, _ = load_preset("demo")
    config.training.update(output_dir=str(tmp_path / "run"), max_steps=2, eval_strategy="no", save_strategy="no")
    ends = []
    for _ in range(2):
        events: list[dict] = []
        run = InProcessRun(config.copy())
        run.start(events.append)
        run.thread.join(300)
        ends.append(events[-1])
        state = RunState()
        for event in events:
            state.apply(event)
        assert state.device_free_bytes and state.precision == "float32"  # known before the start event too
        assert run.oom_fix(state.device_free_bytes, state.precision) is not None  # the advice the monitor offers
    assert [e["status"] for e in ends] == ["failed", "failed"]
    assert all("out of memory" in e["message"].lower() for e in ends), ends
    assert alive_at_load == [0, 0]  # the failed run's model was freed before the retry loaded
    assert models[0]() is None


def test_the_bundled_schema_is_read_without_importing_the_training_libraries(monkeypatch, tmp_path):
    """Building it imports peft and so bitsandbytes, which starts CUDA before `train` could choose a GPU."""
    from engine.config import schema as module

    bundled = next(module.BUNDLED_DIR.glob("schema-*.json"))
    monkeypatch.setattr(module, "versions_key", lambda: bundled.stem.removeprefix("schema-"))
    monkeypatch.setattr(module, "cache_dir", lambda: tmp_path)  # nothing cached
    monkeypatch.setattr(module, "_build_raw_schema", lambda: pytest.fail("the schema was built, not read"))
    module.schema.cache_clear()
    try:
        assert "learning_rate" in module.schema()["training"]
    finally:
        module.schema.cache_clear()


FRESH_SCHEMA_COMMAND = """
import json, sys
from engine.config import schema as module
module.versions_key = lambda: "trl0-after-an-upgrade"  # neither bundled nor cached
module.cache_dir = lambda: __import__("pathlib").Path(sys.argv[1])
built = module.schema()
print(json.dumps({"imported": sorted({"trl", "peft", "bitsandbytes", "torch"} & set(sys.modules)),
                  "learning_rate": built["training"]["learning_rate"].default}))
"""


@pytest.mark.slow
def test_after_a_library_upgrade_the_schema_is_built_in_a_child_that_starts_no_cuda_here(tmp_path):
    """A new trl/transformers/peft has no bundled schema: building it must not import bitsandbytes before `train`
    chooses its GPU; the child sees no GPU, and what it builds is what the bundled file holds for these versions."""
    from engine.config import schema as module

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", FRESH_SCHEMA_COMMAND, str(tmp_path)], capture_output=True, text=True,
                            cwd=REPO, env=env, timeout=600)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"imported": [], "learning_rate": 2e-05}, result.stderr
    cached = json.loads((tmp_path / "schema-trl0-after-an-upgrade.json").read_text())
    assert cached == json.loads(next(module.BUNDLED_DIR.glob(f"schema-{module.versions_key()}.json")).read_text())
