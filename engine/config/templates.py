"""The prompt templates that alpaca rows are rendered with (dataset.template)."""

from __future__ import annotations

AXOLOTL_ALPACA_PREAMBLE = ("Below is an instruction that describes a task, paired with an input that provides further "
                           "context. Write a response that appropriately completes the request.")
"""Axolotl's (and Stanford Alpaca's) system text for a row with an input."""
ALPACA_PREAMBLE = ("Below is an instruction that describes a task. "
                   "Write a response that appropriately completes the request.")
"""Stanford Alpaca's system text for a row without an input, which LLaMA-Factory's and Axolotl's alpaca prompts begin
with; sft-wizard's alpaca and alpaca-zh templates have none."""

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
    # Axolotl's `type: alpaca` prompt: AlpacaPrompter in src/axolotl/prompters.py (axolotl-ai-cloud/axolotl at
    # 067b021c8b87a9e5e380b9173c704cf7340e30f5), instruct style: system_format "{system}\n\n" + turn_format, the
    # output written right after "### Response:\n".
    "alpaca-preamble": {
        "with_input": AXOLOTL_ALPACA_PREAMBLE + "\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n",
        "no_input": ALPACA_PREAMBLE + "\n\n### Instruction:\n{instruction}\n\n### Response:\n",
    },
}
"""Each template's prompt for a row with an input and for one without; the answer follows the prompt directly."""
