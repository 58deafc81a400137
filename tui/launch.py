"""Starting the Textual app (imported only when a screen is needed)."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from engine.errors import EXIT_OK, EXIT_USER_ERROR, UserError


def _ignore_hangup() -> None:
    """A dropped SSH session or closed terminal must never stop a run."""
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)


def _leave_terminal(log_path: str | None, source) -> None:
    """Stop using the terminal: output goes to a log file (or nowhere), SIGHUP is ignored again.

    Needed after the app exits with training still running (detach, or a dropped terminal):
    asyncio put SIGHUP back to its default (which kills) when the app's loop closed, and a write
    to a terminal that is gone would fail.
    """
    _ignore_hangup()
    for name in ("SIGCONT", "SIGTSTP", "SIGWINCH"):  # Textual's terminal handlers outlive its app
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    from engine.cli.main import install_stop_signals

    install_stop_signals(source.control)  # SIGTERM/SIGINT still stop gracefully, with a checkpoint
    try:
        target = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if log_path else None
    except OSError:
        target = None
    if target is None:
        target = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(target, fd)


def _run_app(app) -> int:
    """Run the app; if a training thread outlives it (detach, lost terminal), wait for the run to end.

    SIGHUP (the terminal or SSH connection went away) closes the UI only: the app installs a
    handler that exits it (see tui.hangup), and training goes on to the end in this process.
    """
    _ignore_hangup()
    try:
        code = app.run()
    except Exception:  # the terminal went away under the app: training must still finish
        code = EXIT_OK
    from tui.monitor.sources import InProcessRun

    source = InProcessRun.latest()
    thread = source.thread if source is not None else None
    if thread is not None and thread.is_alive():
        log_path = os.path.join(source.run_dir, "detached.log")
        try:
            print(f"sft-wizard: training continues in this process (pid {os.getpid()}), detached from the terminal;\n"
                  f"  follow it with `sft-wizard attach {source.run_dir}` (output goes to {log_path})",
                  file=sys.stderr, flush=True)
        except OSError:
            pass
        _leave_terminal(log_path, source)
        thread.join()
        result = getattr(source, "result", None)
        return result.exit_code if result is not None else EXIT_OK
    result = getattr(source, "result", None)
    if result is not None:
        return result.exit_code
    return code if isinstance(code, int) else EXIT_OK


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

    try:
        config, warnings, _ = load_preset(args.preset, args.overrides)
    except UserError as exc:
        print(f"sft-wizard: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return _run_app(MonitorApp.train(config, args.output_dir, args.resume))
