"""`sft-wizard export-launch`: the files that start a run on several machines, through accelerate or plain torchrun.

One accelerate config per node, a Slurm script (one task per node; SIGTERM some minutes before the
time limit so that every rank stops at one step with a checkpoint), and the torchrun command. The run
directory must be on a filesystem every node and the login node share, for `attach` and `stop`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.atomic import write_text_atomic
from engine.config.presets import save_preset
from engine.config.resolve import asked_mixed_precision
from engine.config.rules import check_config_rules
from engine.config.run_config import STRATEGIES
from engine.errors import UserError, raise_problems
from engine.run.multi.accelerate_config import DEFAULT_PORT, WORKER_MODULE, accelerate_config
from engine.yamlio import dump_yaml

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig

SHUTDOWN_MARGIN_SECONDS = 30
"""Time kept back from the signal's lead for torch elastic to end its workers after they have saved."""


@dataclass
class LaunchPlan:
    """Where and how the ranks of a multi-node run start."""

    nodes: int
    gpus_per_node: int
    main_ip: str = "MAIN_NODE"
    port: int = DEFAULT_PORT
    signal_minutes: int = 5
    python: str = "python"

    @property
    def processes(self) -> int:
        """Ranks in all: one per GPU of every node."""
        return self.nodes * self.gpus_per_node


def export_launch(config: "RunConfig", plan: LaunchPlan, output: str, strategy: str | None = None) -> list[Path]:
    """Write preset.yaml, accelerate-node-N.yaml, train.sbatch and torchrun.sh into `output`; returns their paths."""
    if plan.nodes < 1 or plan.gpus_per_node < 1:
        raise UserError("--nodes and --gpus-per-node must be 1 or more.")
    if strategy is not None and strategy not in STRATEGIES:
        raise UserError(f"--strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}.")
    config = config.copy()
    config.distributed.processes = plan.processes
    config.distributed.strategy = strategy or config.distributed.strategy
    config.distributed.main_process_port = plan.port
    problems, _ = check_config_rules(config, "export-launch")
    raise_problems(problems)
    folder = Path(output)
    folder.mkdir(parents=True, exist_ok=True)
    preset = save_preset(config, str(folder / "preset.yaml"), overwrite=True)
    mixed = asked_mixed_precision(config) or "bf16"  # the cluster's GPUs are not here to ask; Ampere and later
    written = [preset]
    for node in range(plan.nodes):
        node_config = accelerate_config(config.distributed, mixed, plan.processes, plan.nodes, node, plan.main_ip,
                                        quantized=bool(config.quantization))
        written.append(folder / f"accelerate-node-{node}.yaml")
        write_text_atomic(written[-1], dump_yaml(node_config))
    written.append(folder / "train.sbatch")
    write_text_atomic(written[-1], sbatch_script(config, plan, folder))
    written.append(folder / "torchrun.sh")
    environment = _accelerate_environment(written[1]) if config.distributed.strategy != "zero3" else None
    write_text_atomic(written[-1], torchrun_script(config, plan, folder, environment))
    for script in written[-2:]:
        script.chmod(0o755)
    return written


def _worker(config: "RunConfig", folder: Path) -> str:
    """The worker module with the preset and the run directory (resuming when it holds a checkpoint)."""
    preset = shlex.quote(str((folder / "preset.yaml").resolve()))
    return f'-m {WORKER_MODULE} {preset} --output-dir "$RUN_DIR" "${{RESUME[@]}}"'


def _resume_lines(config: "RunConfig") -> str:
    """Shell lines that set RUN_DIR and resume from its latest checkpoint when there is one (a requeued job)."""
    return (f"RUN_DIR={shlex.quote(str(Path(config.output_dir).resolve()))}\n"
            'RESUME=()\n'
            'if compgen -G "$RUN_DIR/checkpoint-*" > /dev/null; then RESUME=(--resume latest); fi\n')


def sbatch_script(config: "RunConfig", plan: LaunchPlan, folder: Path) -> str:
    """A Slurm batch script: one task per node running `accelerate launch` with that node's config."""
    lead = plan.signal_minutes * 60
    configs = shlex.quote(str(folder.resolve()))
    return f"""#!/bin/bash
# sft-wizard: {config.name} on {plan.nodes} node(s) x {plan.gpus_per_node} GPU(s), {config.distributed.strategy}
#SBATCH --job-name={shlex.quote(config.name)}
#SBATCH --nodes={plan.nodes}
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={plan.gpus_per_node}
#SBATCH --time=24:00:00
# SIGTERM {plan.signal_minutes} minutes before the time limit: every rank stops at the same step with a checkpoint
#SBATCH --signal=TERM@{lead}
#SBATCH --output=slurm-%j.out
set -euo pipefail

{_resume_lines(config)}MAIN_IP=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export TORCH_ELASTIC_SHUTDOWN_TIMEOUT={max(lead - SHUTDOWN_MARGIN_SECONDS, 30)}
export RUN_DIR MAIN_IP
# watch from the login node: sft-wizard attach "$RUN_DIR"   (stop: sft-wizard stop "$RUN_DIR")
srun --kill-on-bad-exit=1 bash -c 'exec {plan.python} -m accelerate.commands.launch \\
    --config_file {configs}/accelerate-node-$SLURM_NODEID.yaml \\
    --machine_rank "$SLURM_NODEID" --main_process_ip "$MAIN_IP" --main_process_port {plan.port} \\
    {_worker(config, folder).replace('"${RESUME[@]}"', '"$@"')}' bash "${{RESUME[@]}}"
"""


def torchrun_script(config: "RunConfig", plan: LaunchPlan, folder: Path, environment: dict[str, str] | None) -> str:
    """The same run with plain torchrun: run it on every node with NODE_RANK set (0 on the main node).

    `environment`: what accelerate launch would set; None for ZeRO-3, which needs accelerate's DeepSpeed launcher.
    """
    if environment is None:
        exports = "echo 'ZeRO-3 starts through accelerate launch (train.sbatch), not plain torchrun' >&2; exit 2\n"
    else:
        exports = "".join(f"export {key}={shlex.quote(value)}\n" for key, value in sorted(environment.items()))
    return f"""#!/bin/bash
# sft-wizard: {config.name} with plain torchrun; on each of the {plan.nodes} node(s):
#   NODE_RANK=<0..{plan.nodes - 1}> MAIN_IP=<the node with NODE_RANK 0> ./torchrun.sh
set -euo pipefail

{_resume_lines(config)}# what accelerate launch would set from accelerate-node-0.yaml
{exports}exec {plan.python} -m torch.distributed.run --nnodes {plan.nodes} --nproc-per-node {plan.gpus_per_node} \\
    --node-rank "${{NODE_RANK:?set NODE_RANK}}" --master-addr "${{MAIN_IP:-{plan.main_ip}}}" --master-port {plan.port} \\
    {_worker(config, folder)}
"""


def _accelerate_environment(config_file: Path) -> dict[str, str]:
    """The ACCELERATE_* and FSDP_* variables `accelerate launch` derives from a config (accelerate's own code)."""
    import os

    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(config_file), "-m", WORKER_MODULE])
    args = _validate_launch_command(args)[0]
    environment = prepare_multi_gpu_env(args)
    return {key: value for key, value in environment.items()
            if key.startswith(("ACCELERATE_", "FSDP_")) and os.environ.get(key) != value}
