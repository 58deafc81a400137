"""Starting the Textual app (imported only when a screen is needed)."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING

from engine.errors import EXIT_OK, EXIT_USER_ERROR, UserError
from tui.hangup import HUNG_UP
from tui.shared.log_file import open_for_append
from tui.monitor.sources import InProcessRun
from tui.stop_signals import install_app_stop_signals
from tui.wizard.job_processes import JOBS, trimmed_analysis_log

if TYPE_CHECKING:
    import argparse

HANGUP_GRACE_SECONDS = 1.0
"""How long after a hang-up (and after training, if any) the process may take to end by itself."""


def _ignore_hangup() -> None:
    """A dropped SSH session or closed terminal must never stop a run."""
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _leave_terminal(log_path: str | None) -> None:
    """Stop using the terminal: output goes to a log file (or nowhere), SIGHUP is ignored again.

    Needed after the app exits with training still running (detach, or a dropped terminal):
    asyncio put SIGHUP back to its default (which kills) when the app's loop closed, and a write
    to a terminal that is gone would fail.
    """
    _ignore_hangup()
    for name in ("SIGCONT", "SIGTSTP", "SIGWINCH"):  # Textual's terminal handlers outlive its app
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    target = open_for_append(log_path) if log_path else None
    if target is None:
        target = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(target, fd)


def _run_app(app) -> int:
    """Run the app; if a training thread outlives it (detach, lost terminal), wait for the run to end.

    SIGHUP (the terminal or SSH connection went away) closes the UI only: the app installs a
    handler that exits it (see tui.hangup), and training goes on to the end in this process.
    Then nothing else may keep the process: not the analysis workers, not Textual's threads
    blocked on the dead terminal. SIGINT and SIGTERM stop a run training here as headless, then close the app.
    """
    from tui.shared.driver import prompt_exit_driver

    _ignore_hangup()
    install_app_stop_signals(app)
    threading.Thread(target=_end_after_hangup, name="hangup-watchdog", daemon=True).start()
    app.driver_class = prompt_exit_driver(app.driver_class, stray_output=trimmed_analysis_log())
    try:
        code = app.run()
    except Exception:  # the terminal went away under the app: training must still finish
        code = EXIT_OK
    JOBS.terminate()  # quitting is instant: no analysis outlives the UI
    code = _wait_for_training(code if isinstance(code, int) else EXIT_OK)
    if HUNG_UP.is_set():
        _exit_now(code)
    _leave(code)
    return code


def _leave(code: int) -> None:
    """End the process with code once the app and any training are done: exit handlers run, threads are not joined.

    What is left then is Textual's input thread finishing its last poll of the terminal (tui.shared.driver) and
    daemon threads; the interpreter's own shutdown would wait up to 0.2 s for the first.
    """
    atexit._run_exitfuncs()  # logging's flush, multiprocessing's and weakref.finalize's clean-ups
    _exit_now(code)


def _wait_for_training(code: int) -> int:
    """Detach from the terminal and wait while this process's run trains; its exit code, or the app's."""
    source = InProcessRun.latest()
    if source is None:
        return code
    if source.thread is not None and source.thread.is_alive():
        log_path = os.path.join(source.run_dir, "detached.log")
        try:
            print(f"sft-wizard: training continues in this process (pid {os.getpid()}), detached from the terminal;\n"
                  f"  follow it with `sft-wizard attach {source.run_dir}` (output goes to {log_path})",
                  file=sys.stderr, flush=True)
        except OSError:
            pass
        _leave_terminal(log_path)  # SIGTERM/SIGINT still stop it as before (tui.stop_signals)
        source.thread.join()
    return source.result.exit_code if source.result is not None else code


def _end_after_hangup() -> None:
    """Once the terminal is gone, let training finish, then end the process if it has not ended by itself.

    Textual's shutdown can block for good writing to a dead terminal; by then nothing is left to save.
    """
    HUNG_UP.wait()
    running = InProcessRun.training_now()
    if running is not None and running.thread is not None:
        running.thread.join()
    time.sleep(HANGUP_GRACE_SECONDS)
    latest = InProcessRun.latest()
    _exit_now(latest.result.exit_code if latest is not None and latest.result is not None else EXIT_OK)


def _exit_now(code: int) -> None:
    """End the process at once with code, its analysis workers first."""
    JOBS.terminate()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def launch_wizard(preset: str | None) -> int:
    """Open the wizard (optionally with a preset loaded at Review)."""
    from tui.wizard.app import make_app

    try:
        app = make_app(preset)
    except UserError as exc:
        print(f"sft-wizard: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    return _run_app(app)


def launch_monitor(args: argparse.Namespace) -> int:
    """Open the live monitor for `train` on a terminal, or for `attach RUN_DIR`."""
    from pathlib import Path

    from tui.monitor.app import MonitorApp

    if args.command == "attach":
        if not (Path(args.run_dir) / "events.jsonl").is_file():
            print(f"sft-wizard: error: {args.run_dir} has no events.jsonl; is it a run directory?", file=sys.stderr)
            return EXIT_USER_ERROR
        return _run_app(MonitorApp.attach(args.run_dir))
    from engine.config.presets import load_preset
    from engine.run.multi.process_count import set_process_count

    try:
        config, warnings, _ = load_preset(args.preset, args.overrides)
        set_process_count(config, args.gpus, args.processes)
    except UserError as exc:
        print(f"sft-wizard: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return _run_app(MonitorApp.train(config, args.output_dir, args.resume, args.allow_changes))
