"""Textual's terminal driver, less the wait for its input thread when the app leaves for good."""

from __future__ import annotations

from functools import cache

from textual.driver import Driver


def prompt_exit_driver(base: type[Driver]) -> type[Driver]:
    """base, or on a Unix terminal its subclass that leaves without waiting out the input thread's polls.

    Textual's Linux driver stops its input thread by setting an event the thread polls every 0.1 s, joins it, and
    the thread polls once more for input still on its way: 100-200 ms of every quit spent waiting on a terminal
    that has nothing more to say. Leaving for good, nothing needs that thread finished: it ends by itself, and
    the launcher ends the process without joining it (tui.launch).
    """
    from textual.drivers.linux_driver import LinuxDriver

    return _unix_driver() if base is LinuxDriver else base


@cache
def _unix_driver() -> type[Driver]:
    """The LinuxDriver subclass, made on first use: its module imports termios, which Windows has not."""
    import signal
    import termios

    from textual.drivers.linux_driver import LinuxDriver

    class PromptExitDriver(LinuxDriver):
        """LinuxDriver whose final stop tells the input thread to end and does not wait for it."""

        _leaving = False
        _suspending = False

        def suspend_application_mode(self) -> None:
            self._suspending = True  # Textual suspends through stop_application_mode, and resumes input later
            try:
                super().suspend_application_mode()
            finally:
                self._suspending = False

        def stop_application_mode(self) -> None:
            self._leaving = not self._suspending
            super().stop_application_mode()

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
