"""GPU paths of the probe and telemetry on CPU: its own process on the chosen GPU, out of memory, MIG, NVML readings."""

import os
import sys
import time
import weakref
from types import SimpleNamespace

import pytest
from fake_nvml import GIB, FakeDevice, FakeNvml, a100, t4

from engine.errors import EXIT_DOES_NOT_FIT
from engine.machine.oom import is_out_of_memory, release_memory
from engine.machine.telemetry import MemorySampler
from engine.run.probe import ProbeResult
from tui.wizard.job_processes import JOBS, Cancelled

run_alone = JOBS.run_alone


def _what_the_child_sees() -> tuple[str | None, int, bool]:
    """(CUDA_VISIBLE_DEVICES, pid, whether torch was imported) in the process this runs in."""
    return os.environ.get("CUDA_VISIBLE_DEVICES"), os.getpid(), "torch" in sys.modules


def _fail() -> None:
    raise ValueError("bad config")


def _die() -> None:
    os._exit(5)


def _sleep() -> None:
    time.sleep(60)


def _has_exited(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# the probe in a process of its own -----------------------------------------------------------

@pytest.mark.slow
def test_run_alone_child_sees_only_the_chosen_gpu_before_torch_and_has_exited(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    visible, pid, torch_imported = run_alone(_what_the_child_sees, cuda_device="GPU-xyz")
    assert visible == "GPU-xyz" and not torch_imported
    assert pid != os.getpid() and _has_exited(pid)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"  # the wizard's own environment is untouched
    assert run_alone(_what_the_child_sees)[0] == "0,1"  # no GPU chosen: CUDA's default


@pytest.mark.slow
def test_run_alone_raises_the_childs_error_a_death_and_a_cancel():
    with pytest.raises(ValueError, match="bad config"):
        run_alone(_fail)
    with pytest.raises(ChildProcessError, match="code 5"):
        run_alone(_die)
    start = time.monotonic()
    with pytest.raises(Cancelled):
        run_alone(_sleep, cancelled=lambda: True)
    assert time.monotonic() - start < 30  # terminated, not waited for


@pytest.mark.slow
def test_real_demo_probe_through_its_own_process():
    from engine.background_jobs import probe_for
    from engine.config.presets import load_preset

    config, _, _ = load_preset("demo")
    result, problem = run_alone(probe_for, config, 1, cuda_device="GPU-xyz")
    assert problem is None and result.fits and result.device == "cpu"
    assert result.measured_source == "peak RSS" and result.measured_bytes == result.peak_rss_bytes > 0


# out of memory --------------------------------------------------------------------------------

CUBLAS = "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"


def _torch_oom() -> Exception:
    import torch

    return torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


OUT_OF_MEMORY = {"torch": _torch_oom, "cublas": lambda: RuntimeError(CUBLAS)}


def test_is_out_of_memory_recognises_every_form():
    assert is_out_of_memory(_torch_oom())
    assert is_out_of_memory(RuntimeError(CUBLAS))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory\nCUDA kernel errors might be reported ..."))
    try:
        try:
            raise RuntimeError(CUBLAS)
        except RuntimeError as cause:
            raise ValueError("loading failed") from cause
    except ValueError as wrapped:
        assert is_out_of_memory(wrapped)
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("out of memory is not a value"))


def test_release_memory_empties_the_cuda_cache_only_when_cuda_is_initialised(monkeypatch):
    import torch

    emptied = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    release_memory()
    assert emptied == []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    release_memory(RuntimeError(CUBLAS))
    assert emptied == [True]


def _probe_demo(capsys) -> tuple[int, str, dict]:
    """`sft-wizard probe demo --steps 1` in this process: (exit code, output, the saved result)."""
    from engine.cli.main import main
    from engine.config.presets import load_preset
    from engine.run.probe import saved_probe

    code = main(["probe", "demo", "--steps", "1"])
    return code, capsys.readouterr().out, saved_probe(load_preset("demo")[0])


@pytest.mark.parametrize("error", OUT_OF_MEMORY)
def test_out_of_memory_while_loading_does_not_fit_and_exits_3(monkeypatch, capsys, error):
    import engine.models.loading

    def load_model(*args, **kwargs):
        raise OUT_OF_MEMORY[error]()

    monkeypatch.setattr(engine.models.loading, "load_model", load_model)
    code, out, saved = _probe_demo(capsys)
    assert code == EXIT_DOES_NOT_FIT and saved["fits"] is False
    assert "out of memory while loading the model" in out and "predicted peak" in out


def test_another_error_while_loading_is_no_verdict(monkeypatch):
    import engine.models.loading
    from engine.config.presets import load_preset
    from engine.run.probe import run_probe

    def load_model(*args, **kwargs):
        raise RuntimeError("size mismatch for lm_head.weight")

    monkeypatch.setattr(engine.models.loading, "load_model", load_model)
    with pytest.raises(RuntimeError, match="size mismatch"):
        run_probe(load_preset("demo")[0], steps=1)


@pytest.mark.slow
@pytest.mark.parametrize("error", OUT_OF_MEMORY)
def test_out_of_memory_in_a_step_does_not_fit_exits_3_and_frees_the_model(monkeypatch, capsys, error):
    import engine.machine.oom
    import engine.models.loading

    models, released = [], []
    real_load, real_release = engine.models.loading.load_model, engine.machine.oom.release_memory

    def out_of_memory(*args):
        raise OUT_OF_MEMORY[error]()

    def load_model(*args, **kwargs):
        model = real_load(*args, **kwargs)
        model.model.layers[0].register_forward_pre_hook(out_of_memory)  # deep in the step, as a real one is
        models.append(weakref.ref(model))
        return model

    def release(exc=None):
        released.append(exc)
        real_release(exc)

    monkeypatch.setattr(engine.models.loading, "load_model", load_model)
    monkeypatch.setattr(engine.machine.oom, "release_memory", release)
    code, out, saved = _probe_demo(capsys)
    assert code == EXIT_DOES_NOT_FIT and saved["fits"] is False and "out of memory while training" in out
    assert len(released) == 1 and is_out_of_memory(released[0])
    assert models[0]() is None  # no reference to the model outlives the failed probe


# telemetry ------------------------------------------------------------------------------------

@pytest.fixture
def fake_cuda(monkeypatch):
    """torch.cuda answering as if CUDA device 0 were the A100 of fake_nvml.a100() (CUDA not initialised)."""
    import torch

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: SimpleNamespace(uuid="a100-1111"))


