"""Checking an exported GGUF by reading it back: its metadata and tensors, and its answer beside the fine-tuned model's."""

from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
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
        types = ", ".join(f"{count} {kind}" for kind, count in sorted(self.tensor_types.items(), key=lambda kc: (-kc[1], kc[0])))
        return [f"architecture {self.architecture}, name {self.name!r}, context {self.context_length}, "
                f"vocabulary {self.vocabulary} tokens, chat template {'stored' if self.has_chat_template else 'none'}",
                f"{self.tensors} tensors: {types}"]


@dataclass
class AnswerCheck:
    """One prompt answered greedily by the fine-tuned model and by the exported file: token ids, and their text to show."""

    prompt: str
    fine_tuned_ids: tuple[list[int], list[int]]
    """The prompt's token ids and the greedy answer's, from the fine-tuned model and its tokenizer."""
    exported_ids: tuple[list[int], list[int]]
    """The same from the GGUF's weights and the GGUF's tokenizer."""
    fine_tuned: str
    exported: str
    note: str

    @property
    def same(self) -> bool:
        """Whether both read the prompt as the same ids and answer with the same ids (text may differ: padded vocabularies)."""
        return self.fine_tuned_ids == self.exported_ids

    def difference(self) -> str:
        """Where the ids first differ, in words; empty when they do not."""
        for part, mine, theirs in zip(("prompt", "answer"), self.fine_tuned_ids, self.exported_ids):
            at = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
            if mine != theirs:
                return (f"{part} token {at}: fine-tuned {mine[at] if at < len(mine) else 'ends'}, "
                        f"exported {theirs[at] if at < len(theirs) else 'ends'} ({len(mine)} and {len(theirs)} {part} tokens)")
        return ""


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
    fine_tuned = tuned.greedy_ids(prompt, max_new_tokens=max_new_tokens)
    folder, name = str(gguf_path.parent), gguf_path.name
    dtype = torch.float32 if tuned.model.device.type == "cpu" else torch.bfloat16
    with _no_progress_bars():  # transformers' "Converting and de-quantizing GGUF tensors" bar
        # A few greedy tokens to compare: Hub kernels (compiled code fetched on CUDA) are never worth a download here.
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=dtype,
                                                     use_kernels=False).to(tuned.model.device).eval()
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    exported = Generator(model, tokenizer, tuned.template, tuned.fmt, False)
    exported_ids = exported.greedy_ids(prompt, max_new_tokens=max_new_tokens)
    return AnswerCheck(prompt, fine_tuned, exported_ids, tuned.decode(fine_tuned[1]), exported.decode(exported_ids[1]),
                       f"fine-tuned: {tuned.note}; exported: the GGUF's weights and tokenizer dequantized in "
                       f"transformers, {tuned.model.device.type} {str(dtype).removeprefix('torch.')}")


@contextmanager
def _no_progress_bars():
    """No "Converting and de-quantizing GGUF tensors" bar: transformers' GGUF loader draws it with tqdm.auto directly,
    past transformers' own switch (logging.disable_progress_bar), so its module's tqdm is a disabled one while inside."""
    from functools import partial

    from transformers import modeling_gguf_pytorch_utils as gguf_loading

    drawn = gguf_loading.tqdm
    gguf_loading.tqdm = partial(drawn, disable=True)
    try:
        yield
    finally:
        gguf_loading.tqdm = drawn
