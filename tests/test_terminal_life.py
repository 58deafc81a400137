"""The program never outlives its terminal: a real pseudo-terminal is closed (a dropped SSH connection) at
several moments, or ctrl+q is pressed, and every process it started (analysis workers, their resource
tracker) must be gone soon after; a run training in the process finishes first, then the process ends.

Processes are followed by session: pty.fork() makes the child a session leader, and everything it starts
stays in its session even once reparented, so a worker spawned after the snapshot is still found.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

import pytest
from conftest import REPO

from engine.record.events import read_events

ROWS, COLUMNS = 30, 100
PAINT_SECONDS = 60
"""The most a first screen may take on a loaded two-core machine."""
GONE_SECONDS = 10
"""The bound on every process being gone after the terminal closes (the product's target is 2 s)."""
END_TO_EXIT_SECONDS = 15
"""The bound on the process ending after its run's `end` event, once the terminal is gone."""

Process = tuple[int, str]
"""A pid and its start time (so that a reused pid is not mistaken for the process)."""


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields from the state on (index 0 is the state), or None once the pid is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _processes() -> dict[int, list[str]]:
    """Every process now: pid → its stat fields from the state on."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            table[int(entry)] = fields
    return table


def _tree(root: int) -> set[Process]:
    """root, its descendants and every process of its session (state, ppid, pgrp, session are fields 0-3)."""
    table = _processes()
    found = {pid for pid, fields in table.items() if pid == root or int(fields[3]) == root}
    grew = True
    while grew:
        children = {pid for pid, fields in table.items() if int(fields[1]) in found} - found
        found |= children
        grew = bool(children)
    return {(pid, table[pid][19]) for pid in found}  # field 22 of stat, the start time


def _alive(processes: set[Process]) -> set[Process]:
    """Those still running: a zombie, or a pid now used by another process, counts as gone."""
    left = set()
    for pid, start in processes:
        fields = _stat(pid)
        if fields is not None and fields[0] != "Z" and fields[19] == start:
            left.add((pid, start))
    return left


def _describe(processes: set[Process]) -> str:
    lines = []
    for pid, _ in sorted(processes):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            command = "?"
        lines.append(f"  {pid}: {command[:160]}")
    return "\n".join(lines)


class Terminal:
    """`python -m tui ARGS` on a pseudo-terminal of ROWS x COLUMNS, as a user starts it."""

    def __init__(self, *args: str) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # child: never returns into pytest
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
                os.chdir(REPO)
                os.environ["TERM"] = "xterm-256color"
                os.execv(sys.executable, [sys.executable, "-m", "tui", *args])
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = b""
        self.status: int | None = None
        self.seen: set[Process] = {(pid, _stat(pid)[19])} if _stat(pid) else set()

    def pump(self, seconds: float) -> bool:
        """Read what the program drew for up to `seconds`; False once the terminal has no writer (EOF/EIO)."""
        if self.fd is None:
            time.sleep(seconds)
            return False
        if select.select([self.fd], [], [], seconds)[0]:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            self.output += data
        return True

    def wait_for(self, *texts: str, seconds: float = PAINT_SECONDS) -> float:
        """Read until every text was drawn; the seconds it took. Fails after `seconds` or if the program ends."""
        start = time.monotonic()
        while not all(text.encode() in self.output for text in texts):
            if time.monotonic() - start > seconds:
                raise AssertionError(f"{texts} not drawn within {seconds} s; last output: {self.output[-600:]!r}")
            if not self.pump(0.05):
                raise AssertionError(f"the program ended before drawing {texts}; last output: {self.output[-600:]!r}")
        return time.monotonic() - start

    def drain(self, seconds: float) -> None:
        """Keep reading (so the program never blocks on a full terminal) for `seconds`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.pump(min(0.05, max(0.0, end - time.monotonic())))

    def send(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def snapshot(self) -> set[Process]:
        """The process tree now (remembered, so that the cleanup kills it too)."""
        tree = _tree(self.pid)
        self.seen |= tree
        return tree

    def close(self) -> None:
        """Close the terminal, as a dropped SSH connection does: the program gets SIGHUP, EIO on its reads and writes."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def reap(self) -> int | None:
        """The child's wait status once it has exited (it is reaped then), else None."""
        if self.status is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.status = status
        return self.status

    def wait_gone(self, seconds: float) -> tuple[float, set[Process]]:
        """Seconds until the child and every process of its session are gone, and those left after `seconds`.

        Keeps reading the terminal while it is open, and rescans the session (a worker may start late).
        """
        start = time.monotonic()
        while True:
            self.reap()
            if self.status is None:
                self.snapshot()
            left = _alive(self.seen | _tree(self.pid)) if self.status is None else _alive(self.seen)
            elapsed = time.monotonic() - start
            if (not left and self.reap() is not None) or elapsed > seconds:
                return elapsed, left
            self.pump(0.02)

    def kill_everything(self) -> None:
        """Never leave anything behind: SIGKILL whatever of the tree still runs, close, reap."""
        if self.reap() is None:
            self.snapshot()
        for pid, _ in _alive(self.seen):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.close()
        if self.status is None:
            _, self.status = os.waitpid(self.pid, 0)


def _close_after_first_screen(moment: str) -> None:
    """Start the wizard, reach `moment`, close the terminal; every process must be gone within GONE_SECONDS."""
    terminal = Terminal()
    try:
        painted = terminal.wait_for("Start", "Review")
        if moment == "importing":  # the analysis workers are importing torch now
            terminal.drain(1.5)
        elif moment == "dialog":
            terminal.wait_for("New run")
            terminal.send(b"\r")  # New run: on Start nothing is chosen yet, so no Save
            terminal.wait_for(" Save", seconds=30)  # the footer offers it on Model
            terminal.send(b"\x13")  # ctrl+s: the save-preset dialog
            terminal.wait_for("Save preset", "Cancel (Esc)", seconds=30)
        elif moment == "quitting":
            terminal.send(b"\x11")  # ctrl+q
        before = terminal.snapshot()
        if moment == "importing":  # else this moment tests nothing the first one does not
            assert len(before) > 2, f"no analysis workers 1.5 s after the first screen:\n{_describe(before)}"
        terminal.close()
        gone, left = terminal.wait_gone(GONE_SECONDS)
        print(f"\n[{moment}] first screen {painted:.2f} s; terminal closed with {len(before)} processes "
              f"({len(terminal.seen)} seen in all); all gone in {gone:.2f} s")
        assert not left, f"{len(left)} processes outlived the terminal by {GONE_SECONDS} s:\n{_describe(left)}"
    finally:
        terminal.kill_everything()


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["first-screen", "importing", "quitting", "dialog"])
def test_closing_the_terminal_ends_every_process(moment):
    _close_after_first_screen(moment)


@pytest.mark.slow
def test_ctrl_q_at_the_first_screen_exits_cleanly_with_every_process():
    terminal = Terminal()
    try:
        terminal.wait_for("Start", "Review")
        before = terminal.snapshot()
        terminal.send(b"\x11")
        gone, left = terminal.wait_gone(GONE_SECONDS)
        print(f"\n[ctrl+q] {len(before)} processes ({len(terminal.seen)} seen in all); all gone in {gone:.2f} s")
        assert not left, f"{len(left)} processes outlived ctrl+q by {GONE_SECONDS} s:\n{_describe(left)}"
        assert terminal.status is not None and os.waitstatus_to_exitcode(terminal.status) == 0
    finally:
        terminal.kill_everything()


@pytest.mark.slow
def test_ctrl_q_while_the_other_steps_are_built_prints_no_error():
    """The steps after Start are mounted just after it is drawn: a quit then must end the app without a traceback."""
    for delay in (0.0, 0.01, 0.02, 0.025, 0.03, 0.035, 0.04, 0.05, 0.06, 0.08):  # while the steps are mounted
        terminal = Terminal()
        try:
            terminal.wait_for("New run")
            time.sleep(delay)
            terminal.send(b"\x11")
            terminal.wait_gone(GONE_SECONDS)
            shown = terminal.output.decode(errors="replace")
            assert "Traceback" not in shown and "Error" not in shown, f"after ctrl+q {delay} s in:\n{shown[-2000:]}"
            assert terminal.status is not None and os.waitstatus_to_exitcode(terminal.status) == 0
        finally:
            terminal.kill_everything()


@pytest.mark.slow
def test_training_finishes_after_the_terminal_is_lost_and_then_the_process_ends(tmp_path):
    run_dir = tmp_path / "run"  # 1 epoch: 33 steps, then an eval and a checkpoint
    terminal = Terminal("train", "demo", "--output-dir", str(run_dir), "--set", "training.num_train_epochs=1")
    try:
        deadline = time.monotonic() + 240
        while not any(event["event"] == "log" for event in read_events(run_dir)):
            assert time.monotonic() < deadline, "no log event within 240 s"
            assert terminal.pump(0.1), f"the program ended before training; last output: {terminal.output[-600:]!r}"
        step_at_close = max(event["step"] for event in read_events(run_dir) if event["event"] == "log")
        terminal.snapshot()
        terminal.close()
        deadline = time.monotonic() + 300
        while True:
            exited = terminal.reap() is not None  # before reading: an exited process has written every event
            events = read_events(run_dir)
            if events and events[-1]["event"] == "end":
                break
            assert not exited, f"the process ended before its run: {events[-3:]}"
            assert time.monotonic() < deadline, f"the run did not end within 300 s of the terminal closing: {events[-3:]}"
            time.sleep(0.1)
        end = events[-1]
        assert end["status"] == "completed", events[-3:]
        assert end["global_step"] > step_at_close > 0  # it trained on after the terminal closed
        _, left = terminal.wait_gone(END_TO_EXIT_SECONDS)
        after_end = time.time() - end["time"]
        print(f"\n[training] run ended {end['global_step']} steps; every process gone {after_end:.2f} s after "
              f"the end event")
        assert not left, f"{len(left)} processes outlived the run by {END_TO_EXIT_SECONDS} s:\n{_describe(left)}"
        assert os.waitstatus_to_exitcode(terminal.status) == 0
        assert (run_dir / "final" / "adapter_config.json").is_file()
    finally:
        terminal.kill_everything()
