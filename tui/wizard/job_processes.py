"""The wizard's background job processes: a small warm pool for analyses, and one-off processes for the probe."""

from __future__ import annotations

import atexit
import os
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TypeVar

from engine.paths import cache_dir
from tui.shared.log_file import open_for_append

if TYPE_CHECKING:  # multiprocessing is imported when the first job starts, after the first screen
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

Result = TypeVar("Result")

POLL_SECONDS = 0.2
"""How often a thread waiting on a one-off process checks whether it was cancelled."""
EXIT_SECONDS = 30
"""How long a one-off process that has answered may take to exit before it is killed."""
LOG_LIMIT_BYTES = 5 * 2**20
"""An analysis log larger than this is emptied when an app starts."""


def analysis_process_count() -> int:
    """Two analysis processes, or one on a machine of two cores or fewer, where the app keeps a core of its own.

    Each process imports the training libraries (~7 CPU-seconds, ~0.5 GB); a second one only runs the three
    analyses side by side, which on two cores competes with the UI for the same cores.
    """
    from engine.machine.cpus import usable_cpu_count

    return 2 if usable_cpu_count() > 2 else 1


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker, if it is not running, with this process's stderr as its own.

    The tracker passes sys.stderr's descriptor to its process, and while an app runs, sys.stderr is Textual's print
    capture, whose descriptor is -1: the spawn would fail. The descriptor it needs is 2, which the app points at
    analysis_log (tui.shared.driver). sys.stderr is the whole process's: the app makes the pool on its UI thread, the
    thread that sets and restores Textual's capture, so no other thread sees it swapped.
    """
    from multiprocessing import resource_tracker

    captured, sys.stderr = sys.stderr, sys.__stderr__ or sys.stderr
    try:
        resource_tracker.ensure_running()
    finally:
        sys.stderr = captured


class Cancelled(Exception):
    """The work was stopped: its caller was cancelled, or the app is quitting."""


def analysis_log() -> Path:
    """Where the analysis processes' output goes, and the app process's own stderr while it draws on the terminal."""
    return cache_dir() / "logs" / "analysis.log"


def trimmed_analysis_log() -> Path:
    """analysis_log, emptied first when it has grown past LOG_LIMIT_BYTES (each app that opens appends to it)."""
    path = analysis_log()
    try:
        if path.stat().st_size > LOG_LIMIT_BYTES:
            os.truncate(path, 0)
    except OSError:
        pass  # no log yet
    return path


def _output_to_log() -> None:
    """In a child process: send stdout and stderr (the file descriptors, so C libraries' writes too) to analysis_log."""
    log = open_for_append(analysis_log())
    if log is None:  # an unwritable cache: the output stays where the app's own goes
        return
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)


def _warm() -> None:
    """Send the pool process's output to the log, then import the training libraries ahead of the first request."""
    _output_to_log()
    from engine.libraries import quiet_libraries

    quiet_libraries()


def _working_folder() -> str | None:
    """This process's working folder, or None when it was deleted."""
    try:
        return os.getcwd()
    except OSError:
        return None


def _in_folder(folder: str | None, function: Callable[..., Result], *args: object) -> Result:
    """In a pool process: run function(*args) from folder, the app's working folder (relative paths are the user's).

    The pool outlives the folder the app was in when the pool started (a wizard opened again, the tests' apps).
    """
    if folder is not None and folder != _working_folder():
        os.chdir(folder)
    return function(*args)


def _answer(sender: Connection, cuda_device: str | None, function: Callable[..., object], args: tuple) -> None:
    """In the one-off process: output to the log, CUDA restricted to cuda_device (before torch), run, send (ok, value)."""
    _output_to_log()
    if cuda_device:
        from engine.machine.gpu_choice import show_only_gpus

        show_only_gpus([cuda_device])
    try:
        answer = (True, function(*args))
    except Exception as exc:  # any failure travels back to the app, which shows it (the child has no screen)
        answer = (False, exc)
    sender.send(answer)
    sender.close()


def _receive(receiver: Connection, process: BaseProcess, cancelled: Callable[[], bool]) -> tuple[bool, object]:
    """The one-off process's (ok, value); terminates it and raises Cancelled once cancelled() is true."""
    while not receiver.poll(POLL_SECONDS):
        if cancelled():
            process.terminate()
            raise Cancelled()
    try:
        return receiver.recv()
    except EOFError:
        process.join()
        raise ChildProcessError(f"the process exited with code {process.exitcode} without an answer "
                                f"(its output is in {analysis_log()})") from None


