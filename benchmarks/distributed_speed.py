"""Wall time of the demo in one process against N CPU processes through accelerate (gloo), on this machine.

Usage: python benchmarks/distributed_speed.py [--processes 2] [--epochs 2]
Prints the wall time, the trainer's own train_runtime and the steps of each; set-up (imports, data,
rendezvous) is the difference between the two times.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.record.events import read_events  # noqa: E402


def timed_run(processes: int, epochs: int, folder: Path) -> tuple[float, dict]:
    """Train the demo headless; the wall time and the `end` event."""
    run_dir = folder / f"p{processes}"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tui", "train", "demo", "--headless", "--output-dir", str(run_dir),
                    "--processes", str(processes), "--set", f"training.num_train_epochs={epochs}",
                    "--set", "training.eval_strategy=no", "--set", "training.save_strategy=no"],
                   cwd=REPO, check=True, capture_output=True, timeout=1200)
    return time.perf_counter() - started, read_events(run_dir)[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for processes in (1, args.processes):
            wall, end = timed_run(processes, args.epochs, Path(tmp))
            print(f"{processes} process(es): wall {wall:6.1f} s, train_runtime {end.get('train_runtime') or 0:6.1f} s, "
                  f"{end.get('global_step')} steps, final loss {end.get('final_loss'):.4f}")


if __name__ == "__main__":
    main()
