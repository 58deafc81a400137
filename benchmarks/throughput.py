"""Tokens/s and peak memory of the seed's settings against `sft-wizard optimize`'s, alternating, in one session.

The seed is the course lesson's way of training (batch 4 x accumulation 4, max length 512, no
packing, activation checkpointing as TRL defaults it) on the demo preset's model and data. The
optimized preset is what `optimize` makes of the seed for this machine. Both train the same number
of optimizer steps over the same rows, in their own process; tokens/s comes from the runs' own
`log` events (real tokens, TRL's num_tokens): the median of the events' tokens_per_second after the
first WARMUP logs, so start-up, warm-up and stalls caused by other processes on a shared machine
weigh little. On a shared CPU the wall clock measures the neighbours as much as the run, so the
events' process_cpu_seconds also give tokens per CPU-second over the same logs. Peak memory comes
from the same events (CUDA max reserved, or peak RSS on CPU).
Each round trains both, one after the other; the ratio is the median of the rounds' ratios.

Usage: python benchmarks/throughput.py [--rounds N] [--steps N] [--model ID_OR_DIR] [--gpu-memory SIZE|GPU]
  --model: a catalog id (e.g. Qwen/Qwen2.5-0.5B-Instruct) trains a copy with random weights built from
  its config.json (nothing is downloaded; tiny-demo's tokenizer, whose ids every vocabulary holds).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.cli.optimize import format_plan  # noqa: E402
from engine.config.presets import load_preset, save_preset  # noqa: E402
from engine.fit.planning import optimize_for  # noqa: E402

WARMUP = 3
SEED = {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 4, "max_length": 512, "packing": False}


def random_weights_model(model_id: str, folder: Path) -> str:
    """A local model directory: the catalog config with random weights, and tiny-demo's tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.config.run_config import ModelSection
    from engine.models.structure import hf_config
    from engine.models.tiny_demo import ensure_tiny_demo

    config = hf_config(ModelSection(model_id))
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16 if torch.cuda.is_available() else torch.float32)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(ensure_tiny_demo()).save_pretrained(folder)
    return str(folder)


def seed_preset(folder: Path, steps: int, model: str | None) -> Path:
    """The demo preset with the course lesson's batch, length and checkpointing, for `steps` optimizer steps."""
    config, _, _ = load_preset("demo")
    config.name = "seed"
    if model:
        config.model.name_or_path = model
        config.lora["modules_to_save"] = None
    config.training.update(SEED, max_steps=steps, logging_steps=2, eval_strategy="no",
                           save_strategy="no")
    config.training.pop("activation_checkpointing", None)  # as the library defaults it
    config.dataset.eval_split = None
    return save_preset(config, str(folder / "seed.yaml"), overwrite=True)


def train(preset: Path, run_dir: Path) -> dict:
    """Train a preset in its own process; tokens/s and peak memory from its events."""
    done = subprocess.run([sys.executable, "-m", "tui", "train", str(preset), "--headless", "--output-dir", str(run_dir)],
                          capture_output=True, text=True, cwd=REPO, env=os.environ.copy())
    if done.returncode != 0:
        sys.exit(f"training {preset.name} failed: {done.stderr[-2000:]}")
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    logs = [e for e in events if e["event"] == "log" and e.get("num_tokens")]
    rates = [e["tokens_per_second"] for e in logs[WARMUP:] if e.get("tokens_per_second")]
    if not rates:
        sys.exit(f"{preset.name}: too few log events after warm-up; raise --steps")
    peak = max(e.get("peak_bytes") or e.get("peak_rss_bytes") or 0 for e in logs)
    first, last = logs[WARMUP], logs[-1]
    cpu = last["process_cpu_seconds"] - first["process_cpu_seconds"]
    return {"tokens_per_second": statistics.median(rates), "tokens_per_cpu_second": (last["num_tokens"] - first["num_tokens"]) / cpu,
            "peak_bytes": peak, "loss": last.get("loss"), "steps": last["step"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--model", help="a catalog id (random weights) or a local model directory; default tiny-demo")
    parser.add_argument("--gpu-memory", help="plan optimize for this GPU instead of the local device")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        folder = Path(tmp)
        model = args.model
        if model and not Path(model).is_dir():
            model = random_weights_model(model, folder / "model")
        seed = seed_preset(folder, args.steps, model)
        config, _, _ = load_preset(str(seed))
        plan = optimize_for(config, "seed", args.gpu_memory)
        print(format_plan(plan))
        fast = save_preset(plan.config, str(folder / "fast.yaml"), overwrite=True)
        results: dict[str, list[dict]] = {"seed": [], "optimized": []}
        ratios, cpu_ratios = [], []
        for index in range(args.rounds):
            for name, preset in (("seed", seed), ("optimized", fast)):
                result = train(preset, folder / f"{name}-{index}")
                results[name].append(result)
                print(f"round {index + 1} {name:<9} {result['tokens_per_second']:>9.0f} tokens/s  "
                      f"{result['tokens_per_cpu_second']:>7.0f} tokens/CPU-s  "
                      f"peak {result['peak_bytes'] / 2**30:6.2f} GiB  loss {result['loss']:.3f} after {result['steps']} steps",
                      flush=True)
            ratios.append(results["optimized"][-1]["tokens_per_second"] / results["seed"][-1]["tokens_per_second"])
            cpu_ratios.append(results["optimized"][-1]["tokens_per_cpu_second"] / results["seed"][-1]["tokens_per_cpu_second"])
            print(f"round {index + 1} ratio {ratios[-1]:.2f}x tokens/s, {cpu_ratios[-1]:.2f}x tokens/CPU-s", flush=True)
    seed_rate = statistics.median(r["tokens_per_second"] for r in results["seed"])
    fast_rate = statistics.median(r["tokens_per_second"] for r in results["optimized"])
    seed_peak = max(r["peak_bytes"] for r in results["seed"])
    fast_peak = max(r["peak_bytes"] for r in results["optimized"])
    print(f"median tokens/s: seed {seed_rate:.0f}, optimized {fast_rate:.0f}; ratio {statistics.median(ratios):.2f}x "
          f"(median of {len(ratios)} rounds; target >= 1.5x); peak memory: seed {seed_peak / 2**30:.2f} GiB, "
          f"optimized {fast_peak / 2**30:.2f} GiB")
    print(f"tokens per CPU-second: ratio {statistics.median(cpu_ratios):.2f}x (median of {len(cpu_ratios)} rounds)")


if __name__ == "__main__":
    main()
