"""Training speed of `demo` under the live monitor against --headless, on this machine, in one run.

The monitored run trains in a real terminal (tmux); both runs' speed is the trainer's own
train_runtime from the `end` event, so start-up is not counted. Prints each pair and the ratio
headless/monitor (1.0 = no overhead; the target is >= 0.97), and the CPU the monitor's UI thread
used while the run trained: on a machine others share, the ratio swings with their load, the UI
thread's CPU far less.
Usage: python benchmarks/monitor_overhead.py [PAIRS] [EPOCHS]
"""

import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SFT_WIZARD = [sys.executable, "-m", "tui"]
"""This checkout's sft-wizard (python -m tui from the repository root), also from a worktree without its own .venv."""
PASSED_ON = ("HF_", "TOKENIZERS_", "XDG_")
"""Settings the monitored run gets as the headless one does (a running tmux server has its own environment)."""


def runtime(run_dir: Path) -> float:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    end = events[-1]
    assert end["event"] == "end" and end["status"] == "completed", end
    return float(end["train_runtime"])


def headless(run_dir: Path, epochs: int) -> float:
    subprocess.run([*SFT_WIZARD, "train", "demo", "--headless", "--output-dir", str(run_dir),
                    "--set", f"training.num_train_epochs={epochs}"], check=True, capture_output=True, cwd=REPO)
    return runtime(run_dir)


def monitored(run_dir: Path, epochs: int) -> tuple[float, float]:
    """The monitored run's train_runtime, and the CPU seconds its UI thread (the main thread) spent while it trained."""
    session = f"overhead-{int(time.time() * 1000)}"
    settings = " ".join(f"{k}={shlex.quote(v)}" for k, v in os.environ.items() if k.startswith(PASSED_ON))
    command = (f"exec env TERM=xterm-256color {settings} {shlex.join(SFT_WIZARD)} train demo --output-dir {run_dir} "
               f"--set training.num_train_epochs={epochs}")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30", "-c", str(REPO), command],
                   check=True, cwd=REPO)
    try:
        pid = int(subprocess.run(["tmux", "display", "-p", "-t", session, "#{pane_pid}"], capture_output=True,
                                 text=True, check=True).stdout)  # exec: the shell became the program
        events, ui_at_first_log = run_dir / "events.jsonl", None
        while True:
            text = events.read_text() if events.exists() else ""
            if ui_at_first_log is None and '"event": "log"' in text:
                ui_at_first_log = thread_cpu_seconds(pid)
            if '"event": "end"' in text:
                ui_cpu = thread_cpu_seconds(pid) - (ui_at_first_log or 0.0)
                break
            time.sleep(0.2)
        time.sleep(0.5)
        return runtime(run_dir), ui_cpu
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)  # after the end: nothing trains


def thread_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process's main thread, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    ratios, ui_shares = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(pairs):
            if i % 2:  # alternate which runs first, so a machine that gets busier favours neither
                (m, ui), h = monitored(Path(tmp) / f"m{i}", epochs), headless(Path(tmp) / f"h{i}", epochs)
            else:
                h, (m, ui) = headless(Path(tmp) / f"h{i}", epochs), monitored(Path(tmp) / f"m{i}", epochs)
            ratios.append(h / m)
            ui_shares.append(ui / m)
            print(f"pair {i + 1}: headless {h:.2f} s, monitor {m:.2f} s, ratio {h / m:.3f}; "
                  f"UI thread {ui:.2f} CPU s ({100 * ui / m:.1f}% of a core)")
    print(f"median speed ratio headless/monitor over {pairs} pairs: {statistics.median(ratios):.3f} (target >= 0.97)")
    print(f"median UI thread CPU while training: {100 * statistics.median(ui_shares):.1f}% of a core "
          "(the monitor's own cost, whatever else the machine runs)")


if __name__ == "__main__":
    main()
