"""`sft-wizard chat`: a finished run's base and fine-tuned answers side by side."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator

from engine.errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `chat`."""
    chat = sub.add_parser("chat", help="try a finished run: base and fine-tuned answers side by side")
    chat.add_argument("run_dir", metavar="RUN_DIR")
    chat.add_argument("--prompt", help="answer this prompt and exit (otherwise read prompts from the terminal)")
    chat.add_argument("--max-new-tokens", type=int, default=48)


def run(args: argparse.Namespace) -> int:
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


def _read_prompts() -> Iterator[str]:
    """Prompts typed at `prompt>` until end of input."""
    while True:
        try:
            line = input("prompt> ").strip()
        except EOFError:
            return
        if line:
            yield line