def test_sampler_reads_the_mig_instance_cuda_visible_devices_names(monkeypatch, fake_cuda):
    parent = a100()
    parent.processes = [(os.getpid(), 60 * GIB)]
    parent.mig = [FakeDevice("MIG 3g.40gb", "MIG-aaaa", 40 * GIB, 5 * GIB, None, processes=[(os.getpid(), 4 * GIB)]),
                  FakeDevice("MIG 3g.40gb", "MIG-bbbb", 40 * GIB, 9 * GIB, None, processes=[(os.getpid(), 7 * GIB)])]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-bbbb")
    fields = MemorySampler("cuda", nvml=FakeNvml([parent])).sample()
    assert fields["nvml_total_bytes"] == 40 * GIB and fields["nvml_used_bytes"] == 9 * GIB
    assert fields["process_used_bytes"] == 7 * GIB


def test_sampler_reads_this_processs_own_memory_beside_the_whole_devices(fake_cuda):
    gpu = a100()
    gpu.used, gpu.processes = 40 * GIB, [(1, 30 * GIB), (os.getpid(), 6 * GIB)]
    fields = MemorySampler("cuda", nvml=FakeNvml([t4(), gpu])).sample()  # matched by UUID, not index 0
    assert fields["nvml_used_bytes"] == 40 * GIB and fields["process_used_bytes"] == 6 * GIB
    assert "process_used_bytes" not in MemorySampler("cuda", nvml=FakeNvml([a100()])).sample()  # PID not listed


def test_probe_prefers_the_processs_own_memory_then_max_reserved_and_says_which():
    gpu = dict(device="A100", steps=2, fits=True, estimate_bytes=8 * GIB, peak_reserved_bytes=5 * GIB,
               peak_allocated_bytes=4 * GIB, nvml_used_bytes=40 * GIB, peak_rss_bytes=None, message="ok")
    own = ProbeResult(process_used_bytes=6 * GIB, **gpu)
    assert (own.measured_bytes, own.measured_source) == (6 * GIB, "NVML used by this process")
    in_container = ProbeResult(process_used_bytes=None, **gpu)
    assert (in_container.measured_bytes, in_container.measured_source) == (5 * GIB, "PyTorch max reserved")
    assert in_container.to_dict()["measured_source"] == "PyTorch max reserved"


def test_each_sampler_resets_cuda_peaks_once_cuda_is_initialised(monkeypatch, fake_cuda):
    import torch

    resets = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda *args: resets.append(True))
    MemorySampler("cuda", nvml=FakeNvml([a100()]))
    assert resets == []  # CUDA not initialised: nothing to reset, and no context created for it
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    MemorySampler("cuda", nvml=FakeNvml([a100()]))
    MemorySampler("cuda", nvml=FakeNvml([a100()]))
    assert resets == [True, True]
