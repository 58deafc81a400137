"""The terminal driver that leaves without waiting out its input thread still reads keys after a suspend and resume."""

from __future__ import annotations

import json
import os
import pty
import sys
import time

import pytest
from conftest import REPO

SCENARIO = """
import asyncio, json, sys
from textual.app import App
from textual.drivers.linux_driver import LinuxDriver
from tui.shared.driver import prompt_exit_driver

async def main():
    driver = prompt_exit_driver(LinuxDriver)(App())
    driver.start_application_mode()
    await asyncio.sleep(0.3)
    driver.suspend_application_mode()  # what Textual does on SIGTSTP, and what app.suspend() does
    driver.resume_application_mode()
    await asyncio.sleep(0.3)
    resumed = {"reading": driver._key_thread.is_alive(), "told_to_end": driver.exit_event.is_set()}
    thread = driver._key_thread
    driver.stop_application_mode()  # the app leaving for good: the thread is told to end and not waited for
    thread.join(2)
    left = {"told_to_end": driver.exit_event.is_set(), "thread_ended": not thread.is_alive()}
    print(json.dumps({"resumed": resumed, "left": left}), file=open(sys.argv[1], "w"))

asyncio.run(main())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="a Unix terminal driver")
def test_after_a_suspend_and_resume_the_input_thread_reads_again_and_leaving_ends_it(tmp_path):
    answer = tmp_path / "answer.json"
    pid, terminal = pty.fork()
    if pid == 0:  # the child: a real terminal, as the app has under tmux or SSH
        try:
            os.chdir(REPO)
            os.execv(sys.executable, [sys.executable, "-c", SCENARIO, str(answer)])
        finally:
            os._exit(127)  # never back into pytest in the child
    deadline = time.time() + 30
    while time.time() < deadline:  # drain the terminal so the child never blocks writing to it
        try:
            if not os.read(terminal, 65536):
                break
        except OSError:
            break
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    result = json.loads(answer.read_text())
    assert result["resumed"] == {"reading": True, "told_to_end": False}
    assert result["left"] == {"told_to_end": True, "thread_ended": True}


STRAY_OUTPUT = """
import asyncio, os, subprocess, sys
from pathlib import Path
from textual.app import App
from textual.drivers.linux_driver import LinuxDriver
from tui.shared.driver import prompt_exit_driver

async def main():
    driver = prompt_exit_driver(LinuxDriver, stray_output=Path(sys.argv[1]))(App())
    driver.start_application_mode()
    os.write(2, b"a C library's warning\\n")
    subprocess.run([sys.executable, "-c", "import sys; print('a child process', file=sys.stderr)"])
    driver.write("drawn by the app\\n")
    driver.flush()
    await asyncio.sleep(0.3)
    driver.suspend_application_mode()
    os.write(2, b"while suspended\\n")
    driver.resume_application_mode()
    os.write(2, b"resumed\\n")
    driver.stop_application_mode()
    driver.close()
    os.write(2, b"after the app\\n")

asyncio.run(main())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="a Unix terminal driver")
def test_while_the_app_draws_stray_output_goes_to_the_log_and_the_terminal_gets_it_back_after(tmp_path):
    log = tmp_path / "logs" / "stray.log"
    pid, terminal = pty.fork()
    if pid == 0:
        try:
            os.chdir(REPO)
            os.execv(sys.executable, [sys.executable, "-c", STRAY_OUTPUT, str(log)])
        finally:
            os._exit(127)
    shown = b""
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0, shown.decode(errors="replace")
    screen = shown.decode(errors="replace")
    assert "drawn by the app" in screen and "while suspended" in screen and "after the app" in screen
    assert "C library" not in screen and "child process" not in screen and "resumed" not in screen
    assert log.read_text().splitlines() == ["a C library's warning", "a child process", "resumed"]
