"""Textual's terminal driver, drawing on the terminal alone and leaving without waiting for its input thread."""

from __future__ import annotations

import os
import sys
from contextlib import suppress
from functools import cache
from pathlib import Path

from textual.driver import Driver

from tui.shared.log_file import open_for_append


def prompt_exit_driver(base: type[Driver], stray_output: Path | None = None) -> type[Driver]:
    """base, or on a Unix terminal its subclass that leaves without waiting out the input thread's polls.

    Textual's Linux driver stops its input thread by setting an event the thread polls every 0.1 s, joins it, and
    the thread polls once more for input still on its way: 100-200 ms of every quit spent waiting on a terminal
    that has nothing more to say. Leaving for good, nothing needs that thread finished: it ends by itself, and
    the launcher ends the process without joining it (tui.launch).

    With stray_output, the subclass also keeps the screen Textual's alone while the app has it: the process's
    stderr (file descriptor 2, which child processes inherit and C libraries write to) points at that file, and
    Textual draws on a copy of the terminal's descriptor. A child spawned while the app has the screen then never
    writes over it, nor on the terminal after the app has gone. A suspend (SIGTSTP) gives fd 2 back meanwhile.
    """
    from textual.drivers.linux_driver import LinuxDriver

    if base is not LinuxDriver:
        return base
    return _unix_driver(str(stray_output) if stray_output is not None else None)


@cache
def _unix_driver(stray_output: str | None) -> type[Driver]:
    """The LinuxDriver subclass, made on first use: its module imports termios, which Windows has not."""
    import signal
    import termios

    from textual.drivers.linux_driver import LinuxDriver

    class PromptExitDriver(LinuxDriver):
        """LinuxDriver whose final stop tells the input thread to end and does not wait; fd 2 is stray_output meanwhile."""

        _leaving = False
        _suspending = False
        _terminal: int | None = None
        """A copy of the terminal's stderr descriptor, which Textual draws on while fd 2 points at stray_output."""

        def start_application_mode(self) -> None:
            self._send_stderr_away()
            super().start_application_mode()

        def suspend_application_mode(self) -> None:
            self._suspending = True  # Textual suspends through stop_application_mode, and resumes input later
            try:
                super().suspend_application_mode()
            finally:
                self._suspending = False

        def stop_application_mode(self) -> None:
            self._leaving = not self._suspending
            super().stop_application_mode()
            self._take_stderr_back()  # before Textual prints an error, and for whatever runs after a suspend

        def close(self) -> None:
            super().close()  # the writer thread has written its last when this returns
            if self._leaving and self._terminal is not None:
                with suppress(OSError, ValueError):  # a terminal that is gone
                    self._file.close()  # and with it the terminal's copy
                self._terminal = None

        def _send_stderr_away(self) -> None:
            """Point fd 2 at stray_output, Textual's output at a copy of the terminal (kept as is if the file fails)."""
            if stray_output is None:
                return
            log = open_for_append(stray_output)
            if log is None:
                return
            if self._terminal is None:
                self._terminal = os.dup(2)
                encoding = getattr(sys.__stderr__, "encoding", None) or "utf-8"
                self._file = open(self._terminal, "w", encoding=encoding, errors="backslashreplace")
            os.dup2(log, 2)
            os.close(log)

        def _take_stderr_back(self) -> None:
            """Point fd 2 at the terminal again."""
            if self._terminal is not None:
                os.dup2(self._terminal, 2)

        def disable_input(self) -> None:
            if not self._leaving:  # a suspend: Textual's own way, so that resuming enables input again
                super().disable_input()
                return
            if self.exit_event.is_set():
                return
            signal.signal(signal.SIGWINCH, signal.SIG_DFL)
            self._disable_mouse_support()
            self.exit_event.set()  # never cleared: the thread sees it within 0.1 s and returns
            try:
                termios.tcflush(self.fileno, termios.TCIFLUSH)
            except termios.error:
                pass

    return PromptExitDriver
