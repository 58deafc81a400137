"""The fault campaign of issue 26: kill -9 at random and aimed moments, signals, a full disk, damaged files,
changed settings and bad bytes, each against one uninterrupted demo run; prints the table.

Each case is a real `python -m tui train demo --headless` (12 steps, a checkpoint every 2, logging every step),
resumed with `--resume` until the run completes; its final loss is compared with the uninterrupted run's.
The disk-full case needs root (it mounts a tmpfs) and is reported as skipped otherwise.
Usage: python benchmarks/fault_campaign.py [RANDOM_KILLS] [SEED]   (defaults: 6 random kills, seed 26)
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]
from checkpoint_files import cut_short  # noqa: E402
from fault_points import KILL_DURING_SAVE, died_after  # noqa: E402

from engine.record.events import read_events  # noqa: E402

STEPS = ["--set", "training.max_steps=12", "--set", "training.save_strategy=steps", "--set", "training.save_steps=2",
         "--set", "training.logging_steps=1", "--set", "training.eval_strategy=no",
         "--set", "training.save_total_limit=null"]
ROWS: list[tuple[str, str, str]] = []


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui", "train", "demo", "--headless", *args]


def run(*args: str, extra: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args, *STEPS, *(extra or [])), cwd=REPO, capture_output=True, text=True)


def final_loss(run_dir: Path) -> float | None:
    ends = [e for e in read_events(run_dir) if e["event"] == "end" and e.get("status") == "completed"]
    logs = [e for e in read_events(run_dir) if e["event"] == "log"]
    return logs[-1]["loss"] if ends and logs else None


def resume_to_end(run_dir: Path, tries: int = 3) -> tuple[int, str]:
    """--resume until the run completes; (attempts, the last non-zero exit's first stderr line)."""
    for attempt in range(1, tries + 1):
        result = run("--resume", "--output-dir", str(run_dir))
        if result.returncode == 0:
            return attempt, ""
    return tries, (result.stderr.strip().splitlines() or ["?"])[0]


def against(reference: float, run_dir: Path) -> str:
    loss = final_loss(run_dir)
    if loss is None:
        return "no final loss"
    return "identical" if loss == reference else f"{loss:.6f} ({loss - reference:+.2e})"


def record(case: str, happened: str, loss: str = "n/a") -> None:
    ROWS.append((case, happened, loss))
    print(f"  {case}: {happened} | {loss}", file=sys.stderr, flush=True)


def wait_steps(run_dir: Path, process: subprocess.Popen, step: int) -> bool:
    """Wait until a log event of `step` or later; False if the process ended first."""
    while process.poll() is None:
        if any(e["event"] == "log" and e["step"] >= step for e in read_events(run_dir)):
            return True
        time.sleep(0.02)
    return False


def random_kills(work: Path, reference: float, count: int, rng: random.Random, total_seconds: float) -> None:
    for n in range(count):
        run_dir = work / f"random-{n}"
        process = subprocess.Popen(command("--output-dir", str(run_dir), *STEPS), cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_steps(run_dir, process, 1)
        time.sleep(rng.uniform(0, total_seconds))
        process.send_signal(signal.SIGKILL)
        process.wait()
        logged = max((e["step"] for e in read_events(run_dir) if e["event"] == "log"), default=0)
        if (run_dir / "final" / "adapter_model.safetensors").is_file() and final_loss(run_dir) is not None:
            record(f"kill -9 at random #{n + 1}", "ran to the end before the kill", against(reference, run_dir))
            continue
        attempts, error = resume_to_end(run_dir)
        staged = " (a save was cut: " + ", ".join(p.name for p in run_dir.glob("tmp-checkpoint-*")) + ")" \
            if list(run_dir.glob("tmp-checkpoint-*")) else ""
        happened = f"killed after step {logged}{staged}; resume " + (f"failed: {error}" if error else
                                                                    f"completed in {attempts} attempt(s)")
        record(f"kill -9 at random #{n + 1}", happened, against(reference, run_dir))


def aimed_kills(work: Path, reference: float) -> None:
    for step in (2, 6, 12):
        run_dir = work / f"aimed-{step}"
        killed = subprocess.run([sys.executable, "-c", KILL_DURING_SAVE, str(step), "train", "demo", "--headless",
                                 "--output-dir", str(run_dir), *STEPS], cwd=REPO, capture_output=True, text=True)
        attempts, error = resume_to_end(run_dir)
        set_aside = [p.name for p in run_dir.glob("incomplete-checkpoint-*")]
        happened = (f"exit {killed.returncode} saving checkpoint-{step}; "
                    + (f"resume failed: {error}" if error else
                       f"resume completed ({attempts} attempt(s)){'; set aside ' + ', '.join(set_aside) if set_aside else ''}"))
        record(f"kill -9 mid-save of checkpoint-{step}", happened, against(reference, run_dir))


def signals(work: Path, reference: float) -> None:
    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        run_dir = work / f"signal-{name}"
        process = subprocess.Popen(command("--output-dir", str(run_dir), *STEPS), cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_steps(run_dir, process, 3)
        process.send_signal(getattr(signal, name))
        code = process.wait()
        end = read_events(run_dir)[-1]
        saved = (run_dir / "final").is_dir()
        happened = f"exit {code}, {end.get('status')} at step {end.get('global_step')}, final/ {'saved' if saved else 'missing'}"
        if end.get("status") == "stopped":
            attempts, error = resume_to_end(run_dir)
            happened += "; resume " + (f"failed: {error}" if error else "completed")
        record(f"headless {name} mid-run", happened, against(reference, run_dir))


def disk_full(work: Path, reference: float) -> None:
    disk = work / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=9m", "tmpfs", str(disk)], capture_output=True).returncode:
        record("disk full (9 MiB tmpfs)", "skipped: mounting a tmpfs needs root")
        return
    try:
        run_dir = disk / "run"
        result = run("--output-dir", str(run_dir))
        end = read_events(run_dir)[-1]
        error_log = (run_dir / "error.log").stat().st_size if (run_dir / "error.log").exists() else 0
        happened = (f"exit {result.returncode}, {end.get('status')}, error.log {error_log} bytes: "
                    f"{(result.stderr.strip().splitlines() or ['?'])[0][len('sft-wizard: run failed: '):]}")
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        attempts, error = resume_to_end(run_dir)
        record("disk full while saving", happened + ("; after freeing space resume " + (f"failed: {error}" if error
                                                                                        else "completed")),
               against(reference, run_dir))
        full = disk / "full"
        subprocess.run(["dd", "if=/dev/zero", f"of={disk / 'filler'}", "bs=64k"], capture_output=True)
        result = run("--output-dir", str(full))
        record("disk full before the run directory", f"exit {result.returncode}; run directory left: "
               f"{full.exists()}; {result.stderr.strip()[len('sft-wizard: error: '):]}")
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def damaged_files(work: Path, whole: Path, reference: float) -> None:
    cases = {
        "events.jsonl: a non-UTF-8 line": lambda d: open(d / "events.jsonl", "ab").write(b"\xff\xfe\n"),
        "run.yaml: not YAML": lambda d: (d / "run.yaml").write_text("config: [unclosed\n"),
        "checkpoint-12: no trainer_state.json": lambda d: (d / "checkpoint-12" / "trainer_state.json").unlink(),
        "checkpoint-10: optimizer.pt cut short": lambda d: cut_short(d / "checkpoint-10" / "optimizer.pt"),
    }
    for case, damage in cases.items():
        run_dir = work / f"damaged-{len(ROWS)}"
        died_after(whole, run_dir, 12)
        if "checkpoint-10" in case:
            (run_dir / "checkpoint-12" / "trainer_state.json").unlink()
        damage(run_dir)
        runs = subprocess.run([sys.executable, "-m", "tui", "runs", str(run_dir)], cwd=REPO, capture_output=True, text=True)
        result = run("--resume", "--output-dir", str(run_dir))
        first = (result.stderr.strip().splitlines() or [""])[0]
        happened = f"runs exit {runs.returncode}; --resume exit {result.returncode}" + (f": {first}" if first else "")
        if result.returncode == 2 and "run.yaml" in case:
            (run_dir / "run.yaml").rename(run_dir / "run.yaml.damaged")  # as the message advises
            result = run("--resume", "--output-dir", str(run_dir))
            happened += f"; moved aside, --resume exit {result.returncode}"
        record(case, happened, against(reference, run_dir) if result.returncode == 0 else "n/a")


def changed_settings(work: Path, whole: Path, reference: float) -> None:
    run_dir = work / "changed"
    died_after(whole, run_dir, 6)
    refused = run("--resume", "--output-dir", str(run_dir), extra=["--set", "training.learning_rate=1e-3",
                                                                   "--set", "training.seed=7"])
    named = sum(key in refused.stderr for key in ("training.learning_rate", "training.seed"))
    allowed = run("--resume", "--allow-changes", "--output-dir", str(run_dir), extra=["--set", "training.learning_rate=1e-3"])
    recorded = "changes:" in (run_dir / "run.yaml").read_text()
    record("resume with a changed rate and seed", f"refused exit {refused.returncode} naming {named} of 2; with "
           f"--allow-changes exit {allowed.returncode}, recorded in run.yaml: {recorded}",
           against(reference, run_dir) + " (other settings: differs as it should)")


def bad_bytes(work: Path) -> None:
    source = (REPO / "presets" / "data" / "demo-alpaca.jsonl").read_bytes()
    for case, data in (("data: gzip named .jsonl", gzip.compress(source)),
                       ("data: latin-1 text", json.dumps({"instruction": "Café?", "input": "", "output": "Oui."},
                                                         ensure_ascii=False).encode("latin-1") + b"\n")):
        path = work / f"bad-{len(ROWS)}.jsonl"
        path.write_bytes(data)
        result = subprocess.run([sys.executable, "-m", "tui", "check", "demo", "--set", f"dataset.path={path}"],
                                cwd=REPO, capture_output=True, text=True)
        record(case, f"check exit {result.returncode}: {result.stderr.strip().splitlines()[-1]}")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 26)
    work = Path(tempfile.mkdtemp(prefix="fault-campaign-"))
    os.environ.update(XDG_STATE_HOME=str(work / "state"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    whole = work / "whole"
    result = run("--output-dir", str(whole))
    if result.returncode != 0:
        sys.exit(f"the uninterrupted run failed: {result.stderr[-500:]}")
    events = read_events(whole)
    seconds = events[-1]["time"] - next(e["time"] for e in events if e["event"] == "log")  # first log to end
    reference = final_loss(whole)
    record("uninterrupted run (12 steps)", f"completed; {seconds:.1f} s from step 1 to the end", f"{reference:.6f} (reference)")
    random_kills(work, reference, count, rng, seconds * 1.1)
    aimed_kills(work, reference)
    signals(work, reference)
    disk_full(work, reference)
    damaged_files(work, whole, reference)
    changed_settings(work, whole, reference)
    bad_bytes(work)
    widths = [max(len(row[i]) for row in ROWS + [("case", "what happened", "final loss vs uninterrupted")]) for i in range(3)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(("case", "what happened", "final loss vs uninterrupted"), widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in ROWS:
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
