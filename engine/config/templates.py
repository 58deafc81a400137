"""The prompt templates that alpaca rows are rendered with (dataset.template)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


ALPACA_TEMPLATES = {
    "alpaca": {
        "with_input": "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n",
        "no_input": "### Instruction:\n{instruction}\n\n### Response:\n",
    },
    # The course lesson's headers (course-module7.py, formatting_prompts_func).
    "alpaca-zh": {
        "with_input": "### 指令:\n{instruction}\n\n### 输入:\n{input}\n\n### 响应:\n",
        "no_input": "### 指令:\n{instruction}\n\n### 响应:\n",
    },
}

ALPACA_PREAMBLE = ("Below is an instruction that describes a task. "
                   "Write a response that appropriately completes the request.")
"""Stanford Alpaca's system text for a row without an input, which LLaMA-Factory's and Axolotl's alpaca prompts begin
with; sft-wizard's alpaca templates have none."""
