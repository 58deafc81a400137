"""The one stop path's signals: SIGINT and SIGTERM ask a run to stop after its step; SIGHUP never stops one.

Its own module, importing nothing of the engine: the wizard installs it before its first screen.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Callable


def install_stop_signals(stop: Callable[[str], None], abort_on_second_sigint: bool = True) -> None:
    """The one stop path: SIGINT and SIGTERM call stop(reason), and the run ends after its step with a checkpoint.

    SIGHUP is ignored so a run outlives its terminal. Where training runs in the main thread (headless, a rank),
    a second SIGINT aborts without saving; under the app the handler stays, as a second request changes nothing.
    """

    def handler(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        stop(f"stopped by {name}")
        then = " (Ctrl-C again to abort without saving)" if abort_on_second_sigint else ""
        try:
            print(f"\n{name}: stopping after this step and saving a checkpoint{then}", file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass
        if abort_on_second_sigint:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
