"""CPU instructions from start to the first screen: the wizard against a bare Textual app, counted by valgrind.

Wall times of a ~0.25 s start swing with the machine's load; the instructions a process runs do not (runs agree
within ~0.3%, with an occasional one ~3% higher), so a change of 1-2% shows here when timing cannot show it.
Each program runs in tmux at 80x24 under `valgrind --tool=cachegrind --cache-sim=no` and exits as its first frame
is drawn. Prints each count, the medians and the ratio wizard / bare (benchmarks/terminal_life.py times the same).
Usage: python benchmarks/first_screen_instructions.py [RUNS]   (needs valgrind and tmux; ~1 minute per run)
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import terminal_life  # this folder's: the same bare app, the same checkout
from terminal_life import PYTHON, REPO

BARE_APP = terminal_life.BARE_APP.replace("Bare().run()", '''
import os, sys

class PaintedOnce(Bare):
    def on_mount(self):
        self.call_after_refresh(self.painted)

    def painted(self):
        open(sys.argv[1], "w").close()
        os._exit(0)

PaintedOnce().run()
''')
"""The bare app benchmarks/terminal_life.py times, ending as its first frame is drawn."""
WIZARD = '''
import os, sys
from tui.wizard import app

async def painted(self, *args):  # the wizard's own hook, called once its first frame is drawn
    open(sys.argv[1], "w").close()
    os._exit(0)

app.WizardApp._first_paint = painted
from tui.__main__ import main
if __name__ == "__main__":  # spawned processes import this file too
    main([])
'''


def instructions(code: str, folder: Path) -> int:
    """The instructions one launch of code runs until its first frame (valgrind's `I refs`)."""
    script, painted, log = folder / "program.py", folder / "painted", folder / "valgrind.log"
    script.write_text(code)
    painted.unlink(missing_ok=True)
    session = f"instructions-{os.getpid()}"
    command = (f"cd {REPO} && env -u PYTHONDONTWRITEBYTECODE TERM=xterm-256color valgrind --tool=cachegrind "
               f"--cache-sim=no --cachegrind-out-file=/dev/null --log-file={log} {PYTHON} {script} {painted}")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True)
    try:
        deadline = time.monotonic() + 300
        while not painted.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"no first screen within 300 s under valgrind; its log is {log}")
            time.sleep(0.2)
        while "I   refs" not in log.read_text() and time.monotonic() < deadline:  # valgrind writes it at exit
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    return int(re.search(r"I\s+refs:\s+([\d,]+)", log.read_text()).group(1).replace(",", ""))


def main() -> None:
    for tool in ("valgrind", "tmux"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed (apt-get install {tool})")
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    bare, wizard = [], []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(runs):
            bare.append(instructions(BARE_APP, Path(folder)))
            wizard.append(instructions(WIZARD, Path(folder)))
    print(f"instructions to the first screen, tmux 80x24, {runs} runs each:")
    for name, counts in (("bare Textual app", bare), ("sft-wizard", wizard)):
        each = ", ".join(f"{count / 1e6:,.1f}" for count in counts)
        print(f"  {name + ':':17s} median {statistics.median(counts) / 1e6:,.1f} M  ({each})")
    print(f"  ratio wizard / bare: {statistics.median(wizard) / statistics.median(bare):.2f}")


if __name__ == "__main__":
    main()
