"""The run index: every run directory training created, listed by `runs` and the Start step wherever it is."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO, run_command

from engine.record.recent import find_runs
from engine.record.run_index import index_path, indexed_runs, record_run
from engine.record.rundir import create_run_dir


def _run_dir(path, name="r"):
    """A run directory with a start event, as training leaves one."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "events.jsonl").write_text(f'{{"event": "start", "time": 1.0, "name": "{name}"}}\n')
    return path


def test_a_relative_run_directory_is_recorded_absolute_once(tmp_path, monkeypatch, user_state):
    monkeypatch.chdir(tmp_path)
    create_run_dir(Path("saves/llama3-8b/lora/sft"))
    record_run("saves/llama3-8b/lora/sft")  # a resumed run: no second entry
    expected = (tmp_path / "saves" / "llama3-8b" / "lora" / "sft").resolve()
    assert index_path() == user_state / "runs.index"
    assert index_path().read_text().splitlines() == [str(expected)]
    assert indexed_runs() == [expected]


def test_damaged_lines_and_deleted_directories_are_skipped_and_dropped_at_the_next_write(tmp_path):
    kept, gone = _run_dir(tmp_path / "kept"), _run_dir(tmp_path / "gone")
    index_path().parent.mkdir(parents=True)
    index_path().write_bytes(b"\xff\xfe garbage\nrelative/run\n\n" + f"{kept}\n{gone}\n{kept}\n".encode()
                             + f"{tmp_path}/half-writ".encode())
    gone.joinpath("events.jsonl").unlink()
    gone.rmdir()
    assert indexed_runs() == [kept]
    newer = _run_dir(tmp_path / "newer")
    record_run(newer)
    assert index_path().read_text().splitlines() == [str(kept), str(newer)]


def test_runs_lists_the_index_and_runs_under_the_root_each_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    under_root = _run_dir(tmp_path / "runs" / "a", "under-root")
    elsewhere = _run_dir(tmp_path / "saves" / "b", "elsewhere")
    record_run(under_root)
    record_run(elsewhere)
    assert sorted(run.name for run in find_runs("runs")) == ["elsewhere", "under-root"]
    assert [run.name for run in find_runs("runs", indexed=False)] == ["under-root"]
    listed = run_command("runs")  # run_command works in the repository: ./runs there, the index here
    assert listed.returncode == 0 and str(elsewhere) in listed.stdout and str(under_root) in listed.stdout
    only_root = run_command("runs", str(tmp_path / "runs"))
    assert str(under_root) in only_root.stdout and str(elsewhere) not in only_root.stdout


def test_two_processes_recording_at_once_lose_no_run(tmp_path):
    code = ("import sys\nfrom pathlib import Path\nfrom engine.record.run_index import record_run\n"
            "for i in range(40):\n"
            "    folder = Path(sys.argv[1]) / f'run-{i}'\n"
            "    folder.mkdir(parents=True)\n"
            "    record_run(folder)\n")
    writers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / name)], cwd=REPO, env=os.environ.copy())
               for name in ("one", "two")]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    assert sorted(map(str, indexed_runs())) == sorted(str(tmp_path / name / f"run-{i}")
                                                      for name in ("one", "two") for i in range(40))


def test_training_and_the_launcher_record_the_run_directory_they_create(tmp_path, monkeypatch):
    """Both places that create a run directory index it: one process, and the launcher of several."""
    from types import SimpleNamespace

    from engine.config.presets import new_run_config
    from engine.run import train
    from engine.run.multi import launcher

    monkeypatch.chdir(tmp_path)
    for module in (train, launcher):
        monkeypatch.setattr(module, "plan_run", lambda request, *world: SimpleNamespace(run_dir=Path(request.output_dir),
                                                                                   trained_to=None))
    monkeypatch.setattr(train, "_train_in_run_dir", lambda plan, *rest: "trained")
    monkeypatch.setattr(launcher, "write_launch_files", lambda plan: [])
    monkeypatch.setattr(launcher, "_run_ranks", lambda plan, *rest: "launched")
    assert train.run_training(train.RunRequest(new_run_config(), "saves/single")) == "trained"
    assert launcher.launch_run(train.RunRequest(new_run_config(), "saves/ranks")) == "launched"
    assert indexed_runs() == [(tmp_path / "saves" / "ranks").resolve(), (tmp_path / "saves" / "single").resolve()]
