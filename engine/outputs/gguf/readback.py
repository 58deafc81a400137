"""Checking an exported GGUF by reading it back: its metadata and tensors, and its answer beside the fine-tuned model's."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass
class GgufSummary:
    """What a GGUF file says about itself."""

    architecture: str
    name: str
    tensors: int
    tensor_types: dict[str, int]
    context_length: int | None
    vocabulary: int
    has_chat_template: bool

    def lines(self) -> list[str]:
        """A few lines for the terminal."""
        types = ", ".join(f"{count} {kind}" for kind, count in sorted(self.tensor_types.items()))
        return [f"architecture {self.architecture}, name {self.name!r}, context {self.context_length}, "
                f"vocabulary {self.vocabulary} tokens, chat template {'stored' if self.has_chat_template else 'none'}",
                f"{self.tensors} tensors: {types}"]


@dataclass
class AnswerCheck:
    """One prompt answered greedily by the fine-tuned model and by the exported file."""

    prompt: str
    fine_tuned: str
    exported: str
    note: str

    @property
    def same(self) -> bool:
        return self.fine_tuned == self.exported


def read_summary(path: Path) -> GgufSummary:
    """The GGUF's architecture, name, tensor count and types, context length, vocabulary and chat template."""
    from gguf import GGUFReader

    reader = GGUFReader(str(path))

    def value(key: str):
        field = reader.get_field(key)
        return None if field is None else field.contents()

    architecture = str(value("general.architecture"))
    tokens = reader.get_field("tokenizer.ggml.tokens")
    return GgufSummary(architecture, str(value("general.name") or ""), len(reader.tensors),
                       dict(Counter(t.tensor_type.name for t in reader.tensors)), value(f"{architecture}.context_length"),
                       0 if tokens is None else len(tokens.data), reader.get_field("tokenizer.chat_template") is not None)


def compare_answers(run_dir: Path, gguf_path: Path, prompt: str, max_new_tokens: int = 32) -> AnswerCheck:
    """The prompt, in the run's format, answered greedily by the run's final/ model and by the GGUF loaded in transformers."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.outputs.generate import Generator, load_generator

    tuned = load_generator(str(run_dir))
    fine_tuned = tuned.answer(prompt, max_new_tokens=max_new_tokens)
    folder, name = str(gguf_path.parent), gguf_path.name
    dtype = torch.float32 if tuned.model.device.type == "cpu" else torch.bfloat16
    # A few greedy tokens to compare: Hub kernels (compiled code fetched on CUDA) are never worth a download here.
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=dtype,
                                                 use_kernels=False).to(tuned.model.device).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    exported = Generator(model, tokenizer, tuned.template, tuned.fmt, False).answer(prompt, max_new_tokens=max_new_tokens)
    return AnswerCheck(prompt, fine_tuned, exported, f"fine-tuned: {tuned.note}; exported: the GGUF's weights and "
                       f"tokenizer dequantized in transformers, {tuned.model.device.type} {str(dtype).removeprefix('torch.')}")
