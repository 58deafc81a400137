"""Trying a finished run: generate from the base model and the fine-tuned one, same prompt format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import UserError


@dataclass
class Generator:
    """A loaded fine-tuned model (and its base) ready to answer prompts in the run's template."""

    model: Any
    tokenizer: Any
    template: str
    fmt: str
    is_peft: bool

    def format_prompt(self, prompt: str) -> str:
        """The prompt as the run's template rendered its training rows (the part before the answer)."""
        from engine.data.formats import to_training_row

        if self.fmt in ("chat", "sharegpt"):
            return self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                      add_generation_prompt=True)
        if self.fmt == "alpaca":
            return to_training_row({"instruction": prompt, "input": "", "output": ""}, "alpaca", self.template)["prompt"]
        return prompt

    def answer(self, prompt: str, base: bool = False, max_new_tokens: int = 48) -> str:
        """Greedy answer of the fine-tuned model (or of the base model with the adapter off)."""
        import torch

        text = self.format_prompt(prompt)
        inputs = self.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(self.model.device)
        kwargs = {"max_new_tokens": max_new_tokens, "do_sample": False, "pad_token_id": self.tokenizer.pad_token_id}
        with torch.no_grad():
            if base and self.is_peft:
                with self.model.disable_adapter():
                    output = self.model.generate(**inputs, **kwargs)
            else:
                output = self.model.generate(**inputs, **kwargs)
        return self.tokenizer.decode(output[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def load_generator(run_dir: str) -> Generator:
    """Load a run's final/ (adapter or full model) with its tokenizer and template."""
    from engine.libraries import quiet_libraries
    from engine.run.rundir import FINAL_DIR, read_run_file, run_config

    root = Path(run_dir)
    final = root / FINAL_DIR
    if not final.is_dir():
        raise UserError(f"{run_dir} has no {FINAL_DIR}/ folder: the run has not finished or saved yet.")
    data = read_run_file(root).get("data") or {}
    config = run_config(root)
    quiet_libraries()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(final)
    if (final / "adapter_config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(final)
        is_peft = True
    else:
        model = AutoModelForCausalLM.from_pretrained(final)
        is_peft = False
    model.eval()
    return Generator(model, tokenizer, data.get("template", config.dataset.template), data.get("format", config.dataset.format), is_peft)
