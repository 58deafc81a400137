"""One rank of a launched run: `python -m engine.run.multi.worker PRESET --output-dir RUN_DIR [--resume CKPT]`.

accelerate (or torchrun) starts one per process with RANK, WORLD_SIZE and LOCAL_RANK set. Every rank
trains; rank 0 alone writes events.jsonl and run.yaml. SIGTERM or SIGINT (forwarded by the launcher,
or Slurm's --signal) stops every rank at the same step with a checkpoint.
"""

from __future__ import annotations

import argparse
import sys

from engine.errors import EXIT_FAILURE, EXIT_USER_ERROR, UserError


def main(argv: list[str] | None = None) -> int:
    """Train this rank; returns its exit code (the run's outcome is the `end` event rank 0 writes)."""
    parser = argparse.ArgumentParser(prog="python -m engine.run.multi.worker")
    parser.add_argument("preset", metavar="PRESET.yaml")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--resume", default=None)
    args = parser.parse_args(argv)

    from engine.config.presets import load_preset
    from engine.run.control import RunControl
    from engine.run.stop_signals import install_stop_signals
    from engine.run.multi.world import this_world
    from engine.run.train import RunRequest, run_training

    world = this_world()
    control = RunControl()
    install_stop_signals(control.request_stop)
    try:
        config = load_preset(args.preset)[0]
        config.distributed.processes = world.world_size  # what was launched, never a second launch
        result = run_training(RunRequest(config, args.output_dir, args.resume, [], control))
    except UserError as exc:
        print(f"sft-wizard rank {world.rank}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    if result.status == "failed":
        print(f"sft-wizard rank {world.rank}: run failed: {result.message}", file=sys.stderr)
        return EXIT_FAILURE
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
