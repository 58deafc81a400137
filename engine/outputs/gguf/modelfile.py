"""The files beside an exported GGUF: an Ollama Modelfile in the run's prompt format, and a README line per runtime."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.outputs.gguf.ollama_modelfile import modelfile_line
from engine.outputs.gguf.ollama_template import (
    ChatFormat,
    alpaca_format,
    chat_template_format,
    chat_template_renderer,
    renders_like,
)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

CHAT_FORMATS = ("chat", "sharegpt")
"""Data formats trained through the tokenizer's chat template (the one the GGUF stores)."""


@dataclass
class RunUsage:
    """How the run's prompts look: through the chat template, or as raw text in its own format."""

    chat: bool
    fmt: str
    template: str
    example: str
    """The check prompt exactly as the run trained on such prompts (the text before the answer)."""

    @property
    def described(self) -> str:
        """The format in words."""
        return f"the {self.template} prompt format" if self.fmt == "alpaca" else f"raw {self.fmt} rows"


def training_format(tokenizer: "PreTrainedTokenizerBase", fmt: str, template: str) -> tuple[ChatFormat | None, str]:
    """The run's prompt layout as checked Ollama template parts (None when it cannot be written so), and a note why."""
    if fmt == "alpaca":
        from engine.config.templates import ALPACA_TEMPLATES
        from engine.data.source.convert import alpaca_prompt

        pattern_name = template if template in ALPACA_TEMPLATES else "alpaca"
        layout = alpaca_format(ALPACA_TEMPLATES[pattern_name], tokenizer.eos_token)
        layout, note = _checked(layout, lambda messages: alpaca_prompt(_alpaca_row(messages), pattern_name),
                                f"the {pattern_name} template the run trained with")
        return layout, (note + "; the chat template stored in the GGUF is the tokenizer's, not this format: "
                        "llama.cpp gets the prompt in this format as raw text (README.md beside the GGUF: llama-completion -no-cnv)")
    if fmt in ("chat", "sharegpt") or (fmt == "prompt-completion" and tokenizer.chat_template):
        layout = chat_template_format(tokenizer)
        if layout is None:
            return None, ("the chat template writes text that depends on more than each message (a default system "
                          "prompt, tools, dates): Ollama uses the chat template stored in the GGUF")
        return _checked(layout, chat_template_renderer(tokenizer), "the tokenizer's chat template")
    return None, f"the run trained on {fmt} rows without a prompt template: Ollama passes the prompt as it is"


def modelfile_text(gguf_name: str, layout: ChatFormat | None, system: str | None) -> str:
    """An Ollama Modelfile: the GGUF beside it, the template, its stop tokens and the training data's system prompt, each read back exactly by Ollama; UserError when one cannot be."""
    lines = [f"FROM ./{gguf_name}", ""]
    if layout is not None:
        lines += [modelfile_line("TEMPLATE", layout.template(), "the prompt template"), ""]
        lines += [modelfile_line("PARAMETER stop", stop, f"the stop string {stop!r}") for stop in layout.stops]
        lines.append("")
    if system:
        lines += [modelfile_line("SYSTEM", system, "the system prompt every training row shares"), ""]
    return "\n".join(lines)


def readme_text(name: str, gguf_name: str, quant: str, run_dir: str, usage: RunUsage, contents: list[str],
                warnings: list[str]) -> str:
    """How to run the export in Ollama, llama.cpp and LM Studio in the prompt format it trained on, and what the file holds."""
    lines = [f"# {name}: {quant} GGUF of the fine-tuned model in {run_dir}", "",
             f"- Ollama: `ollama create {name} -f Modelfile`, then `ollama run {name}` (the Modelfile's template is the "
             "run's prompt format)"]
    if usage.chat:
        lines += [f"- llama.cpp: `llama-cli -m {gguf_name}` (chat, with the chat template stored in the GGUF, which the "
                  f"run trained with), or `llama-server -m {gguf_name}` (OpenAI-style API: /v1/chat/completions)",
                  f"- LM Studio: `lms import {gguf_name}`, or copy it into LM Studio's models folder "
                  "(~/.lmstudio/models/PUBLISHER/MODEL/)"]
    else:
        escaped = usage.example.replace("\\", "\\\\").replace("\n", "\\n")  # llama.cpp turns -p's \n into a line break
        body = json.dumps({"prompt": usage.example, "n_predict": 128}, ensure_ascii=False)
        lines += [f"- llama.cpp: the run trained on {usage.described}, not on a chat template: give the prompt as "
                  "that text, never through the chat template stored in the GGUF (llama-cli, llama-server's "
                  "/v1/chat/completions and LM Studio's chat apply it). For example:",
                  "", "  ```bash",
                  f"  llama-completion -m {gguf_name} -no-cnv -n 128 -p {shlex.quote(escaped)}",
                  f"  llama-server -m {gguf_name}   # then, its raw /completion endpoint:",
                  f"  curl http://localhost:8080/completion -d {shlex.quote(body)}", "  ```", "",
                  "  (llama.cpp builds from before `llama-completion` existed: `llama-cli` with the same options.) "
                  "The exact prompt text, which the answer follows:", "", "  ```", *[f"  {line}" for line in
                  usage.example.split("\n")], "  ```",
                  f"- LM Studio: `lms import {gguf_name}`; set its prompt template to the text above, or use its "
                  "raw completion mode"]
    lines += ["", "## What the file holds", "", *[f"- {line}" for line in contents]]
    if warnings:
        lines += ["", f"llama-quantize wrote some tensors in another type than {quant} (rows whose length is not a multiple "
                  "of the K-quant block of 256):", "", *[f"- {line}" for line in warnings]]
    return "\n".join(lines) + "\n"


def _checked(layout: ChatFormat, reference, what: str) -> tuple[ChatFormat | None, str]:
    if renders_like(layout, reference):
        return layout, f"Modelfile template checked against {what}"
    return None, f"no Ollama template renders exactly as {what}: Ollama uses the chat template stored in the GGUF"


def _alpaca_row(messages: list[dict]) -> dict:
    """A conversation as the Alpaca row that trains it: system, answered history, then the last instruction."""
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    turns = [m["content"] for m in messages if m["role"] != "system"]
    history = [[turns[i], turns[i + 1]] for i in range(0, len(turns) - 1, 2)]
    return {"instruction": turns[-1], "input": "", "system": system, "history": history}
