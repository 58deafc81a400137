"""The wizard's job processes: one pool however many analyses ask for it first, and spawns that work inside an app."""

from __future__ import annotations

import subprocess
import sys
import threading

from conftest import REPO

from tui.wizard.job_processes import JobProcesses


def test_analyses_asking_for_the_pool_at_once_get_one_pool():
    jobs = JobProcesses()
    jobs.open_pool()
    start = threading.Barrier(6)
    pools = []

    def ask() -> None:
        start.wait()
        pools.append(jobs.pool())

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len(pools) == 6 and len({id(pool) for pool in pools}) == 1
    finally:
        jobs.terminate()


SPAWN_UNDER_CAPTURE = """
import os, sys
from tui.wizard.job_processes import JobProcesses

class PrintCapture:  # what Textual puts in sys.stderr while an app runs: no file descriptor
    def write(self, text): return len(text)
    def flush(self): pass
    def fileno(self): return -1

capture = sys.stderr = PrintCapture()
jobs = JobProcesses()
jobs.open_pool()
print(jobs.run_alone(os.getpid) != os.getpid(), sys.stderr is capture)
"""


def test_a_process_is_spawned_while_stderr_is_an_apps_print_capture():
    # The resource tracker passes sys.stderr's descriptor to its process; -1 failed the spawn of the first analysis.
    done = subprocess.run([sys.executable, "-c", SPAWN_UNDER_CAPTURE], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]  # spawned, and the app's capture is back in sys.stderr
