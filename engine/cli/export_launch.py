"""`sft-wizard export-launch`: accelerate configs per node, a Slurm script and the torchrun command."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import add_preset_arguments, load
from engine.errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `export-launch`."""
    launch = add_preset_arguments(sub.add_parser("export-launch", help="accelerate configs per node, a Slurm script "
                                                                      "and the torchrun command for a multi-node run"))
    launch.add_argument("--nodes", type=int, required=True, metavar="M")
    launch.add_argument("--gpus-per-node", type=int, required=True, metavar="G")
    launch.add_argument("--strategy", metavar="ddp|fsdp|zero3", help="how the ranks share the model (default: the preset's)")
    launch.add_argument("--output", required=True, metavar="DIR", help="folder for the files")
    launch.add_argument("--main-ip", default="MAIN_NODE", help="address of node 0 in the accelerate configs "
                                                               "(the Slurm script finds it itself)")
    launch.add_argument("--port", type=int, default=29500, help="rendezvous port on node 0")
    launch.add_argument("--signal-minutes", type=int, default=5,
                        help="Slurm sends SIGTERM this long before the time limit, to stop with a checkpoint")


def run(args: argparse.Namespace) -> int:
    """Write the multi-node launch files and say how to start them."""
    from engine.outputs.export_launch import LaunchPlan, export_launch

    plan = LaunchPlan(args.nodes, args.gpus_per_node, args.main_ip, args.port, args.signal_minutes)
    for path in export_launch(load(args), plan, args.output, args.strategy):
        print(f"wrote {path}")
    print(f"submit with: sbatch {Path(args.output) / 'train.sbatch'}   (the run directory must be on a shared filesystem)")
    return EXIT_OK
