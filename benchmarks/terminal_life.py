"""The wizard's life in a real terminal (tmux): first screen against a bare Textual app, ctrl+q, a killed session.

Runs the bare app and the wizard alternately in one session, so both see the same machine load.
Prints each measurement, the medians and the ratio. Both run with Python's bytecode cache, as on a user's
machine (PYTHONDONTWRITEBYTECODE is cleared: without the cache every start compiles our ~45 modules, ~65 ms).
Usage: python benchmarks/terminal_life.py [RUNS]
"""

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
BARE_APP = '''
from textual.app import App
from textual.widgets import Footer, Static

class Bare(App):
    def compose(self):
        yield Static(" 1 Start › 2 Model › 3 Hardware › 4 Method › 5 Dataset › 6 Training › 7 Review")
        yield Footer()

Bare().run()
'''
WIZARD = 'from tui.__main__ import main\nif __name__ == "__main__":  # spawned workers import this file too\n    main([])\n'


def _tree(marker: str) -> set[int]:
    """The processes whose command line holds marker, and all their descendants (spawned workers)."""
    found = {int(pid) for pid in subprocess.run(["pgrep", "-f", f"python /tmp/{marker}"], capture_output=True, text=True).stdout.split()}
    table = [line.split() for line in subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True,
                                                     text=True).stdout.splitlines()]
    grew = True
    while grew:
        children = {int(pid) for pid, ppid in table if int(ppid) in found} - found
        found |= children
        grew = bool(children)
    return found


def _alive(pids: set[int]) -> bool:
    """Whether any of these processes still runs (zombies count as gone)."""
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0]
        except OSError:
            continue
        if state != "Z":
            return True
    return False


def _start(code: str, marker: str, size: str = "80x24") -> tuple[str, float]:
    """A tmux session running `python -c code` (marker tags its processes); (session, start time)."""
    width, height = size.split("x")
    session = f"life-{os.getpid()}-{time.monotonic_ns()}"
    script = Path(f"/tmp/{marker}.py")
    script.write_text(code)
    for _ in range(20):  # a tmux server whose last session just ended refuses new ones for a moment
        start = time.perf_counter()
        started = subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", width, "-y", height,
                                  f"cd {REPO} && env -u PYTHONDONTWRITEBYTECODE TERM=xterm-256color {PYTHON} {script}"], capture_output=True)
        if started.returncode == 0:
            return session, start
        time.sleep(0.1)
    raise RuntimeError(f"tmux did not start a session: {started.stderr.decode()}")


def _wait_for_screen(session: str, start: float) -> float:
    """Seconds from start until the step bar is drawn."""
    while time.perf_counter() - start < 30:
        pane = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
        if "1 Start" in pane and "Review" in pane:
            return time.perf_counter() - start
        time.sleep(0.005)
    raise RuntimeError("no first screen within 30 s")


def _wait_gone(pids: set[int], limit: float = 60) -> float:
    """Seconds until none of these processes is left (limit when some survive)."""
    start = time.perf_counter()
    while _alive(pids) and time.perf_counter() - start < limit:
        time.sleep(0.01)
    return time.perf_counter() - start


def first_screen(code: str, name: str) -> float:
    """Seconds to the first screen of one launch; the session is then closed and waited for."""
    marker = f"life-{name}-{os.getpid()}"
    session, start = _start(code, marker)
    try:
        return _wait_for_screen(session, start)
    finally:
        pids = _tree(marker)
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        _wait_gone(pids)
        for pid in pids:  # the next launch must not share the CPU with this one's leftovers
            subprocess.run(["kill", "-9", str(pid)], capture_output=True)


def quit_time(delay: float, code: str = WIZARD) -> float:
    """Seconds from ctrl+q (sent `delay` seconds after the first screen) until every process is gone."""
    marker = f"life-quit-{os.getpid()}"
    session, start = _start(code, marker)
    _wait_for_screen(session, start)
    time.sleep(delay)
    pids = _tree(marker)
    sent = time.perf_counter()
    subprocess.run(["tmux", "send-keys", "-t", session, "C-q"], check=True)
    _wait_gone(pids)
    gone = time.perf_counter() - sent
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    return gone


def hangup_time(delay: float) -> float:
    """Seconds from killing the tmux session (a dropped SSH connection) until every process is gone."""
    marker = f"life-hup-{os.getpid()}"
    session, start = _start(WIZARD, marker)
    _wait_for_screen(session, start)
    time.sleep(delay)
    pids = _tree(marker)
    subprocess.run(["tmux", "kill-session", "-t", session], check=True)
    gone = _wait_gone(pids)
    print(f"    ({len(pids)} processes; {'all gone' if not _alive(pids) else 'SOME LEFT'})")
    return gone


def main() -> None:
    if not shutil.which("tmux"):
        sys.exit("tmux is needed (apt-get install tmux)")
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    first_screen(BARE_APP, "bare"), first_screen(WIZARD, "wizard")  # warm the file cache
    bare, wizard = [], []
    for _ in range(runs):
        bare.append(first_screen(BARE_APP, "bare"))
        wizard.append(first_screen(WIZARD, "wizard"))
    print(f"first screen, tmux 80x24, {os.cpu_count()} cores, {runs} runs each, alternating:")
    print(f"  bare Textual app: median {statistics.median(bare) * 1000:.0f} ms  ({', '.join(f'{t * 1000:.0f}' for t in bare)})")
    print(f"  sft-wizard:       median {statistics.median(wizard) * 1000:.0f} ms  ({', '.join(f'{t * 1000:.0f}' for t in wizard)})")
    print(f"  ratio wizard / bare: {statistics.median(wizard) / statistics.median(bare):.2f}")
    bare_quit = [quit_time(1.0, BARE_APP) for _ in range(3)]
    print(f"ctrl+q in the bare Textual app: every process gone in {', '.join(f'{t * 1000:.0f}' for t in bare_quit)} ms")
    for delay in (0.0, 1.0, 4.0):
        times = [quit_time(delay) for _ in range(3)]
        print(f"ctrl+q {delay:.0f} s after the first screen: every process gone in "
              f"{', '.join(f'{t * 1000:.0f}' for t in times)} ms")
    for delay in (0.3, 2.0):
        times = [hangup_time(delay) for _ in range(2)]
        print(f"tmux session killed {delay:.1f} s after the first screen: every process gone in "
              f"{', '.join(f'{t * 1000:.0f}' for t in times)} ms")


if __name__ == "__main__":
    main()
