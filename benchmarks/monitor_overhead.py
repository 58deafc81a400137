"""Training speed of `demo` under the live monitor against --headless, on this machine, in one run.

The monitored run trains in a real terminal (tmux); both runs' speed is the trainer's own
train_runtime from the `end` event, so start-up is not counted. Prints each pair and the ratio
headless/monitor (1.0 = no overhead; the target is >= 0.97).
Usage: python benchmarks/monitor_overhead.py [PAIRS] [EPOCHS]
"""

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin" / "sft-wizard"


def runtime(run_dir: Path) -> float:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    end = events[-1]
    assert end["event"] == "end" and end["status"] == "completed", end
    return float(end["train_runtime"])


def headless(run_dir: Path, epochs: int) -> float:
    subprocess.run([str(BIN), "train", "demo", "--headless", "--output-dir", str(run_dir),
                    "--set", f"training.num_train_epochs={epochs}"], check=True, capture_output=True, cwd=REPO)
    return runtime(run_dir)


def monitored(run_dir: Path, epochs: int) -> float:
    session = f"overhead-{int(time.time() * 1000)}"
    command = f"TERM=xterm-256color {BIN} train demo --output-dir {run_dir} --set training.num_train_epochs={epochs}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "100", "-y", "30", command], check=True, cwd=REPO)
    try:
        while True:
            events = run_dir / "events.jsonl"
            if events.exists() and '"event": "end"' in events.read_text():
                break
            time.sleep(0.2)
        time.sleep(0.5)
        return runtime(run_dir)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def main() -> None:
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(pairs):
            h = headless(Path(tmp) / f"h{i}", epochs)
            m = monitored(Path(tmp) / f"m{i}", epochs)
            ratios.append(h / m)
            print(f"pair {i + 1}: headless {h:.2f} s, monitor {m:.2f} s, ratio {h / m:.3f}")
    print(f"median speed ratio headless/monitor over {pairs} pairs: {statistics.median(ratios):.3f} (target >= 0.97)")


if __name__ == "__main__":
    main()
