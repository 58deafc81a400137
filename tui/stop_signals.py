"""SIGINT and SIGTERM while the app runs: the run training in this process stops as a headless run does, then the app closes.

The handler only sets the run's stop flag and starts a thread; that thread waits for the run's end (its
checkpoint and final/ written) and closes the app, so the process exits with the run's code (130 stopped).
Without a run training here (the wizard, `attach`), a signal closes the app: a viewer never stops a run.
"""

from __future__ import annotations

import threading

from textual.app import App

from engine.errors import EXIT_STOPPED
from tui.monitor.sources import InProcessRun


def install_app_stop_signals(app: App) -> None:
    """Route SIGINT and SIGTERM through the engine's stop path for as long as this process lives."""
    from engine.run.stop_signals import install_stop_signals

    def stop(reason: str) -> None:
        run = InProcessRun.training_now()
        if run is not None:
            run.control.request_stop(reason)
        threading.Thread(target=_close_after, args=(app, run), name="stop-signal", daemon=True).start()

    install_stop_signals(stop, abort_on_second_sigint=False)


def _close_after(app: App, run: InProcessRun | None) -> None:
    """Wait for the run's end, then close the app (nothing to close once it has exited: the launcher waits)."""
    if run is not None and run.thread is not None:
        run.thread.join()
    try:
        app.call_from_thread(app.exit, EXIT_STOPPED)
    except RuntimeError:  # the app is not running (any more): the launcher returns the run's code
        pass
