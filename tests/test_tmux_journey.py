"""One whole journey in a real terminal: `sft-wizard` in tmux at 80x24, keys sent as a person types them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from conftest import REPO

pytestmark = pytest.mark.slow  # a real terminal, the wizard's analyses and a short training run

if shutil.which("tmux") is None and not os.environ.get("CI"):
    pytest.skip("tmux is not installed here (CI requires it)", allow_module_level=True)


class Tmux:
    """A tmux server of its own (its own socket) with one 80x24 window running a command."""

    def __init__(self, command: str, cwd: str) -> None:
        self.socket = f"sft-journey-{uuid.uuid4().hex[:8]}"
        self._tmux("new-session", "-d", "-s", "j", "-x", "80", "-y", "24", f"cd {cwd} && {command}")

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True, text=True,
                              check=False).stdout

    def screen(self) -> str:
        """The 24 lines on the screen now."""
        return self._tmux("capture-pane", "-p", "-t", "j")

    def keys(self, *keys: str) -> None:
        """Send keys (tmux names: Enter, Tab, C-n), one at a time with a short pause, as a person types."""
        for key in keys:
            self._tmux("send-keys", "-t", "j", key)
            time.sleep(0.15)

    def wait_for(self, text: str, seconds: float = 120) -> str:
        """The screen once it shows text; fails with the screen when it does not in time."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def alive(self) -> bool:
        return "j" in self._tmux("list-sessions", "-F", "#{session_name}").split()

    def close(self) -> None:
        self._tmux("kill-server")


def test_new_run_every_step_train_and_quit_in_tmux_at_80x24(tmp_path):
    env = f"env XDG_CONFIG_HOME={tmp_path}/config XDG_STATE_HOME={tmp_path}/state TERM=xterm-256color"
    tmux = Tmux(f"{env} {sys.executable} -m tui; echo exited $?; sleep 30", str(tmp_path))
    try:
        tmux.wait_for("New run")
        tmux.keys("Enter")  # New run
        tmux.wait_for("Model: filter")
        tmux.keys(*"tiny-demo", "Enter")
        tmux.wait_for("Linear modules")
        tmux.keys("C-n", "C-n", "C-n", "C-n")  # Hardware, Method, Dataset, Training
        tmux.wait_for("num_train_epochs")
        tmux.keys("Tab")  # max_steps
        tmux.keys(*"3")
        for _ in range(12):  # down into the Batch group: the step scrolls with the focus
            tmux.keys("Tab")
        screen = tmux.screen()
        later = ("per_device_train_batch_size", "gradient_accumulation_steps", "max_length", "optim", "weight_decay")
        assert any(name in screen for name in later), screen
        assert "num_train_epochs" not in screen, screen  # scrolled: the top of the step went up
        tmux.keys("C-n")
        tmux.wait_for("ready to train")
        tmux.keys("C-t")
        screen = tmux.wait_for("completed", seconds=180)
        assert "3/3" in screen and "ETA" in screen and "%" in screen, screen
        for line in screen.splitlines():
            assert len(line) <= 80
        tmux.keys("C-q")
        screen = tmux.wait_for("exited 0", seconds=10)
        assert (tmp_path / "runs" / "my-run" / "final").is_dir()
        quiet_until = time.monotonic() + 3  # multiprocessing's resource tracker, if it speaks, does so right after the exit
        while time.monotonic() < quiet_until:
            assert "Warning" not in tmux.screen() and "leaked" not in tmux.screen(), tmux.screen()
            time.sleep(0.1)
    finally:
        tmux.close()
