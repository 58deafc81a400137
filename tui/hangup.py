"""Closing the UI (not the run) when the terminal hangs up."""

from __future__ import annotations

import asyncio
import signal

from textual.app import App


def exit_on_hangup(app: App) -> None:
    """On SIGHUP, mark the app hung up and exit it; the launcher then waits for training to finish."""
    if not hasattr(signal, "SIGHUP"):
        return

    def hung_up() -> None:
        app.hung_up = True  # type: ignore[attr-defined]
        app.exit(0)

    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, hung_up)
    except (RuntimeError, NotImplementedError, ValueError):  # not the main thread (tests) or no signals
        pass
