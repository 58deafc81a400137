"""Damaged run files: a bad line of events.jsonl is skipped, counted and said once; a damaged run.yaml is named."""

import json
import shutil

import pytest
from checkpoint_files import whole_checkpoint
from conftest import REPO, run_command, wait_until
from test_monitor import SIZE, log_text, stats_text

from engine.errors import UserError
from engine.record.events import EventWriter, read_event_log, read_events
from engine.record.recent import find_runs
from engine.record.rundir import checkpoint_to_resume, read_run_file

RECORDED = REPO / "tests" / "data" / "recorded-run"
GOOD = (b'{"event": "start", "time": 1700000000.0, "name": "r", "total_steps": 8}\n'
        b'{"event": "log", "time": 1700000001.0, "step": 1, "loss": 2.5}\n')
DAMAGE = {
    "a byte that is not UTF-8": b'{"event": "log", "time": 1700000002.0, "step": 2, "note": "\xff"}\n',
    "a torn multi-byte character": b'{"event": "log", "time": 1700000002.0, "step": 2, "note": "\xe4\xb8"}\n',
    "a JSON list": b"[]\n",
    "a step that is text": b'{"event": "log", "time": 1700000002.0, "step": "two", "loss": 2.4}\n',
    "a time that is text": b'{"event": "end", "time": "yesterday", "status": "completed"}\n',
    "a loss that is a list": b'{"event": "log", "time": 1700000002.0, "step": 2, "loss": [2.4]}\n',
}
SAID = {"a byte that is not UTF-8": "byte 60 is not UTF-8", "a torn multi-byte character": "byte 60 is not UTF-8",
        "a JSON list": "a JSON list, not an object", "a step that is text": '`step` is "two"',
        "a time that is text": "no `event` name or `time` number", "a loss that is a list": "`loss` is [2.4]"}


def _run_with(folder, damage: bytes):
    folder.mkdir(parents=True)
    (folder / "events.jsonl").write_bytes(GOOD + damage + b'{"event": "log", "time": 1700000003.0, "step": 3, "loss": 2.3}\n')
    return folder


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_a_damaged_line_is_skipped_counted_and_named(tmp_path, kind):
    run_dir = _run_with(tmp_path / "run", DAMAGE[kind])
    log = read_event_log(run_dir)
    assert [e.get("step") for e in log.events] == [None, 1, 3]
    assert log.damaged == [3]
    assert log.note(run_dir) == f"{run_dir / 'events.jsonl'}: 1 damaged line skipped (line 3: {SAID[kind]})"


def test_a_half_written_last_line_is_not_damage_and_the_next_attempt_starts_on_a_line_of_its_own(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "events.jsonl").write_bytes(GOOD + b'{"event": "log", "time": 17000')  # killed mid-line
    assert len(read_events(run_dir)) == 2 and read_event_log(run_dir).damaged == []
    writer = EventWriter(run_dir)
    writer.emit("start", total_steps=8)
    writer.close()
    log = read_event_log(run_dir)
    assert [e["event"] for e in log.events] == ["start", "log", "start"] and log.damaged == [3]


def test_runs_lists_every_run_and_says_once_which_lines_were_skipped(tmp_path):
    root = tmp_path / "runs"
    _run_with(root / "good", b"")
    for number, damage in enumerate(DAMAGE.values()):
        _run_with(root / f"damaged-{number}", damage)
    (root / "good" / "run.yaml").write_text("config: {name: [\n")  # a damaged run.yaml does not hide the run
    assert len(find_runs(root, indexed=False)) == len(DAMAGE) + 1
    result = run_command("runs", str(root))
    assert result.returncode == 0, result.stderr
    assert all(f"{root / name}\n" in result.stdout for name in ["good", *(f"damaged-{n}" for n in range(len(DAMAGE)))])
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == len(DAMAGE) and all("1 damaged line skipped (line 3: " in note for note in notes)


def test_resume_reads_past_damaged_lines(tmp_path):
    run_dir = _run_with(tmp_path / "run", DAMAGE["a byte that is not UTF-8"] + DAMAGE["a JSON list"])
    whole_checkpoint(run_dir / "checkpoint-2", step=2, max_steps=8)
    assert checkpoint_to_resume(run_dir, True) == str(run_dir / "checkpoint-2")


@pytest.mark.parametrize("text", [b"config:\n  name: x\n  model: {name_or_path: tiny-demo\n", b"config: {name: \xff}\n"])
def test_a_damaged_run_yaml_is_named_with_the_fix(tmp_path, text):
    run_dir = _run_with(tmp_path / "run", b"")
    whole_checkpoint(run_dir / "checkpoint-2", step=2, max_steps=8)
    (run_dir / "run.yaml").write_bytes(text)
    with pytest.raises(UserError, match=r"run.yaml is damaged: (not YAML \(.* at line \d+, column \d+\)|byte 16 is "
                                        r"not UTF-8)\. It records the run's resolved config: restore it"):
        read_run_file(run_dir)
    with pytest.raises(UserError, match="run.yaml is damaged"):
        checkpoint_to_resume(run_dir, True)


async def test_attach_replays_a_run_with_damaged_lines_and_says_so_once(tmp_path):
    from tui.monitor.app import MonitorApp

    run_dir = tmp_path / "run"
    shutil.copytree(RECORDED, run_dir)
    lines = (run_dir / "events.jsonl").read_bytes().split(b"\n")
    damaged = [lines[0], *DAMAGE.values(), *lines[1:]]
    (run_dir / "events.jsonl").write_bytes(b"\n".join(line.rstrip(b"\n") for line in damaged))
    assert len(read_event_log(run_dir).damaged) == len(DAMAGE)
    app = MonitorApp.attach(str(run_dir))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "final train loss" in stats_text(app), 20, "the replayed summary")
        assert "final train loss 0.0750" in stats_text(app)
        assert log_text(app).count("damaged line skipped") == 1
        assert sum("damaged line skipped (byte 60 is not UTF-8)" in w for w in app.monitor.state.warnings) == 1


def test_run_state_rebuilds_the_same_from_a_damaged_copy(tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(RECORDED, run_dir)
    with open(run_dir / "events.jsonl", "ab") as handle:
        handle.write(b"".join(DAMAGE.values()))
    events = read_events(run_dir)
    assert events == read_events(RECORDED) and all(isinstance(json.dumps(e), str) for e in events)