def _end(process: BaseProcess) -> None:
    """Wait for a one-off process to exit, killing it if it lingers."""
    process.join(EXIT_SECONDS)
    if process.is_alive():
        process.kill()
        process.join()


class JobProcesses:
    """The processes background jobs run in: a warm pool (analyses) and one-off processes (the probe).

    One instance serves the whole process (JOBS): a pool process spends ~10 s importing the training
    libraries, so a wizard opened again in the same process (or the monitor's return to it) reuses it.
    """

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._making_pool = threading.Lock()
        self._closed = threading.Event()
        """Set by terminate(): no new job may start until an app opens the pool again."""
        self._quitting: Future[None] = Future()
        """Done once terminate() is called: wakes the threads waiting on pool jobs at once."""
        self._one_off: set[BaseProcess] = set()
        """The one-off processes running now (a probe), so that quitting can end them."""
        self._killed: list[BaseProcess] = []
        """Processes sent a kill and not yet reaped (terminate(reap=False))."""

    def open_pool(self) -> None:
        """Allow jobs again (an app starts); the pool itself starts with the first one."""
        self._closed.clear()
        if self._quitting.done():
            self._quitting = Future()
        trimmed_analysis_log()

    def pool(self) -> ProcessPoolExecutor:
        """The pool (created on first use; spawn, so no Textual state is forked); Cancelled once terminated.

        An app makes it on its UI thread once its first screen is drawn (see _start_resource_tracker). Its processes
        and multiprocessing's resource tracker inherit this process's stderr, which the app points at analysis_log
        while it has the terminal (tui.shared.driver): they never write on the screen, nor after the app is gone.
        """
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with self._making_pool:  # the first analyses ask for it at once, from their threads
            if self._closed.is_set():
                raise Cancelled()
            if self._pool is None:
                _start_resource_tracker()
                self._pool = ProcessPoolExecutor(max_workers=analysis_process_count(), initializer=_warm,
                                                 mp_context=multiprocessing.get_context("spawn"))
                atexit.register(self._pool.shutdown, wait=False, cancel_futures=True)
            return self._pool

    def run(self, function: Callable[..., Result], *args: object) -> Result:
        """Run function(*args) in the pool and wait (call this from a thread worker, never the UI).

        Raises Cancelled once the pool was terminated (the app is quitting), so no thread is left
        waiting for a process that is gone.
        """
        quitting = self._quitting
        future = self.pool().submit(_in_folder, _working_folder(), function, *args)
        wait([future, quitting], return_when=FIRST_COMPLETED)
        if not future.done():
            future.cancel()
            raise Cancelled()
        return future.result()

    def run_alone(self, function: Callable[..., Result], *args: object, cuda_device: str | None = None,
                  cancelled: Callable[[], bool] = lambda: False) -> Result:
        """Run function(*args) in a spawned process of its own, which has exited when this returns or raises.

        The process sees only `cuda_device` (a GPU UUID) when one is given, so its CUDA context and
        cached memory live and die with it. Raises what function raised, Cancelled (the process
        terminated) once cancelled() is true, or ChildProcessError when the process dies unanswered.
        Call this from a thread worker, never the UI.
        """
        import multiprocessing

        self.pool()  # a spawn needs the resource tracker, which the pool's making started
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_answer, args=(sender, cuda_device, function, args))
        process.start()
        self._one_off.add(process)
        sender.close()
        try:
            succeeded, value = _receive(receiver, process, cancelled)
        finally:
            receiver.close()
            _end(process)
            self._one_off.discard(process)
        if not succeeded:
            raise value
        return value

    def terminate(self, reap: bool = True) -> None:
        """End every analysis process now, without waiting for work in flight (quitting must be instant).

        Pool workers may be importing torch for a minute; the executor would wait for them at exit.
        Waiting threads get BrokenProcessPool, which nobody is left to read. reap=False only sends the kills:
        the kernel tears the processes down while the app closes, and a later terminate() reaps them.
        """
        self._closed.set()
        if not self._quitting.done():
            self._quitting.set_result(None)
        processes = list(self._one_off)
        with self._making_pool:  # a pool being made now is ended with the others
            if self._pool is not None:
                processes += list((getattr(self._pool, "_processes", None) or {}).values())  # no public way before 3.14
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
        for process in processes:
            if process.is_alive():
                process.kill()
        self._killed += processes
        if reap:
            for process in self._killed:
                process.join(1)
            self._killed.clear()


JOBS = JobProcesses()
"""This process's job processes; a WizardApp uses it unless given its own."""
