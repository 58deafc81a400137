"""Time to the wizard's first screen in a real terminal (tmux), from launching the command.

Polls the tmux pane until the step indicator is drawn. Prints each run and the median.
Usage: python benchmarks/startup.py [RUNS]
"""

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin" / "sft-wizard"


def once(size: str = "80x24") -> float:
    width, height = size.split("x")
    session = f"startup-{os.getpid()}"
    start = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", width, "-y", height,
                    f"TERM=xterm-256color {BIN}"], check=True)
    try:
        while time.perf_counter() - start < 30:
            pane = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
            if "1 Start" in pane and "Review" in pane:
                return time.perf_counter() - start
            time.sleep(0.005)
        raise RuntimeError("the wizard did not appear within 30 s")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        while subprocess.run(["pgrep", "-f", str(BIN)], capture_output=True).returncode == 0:
            time.sleep(0.1)  # the next run must not share the CPU with this one's background imports


def main() -> None:
    if not shutil.which("tmux"):
        sys.exit("tmux is needed (apt-get install tmux)")
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    once()  # warm the file cache
    times = [once() for _ in range(runs)]
    for t in times:
        print(f"first screen: {t * 1000:.0f} ms")
    print(f"median time to first screen over {runs} runs: {statistics.median(times) * 1000:.0f} ms "
          f"(tmux 80x24, TERM=xterm-256color, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
