"""Closing the UI (not the run) when the terminal hangs up."""

from __future__ import annotations

import asyncio
import signal
import sys
import termios
import threading

from textual.app import App

WATCH_SECONDS = 0.5
"""How often the app checks that its terminal is still there."""
HUNG_UP = threading.Event()
"""Set once the terminal is gone: the launcher then lets nothing but training keep the process."""


def _terminal_alive() -> bool:
    """False once the controlling terminal is gone (ioctl on a hung-up tty fails)."""
    try:
        termios.tcgetattr(sys.__stdin__.fileno())
        return True
    except (OSError, termios.error, ValueError, AttributeError):
        return False


def exit_on_hangup(app: App) -> None:
    """On SIGHUP, or when the terminal is found dead, exit the app (once).

    The launcher then waits for training to finish. The periodic check covers a SIGHUP that
    arrived before this handler existed (it was ignored then).
    """

    def hung_up() -> None:
        if not HUNG_UP.is_set():
            HUNG_UP.set()
            app.exit(0)

    if hasattr(signal, "SIGHUP"):
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, hung_up)
        except (RuntimeError, NotImplementedError, ValueError):  # not the main thread (tests) or no signals
            pass
    if not app.is_headless and sys.__stdin__ is not None and sys.__stdin__.isatty():
        app.set_interval(WATCH_SECONDS, lambda: None if _terminal_alive() else hung_up())
