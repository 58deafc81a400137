"""The headless command line: train, check, presets, import, export-script, export, gpus, estimate, optimize, probe.

User mistakes exit 2 with one message on stderr; unexpected failures exit 1 with a short
message and the traceback in a file.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

from engine import __version__
from engine.cli.export import add_export_parser, cmd_export
from engine.errors import EXIT_FAILURE, EXIT_OK, EXIT_STOPPED, EXIT_USER_ERROR, UserError
from engine.paths import cache_dir


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `sft-wizard` (no command: the wizard)."""
    parser = argparse.ArgumentParser(prog="sft-wizard", description="Set up, check and watch LoRA/QLoRA fine-tuning from a terminal.")
    parser.add_argument("--version", action="version", version=f"sft-wizard {__version__}")
    parser.add_argument("--preset", metavar="NAME|FILE", help="open the wizard with this preset loaded, at Review")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def with_preset(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("preset", metavar="NAME|FILE", help="a preset name (see `sft-wizard presets`) or a YAML file")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override one setting (value read as YAML); repeatable")
        return p

    train = with_preset(sub.add_parser("train", help="train a preset (live monitor on a terminal, lines otherwise)"))
    train.add_argument("--output-dir", help="run directory (default: training.output_dir)")
    train.add_argument("--resume", nargs="?", const="latest", default=None, metavar="CHECKPOINT",
                       help="continue from the latest checkpoint of the run directory, or from CHECKPOINT")
    train.add_argument("--headless", action="store_true", help="print one line per log step even on a terminal")
    ranks = train.add_mutually_exclusive_group()
    ranks.add_argument("--processes", type=int, metavar="N",
                       help="N data-parallel processes through accelerate (GPUs, or CPU processes without one)")
    ranks.add_argument("--gpus", metavar="N|all", help="N GPUs (or all visible), one data-parallel process each")
    check = with_preset(sub.add_parser("check", help="validate config and data; print the resolved config and warnings"))
    check.add_argument("--sample", type=int, metavar="N",
                       help="print training row N (from 0) as the trainer gets it, the learned part between ⟦ ⟧")
    check.add_argument("--json", action="store_true", help="with --sample: print the sample as JSON segments only")
    sub.add_parser("presets", help="list bundled and user presets")
    imp = sub.add_parser("import", help="turn tutorial code into a preset, without running it")
    imp.add_argument("file", metavar="FILE", help="a .py script, a marimo app or a .ipynb notebook")
    imp.add_argument("--output", help="where to write the preset (default: your presets folder)")
    imp.add_argument("--name", help="preset name (default: the file's name)")
    imp.add_argument("--force", action="store_true", help="overwrite an existing preset")
    with_preset(sub.add_parser("export-script", help="print a standalone TRL script that reproduces the run"))
    launch = with_preset(sub.add_parser("export-launch", help="accelerate configs per node, a Slurm script and the "
                                                            "torchrun command for a multi-node run"))
    launch.add_argument("--nodes", type=int, required=True, metavar="M")
    launch.add_argument("--gpus-per-node", type=int, required=True, metavar="G")
    launch.add_argument("--strategy", metavar="ddp|fsdp|zero3", help="how the ranks share the model (default: the preset's)")
    launch.add_argument("--output", required=True, metavar="DIR", help="folder for the files")
    launch.add_argument("--main-ip", default="MAIN_NODE", help="address of node 0 in the accelerate configs "
                                                               "(the Slurm script finds it itself)")
    launch.add_argument("--port", type=int, default=29500, help="rendezvous port on node 0")
    launch.add_argument("--signal-minutes", type=int, default=5,
                        help="Slurm sends SIGTERM this long before the time limit, to stop with a checkpoint")
    gpus = sub.add_parser("gpus", help="GPU report through NVML (a CPU report when there is none)")
    gpus.add_argument("--json", action="store_true")
    estimate = with_preset(sub.add_parser("estimate", help="predicted peak GPU memory, its breakdown and verdicts"))
    estimate.add_argument("--json", action="store_true")
    estimate.add_argument("--gpu-memory", metavar="SIZE|GPU", help="plan for this GPU (24GiB, A100-80G, ...) instead of the local one")
    optimize = with_preset(sub.add_parser("optimize", help="the same run with the fastest settings that fit; "
                                          "same effective batch, each change printed"))
    optimize.add_argument("--gpu-memory", metavar="SIZE|GPU", help="plan for this GPU (24GiB, A100-80G, ...) instead of the local one")
    optimize.add_argument("--output", metavar="FILE", help="where to write the preset (default: your presets folder, NAME-fast)")
    optimize.add_argument("--force", action="store_true", help="overwrite an existing preset")
    probe = with_preset(sub.add_parser("probe", help="run a few real steps and measure peak memory against the estimate"))
    probe.add_argument("--steps", type=int, default=3)
    probe.add_argument("--random-init", action="store_true", help="random weights from the config (no download)")
    chat = sub.add_parser("chat", help="try a finished run: base and fine-tuned answers side by side")
    chat.add_argument("run_dir", metavar="RUN_DIR")
    chat.add_argument("--prompt", help="answer this prompt and exit (otherwise read prompts from the terminal)")
    chat.add_argument("--max-new-tokens", type=int, default=48)
    merge = sub.add_parser("merge", help="merge a finished run's adapter into full model weights")
    merge.add_argument("run_dir", metavar="RUN_DIR")
    merge.add_argument("--output", help="where to write the merged model (default: RUN_DIR/merged)")
    add_export_parser(sub)
    attach = sub.add_parser("attach", help="watch a run directory live (or replay a finished run)")
    attach.add_argument("run_dir", metavar="RUN_DIR")
    runs = sub.add_parser("runs", help="recent runs: status (running, completed, stopped, failed, died), step, loss")
    runs.add_argument("root", nargs="?", default="runs", metavar="ROOT", help="where the runs are (default: ./runs)")
    stop = sub.add_parser("stop", help="ask a live run to stop after its current step, saving a checkpoint and final/")
    stop.add_argument("run_dir", metavar="RUN_DIR")
    checkpoint = sub.add_parser("checkpoint", help="ask a live run to save a checkpoint after its current step")
    checkpoint.add_argument("run_dir", metavar="RUN_DIR")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one headless command; returns the exit code."""
    args = build_parser().parse_args(argv)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "train": cmd_train, "check": cmd_check, "presets": cmd_presets, "import": cmd_import,
        "export-script": cmd_export_script, "export-launch": cmd_export_launch, "gpus": cmd_gpus, "estimate": cmd_estimate,
        "probe": cmd_probe, "optimize": cmd_optimize,
        "chat": cmd_chat, "merge": cmd_merge, "export": cmd_export, "runs": cmd_runs, "stop": cmd_request, "checkpoint": cmd_request,
    }
    handler = handlers.get(args.command)
    if handler is None:
        build_parser().print_help()
        return EXIT_USER_ERROR
    return guarded(handler, args)


def guarded(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command, turning user errors into exit 2 and crashes into exit 1 with a saved traceback."""
    try:
        return handler(args)
    except UserError as exc:
        print(f"sft-wizard: error: {exc}" if len(exc.problems) == 1 else f"sft-wizard: {len(exc.problems)} problems:\n{exc}",
              file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("sft-wizard: interrupted", file=sys.stderr)
        return EXIT_STOPPED
    except Exception as exc:  # unexpected: short message, traceback to a file
        log = cache_dir() / "last-error.log"
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(traceback.format_exc(), encoding="utf-8")
        except OSError:
            log = Path("(not written)")
        print(f"sft-wizard: unexpected failure: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}\n"
              f"  traceback: {log}", file=sys.stderr)
        return EXIT_FAILURE


def _print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def load(args: argparse.Namespace) -> Any:
    """The preset of a command, validated, with warnings printed."""
    from engine.config.presets import load_preset

    config, warnings, _ = load_preset(args.preset, args.overrides)
    _print_warnings(warnings)
    return config


def cmd_presets(args: argparse.Namespace) -> int:
    """List presets with their source and description."""
    from engine.config.presets import list_presets
    from engine.paths import user_presets_dir

    presets = list_presets()
    width = max((len(p.name) for p in presets), default=10)
    for preset in presets:
        print(f"{preset.name:<{width}}  {preset.source:<7}  {preset.description}")
    print(f"\nuser presets: {user_presets_dir()}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    """Validate config, hardware fit, model modules and data; print every problem found."""
    from engine.run.checks import full_check

    if args.json and args.sample is None:
        raise UserError("check --json prints a sample: add --sample N.")
    config = load(args)
    report = full_check(config, sample=args.sample)
    if args.json:
        _print_warnings(report.warnings)
        if report.problems:
            raise UserError(report.problems[0], report.problems)
        print(json.dumps({"sample": report.sample.to_dict()}, ensure_ascii=False))
        return EXIT_OK
    print(config.to_yaml(), end="")
    print(f"# precision here: {report.precision}")
    for line in report.facts:
        print(f"# {line}")
    _print_warnings(report.warnings)
    if report.problems:
        raise UserError(report.problems[0], report.problems)
    if report.sample is not None:
        _print_sample(report.sample)
    print("check passed", file=sys.stderr)
    return EXIT_OK


def _print_sample(sample: Any) -> None:
    """A training row with its learned part between ⟦ ⟧, and its token counts."""
    print(f"# sample: training row {sample.index}, {sample.tokens} tokens, {sample.learned_tokens} learned "
          "(between ⟦ ⟧; the rest is context the model reads but is not trained to write)")
    print(sample.marked_text())


def cmd_import(args: argparse.Namespace) -> int:
    """Read tutorial code into a preset file and say what was and was not read."""
    from engine.config.presets import save_preset
    from engine.config.snippet import preset_from_code

    imported = preset_from_code(args.file, args.name)
    result, to_complete = imported.result, imported.to_complete
    path = save_preset(imported.config, args.output or imported.config.name, overwrite=args.force)
    print(f"read ({len(result.read)}):")
    for line in result.read:
        print(f"  {line}")
    if result.not_read:
        print(f"not read ({len(result.not_read)}):")
        for line in result.not_read:
            print(f"  {line}")
    _print_warnings(imported.warnings)
    print(f"wrote {path}")
    if to_complete:
        print("to complete before training (edit the file or use --set):")
        for problem in to_complete:
            print(f"  {problem}")
    return EXIT_OK


def cmd_export_script(args: argparse.Namespace) -> int:
    """Print the standalone TRL script."""
    from engine.machine.hardware import hardware_report
    from engine.outputs.script import export_script

    print(export_script(load(args), hardware_report()))
    return EXIT_OK


def cmd_export_launch(args: argparse.Namespace) -> int:
    """Write the multi-node launch files and say how to start them."""
    from engine.outputs.export_launch import LaunchPlan, export_launch

    plan = LaunchPlan(args.nodes, args.gpus_per_node, args.main_ip, args.port, args.signal_minutes)
    for path in export_launch(load(args), plan, args.output, args.strategy):
        print(f"wrote {path}")
    print(f"submit with: sbatch {Path(args.output) / 'train.sbatch'}   (the run directory must be on a shared filesystem)")
    return EXIT_OK


def cmd_gpus(args: argparse.Namespace) -> int:
    """Print the GPU report (or the CPU report when there is no NVIDIA GPU)."""
    from engine.fit.report import format_hardware
    from engine.machine.hardware import hardware_report

    report = hardware_report()
    if args.json:
        from dataclasses import asdict

        from engine.machine.precision import decide_precision

        print(json.dumps(report.to_dict() | {"precision": asdict(decide_precision(report.training_gpu))}, indent=2))
    else:
        print(format_hardware(report))
    return EXIT_OK


def cmd_estimate(args: argparse.Namespace) -> int:
    """Print the memory estimate, breakdown and verdicts."""
    from engine.cli.estimate import run_estimate

    return run_estimate(load(args), args.gpu_memory, args.json)


def cmd_optimize(args: argparse.Namespace) -> int:
    """Print and write the optimized preset."""
    from engine.cli.optimize import run_optimize

    return run_optimize(load(args), args.preset, args.gpu_memory, args.output, args.force)


def cmd_probe(args: argparse.Namespace) -> int:
    """Run the pre-flight probe."""
    from engine.cli.probe import run_probe_command

    return run_probe_command(load(args), args.steps, args.random_init)


def cmd_train(args: argparse.Namespace) -> int:
    """Train headless: one line per log step, SIGINT/SIGTERM stop at a step boundary with a checkpoint."""
    from engine.cli.printer import LinePrinter
    from engine.run.control import RunControl, install_stop_signals
    from engine.run.multi.launcher import train_or_launch
    from engine.run.train import RunRequest

    config = load(args)
    apply_process_count(config, args)
    control = RunControl()
    install_stop_signals(control)
    result = train_or_launch(RunRequest(config, args.output_dir, args.resume, [LinePrinter()], control))
    if result.exit_code not in (EXIT_OK, EXIT_STOPPED):
        print(f"sft-wizard: run failed: {result.message}", file=sys.stderr)
    return result.exit_code


def apply_process_count(config: Any, args: argparse.Namespace) -> None:
    """Set distributed.processes from --processes or --gpus N|all; UserError for a count that cannot be."""
    from engine.machine.hardware import hardware_report

    if getattr(args, "gpus", None) is not None:
        visible = len(hardware_report().visible_gpus)
        if visible == 0:
            raise UserError("--gpus: this machine has no visible GPU; use --processes N for N CPU processes.")
        count = visible if args.gpus == "all" else _count(args.gpus, "--gpus")
        if count > visible:
            raise UserError(f"--gpus {count}: only {visible} GPU(s) are visible; use --gpus {visible} or --gpus all.")
        config.distributed.processes = count
    elif getattr(args, "processes", None) is not None:
        config.distributed.processes = _count(str(args.processes), "--processes")


def _count(text: str, option: str) -> int:
    """A process count of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"{option} {text}: give a number of processes, 1 or more (or --gpus all).")
    return int(text)


def cmd_chat(args: argparse.Namespace) -> int:
    """Answer prompts with the base and the fine-tuned model."""
    from engine.machine.gpu_choice import choose_training_gpu
    from engine.machine.hardware import hardware_report
    from engine.outputs.generate import load_generator

    _, gpu_note = choose_training_gpu(hardware_report(), purpose="generating")  # before CUDA starts, as for training
    if gpu_note:
        print(f"# {gpu_note}", file=sys.stderr)
    generator = load_generator(args.run_dir)
    if generator.note:
        print(f"# {generator.note}", file=sys.stderr)
    prompts = [args.prompt] if args.prompt else _read_prompts()
    for prompt in prompts:
        print(f"prompt:     {prompt}")
        if generator.is_peft:
            print(f"base:       {generator.answer(prompt, base=True, max_new_tokens=args.max_new_tokens)}")
        print(f"fine-tuned: {generator.answer(prompt, max_new_tokens=args.max_new_tokens)}")
    return EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    """Merge the adapter into full weights, printing progress."""
    from engine.outputs.merge import merge_adapter

    merge_adapter(args.run_dir, args.output, progress=lambda line: print(line, flush=True))
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    """List the recent run directories under ROOT: status, step, final loss, start and path."""
    from engine.record.recent import find_runs

    runs = find_runs(args.root)
    if not runs:
        print(f"no runs under {args.root}")
        return EXIT_OK
    print(f"{'STATUS':<11}  {'STEP':>11}  {'LOSS':>8}  {'STARTED':<16}  PATH")
    for run in runs:
        step = f"{run.step}/{run.total_steps}" if run.total_steps else str(run.step)
        loss = f"{run.final_loss:.4f}" if run.final_loss is not None else "-"
        print(f"{run.status:<11}  {step:>11}  {loss:>8}  {run.date:<16}  {run.path}")
    return EXIT_OK


_REQUESTED = {"stop": "stop after its current step, saving a checkpoint and final/",
              "checkpoint": "save a checkpoint after its current step"}


def cmd_request(args: argparse.Namespace) -> int:
    """Ask the live run in RUN_DIR to stop or save a checkpoint at its next step."""
    from engine.run.control import send_to_live_run

    life = send_to_live_run(args.run_dir, args.command)
    print(f"asked the run in {args.run_dir} (pid {life.pid} on {life.host}) to {_REQUESTED[args.command]}")
    return EXIT_OK


def _read_prompts() -> Any:
    while True:
        try:
            line = input("prompt> ").strip()
        except EOFError:
            return
        if line:
            yield line
