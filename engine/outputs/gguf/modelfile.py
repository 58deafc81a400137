"""The files beside an exported GGUF: an Ollama Modelfile in the run's prompt format, and a README line per runtime."""

from __future__ import annotations

from typing import Any

from engine.outputs.gguf.ollama_modelfile import modelfile_line
from engine.outputs.gguf.ollama_template import (
    ChatFormat,
    alpaca_format,
    chat_template_format,
    chat_template_renderer,
    renders_like,
)


def training_format(tokenizer: Any, fmt: str, template: str) -> tuple[ChatFormat | None, str]:
    """The run's prompt layout as checked Ollama template parts (None when it cannot be written so), and a note why."""
    if fmt == "alpaca":
        from engine.config.templates import ALPACA_TEMPLATES
        from engine.data.formats import alpaca_prompt

        pattern_name = template if template in ALPACA_TEMPLATES else "alpaca"
        layout = alpaca_format(ALPACA_TEMPLATES[pattern_name], tokenizer.eos_token)
        layout, note = _checked(layout, lambda messages: alpaca_prompt(_alpaca_row(messages), pattern_name),
                                f"the {pattern_name} template the run trained with")
        return layout, (note + "; the chat template stored in the GGUF is the tokenizer's, not this format: "
                        "with llama-cli, give the prompt in the format yourself (no -cnv)")
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


def readme_text(name: str, gguf_name: str, quant: str, run_dir: str) -> str:
    """How to run the export in Ollama, llama.cpp and LM Studio."""
    return (f"# {name}: {quant} GGUF of the fine-tuned model in {run_dir}\n\n"
            f"- Ollama: `ollama create {name} -f Modelfile`, then `ollama run {name}`\n"
            f"- llama.cpp: `llama-cli -m {gguf_name} -cnv` (chat), or `llama-server -m {gguf_name}` (OpenAI-style API)\n"
            f"- LM Studio: `lms import {gguf_name}`, or copy it into LM Studio's models folder "
            "(~/.lmstudio/models/PUBLISHER/MODEL/)\n")


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
