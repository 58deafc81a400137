"""Small offline tokenizers that carry the real chat templates of model families, for tests.

    from tests.chat_templates import FAMILIES, chat_tokenizer
    tokenizer = chat_tokenizer("qwen3", tmp_path)   # a PreTrainedTokenizerFast saved in tmp_path/qwen3

The templates are the families' own Jinja text, byte for byte: TRL 1.16 stores the originals shipped on the Hub
in trl/chat_templates/*.jinja (see its README.md there) to recognise them, and they are read from there so they
stay identical to what TRL compares against:
- qwen2.5: Qwen/Qwen2.5-*-Instruct (system prompt default, tools in the system turn),
- qwen3: Qwen/Qwen3-* (<think> blocks: an empty one is added to the last assistant turn after the last user turn),
- llama3: meta-llama/Meta-Llama-3-*-Instruct (TRL has a training template with {% generation %} for it),
- llama3.1: meta-llama/Llama-3.1-*-Instruct (tools, date header; TRL has NO training template for it),
- gemma: google/gemma-*-it and gemma-2 (refuses a system role: raise_exception),
- phi3: microsoft/Phi-3-*-instruct (appends eos_token after the last turn when no generation prompt is asked).
The vocabulary is a byte-level BPE trained here on a few sentences, with each family's special tokens added
as the real tokenizers have them, so special tokens encode to one id and any text round-trips.
"""

from __future__ import annotations

from pathlib import Path

FAMILIES = ("qwen2.5", "qwen3", "llama3", "llama3.1", "gemma", "phi3")
"""The model families chat_tokenizer builds."""

NO_SYSTEM_ROLE = frozenset({"gemma"})
"""Families whose template raises on a system message."""

WITH_TOOLS = frozenset({"qwen2.5", "qwen3", "llama3.1"})
"""Families whose template renders a `tools=` list."""

_SPECS = {
    # family: (TRL template file, special tokens, bos, eos, pad) as the family's tokenizer_config.json sets them
    "qwen2.5": ("qwen2_5.jinja", ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>"],
                None, "<|im_end|>", "<|endoftext|>"),
    "qwen3": ("qwen3.jinja", ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>",
                              "<think>", "</think>", "<tool_response>", "</tool_response>"],
              None, "<|im_end|>", "<|endoftext|>"),
    "llama3": ("llama3.jinja", ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                                "<|eot_id|>"], "<|begin_of_text|>", "<|eot_id|>", None),
    "llama3.1": ("llama3_1.jinja", ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                    "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", "<|python_tag|>"],
                 "<|begin_of_text|>", "<|eot_id|>", None),
    "gemma": ("gemma.jinja", ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"],
              "<bos>", "<eos>", "<pad>"),
    "phi3": ("phi3.jinja", ["<unk>", "<s>", "</s>", "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>",
                            "<|end|>"], "<s>", "<|endoftext|>", "<|endoftext|>"),
}

_CORPUS = [
    "You are a helpful assistant. Answer briefly and politely.",
    "What is the capital of France? The capital of France is Paris.",
    "How many legs does a spider have? A spider has eight legs.",
    "Translate good morning into German. Guten Morgen.",
    "Write a haiku about the sea. Waves fold into foam, the tide keeps its quiet time, salt on the grey stones.",
    "What is 2 + 2? 2 + 2 = 4. Thanks! You are welcome.",
    '{"name": "get_weather", "arguments": {"city": "Paris"}} The weather in Paris is sunny, 21 degrees.',
]


def family_template(family: str) -> str:
    """The family's original chat template text, as TRL stores it."""
    import trl

    return (Path(trl.__file__).parent / "chat_templates" / _SPECS[family][0]).read_text(encoding="utf-8")


def chat_tokenizer(family: str, folder: Path):
    """A small fast tokenizer with `family`'s special tokens and real chat template, saved in folder/family and loaded back."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    _, specials, bos, eos, pad = _SPECS[family]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(_CORPUS, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=bos, eos_token=eos, pad_token=pad,
                                        model_max_length=4096)
    tokenizer.chat_template = family_template(family)
    target = Path(folder) / family
    tokenizer.save_pretrained(target)
    return AutoTokenizer.from_pretrained(target)
