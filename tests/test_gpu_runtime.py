"""Several GPUs as a user meets them: `train`, `probe` and the wizard.

CPU simulations: a fake NVML with two GPUs and a fake CUDA driver that reads CUDA_VISIBLE_DEVICES once
when first asked (as cuInit does).
"""

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, wait_until
from fake_nvml import GIB, FakeNvml, a100

from engine.machine.hardware import hardware_report

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
    if command[0] == "train":
        assert "training on NVIDIA A100-SXM4-80GB (GPU-idle, the most free memory" in result.stdout + result.stderr


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
