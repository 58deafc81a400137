"""tiny-demo: a small Llama-architecture model built locally and deterministically, for offline demos and tests."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from engine.paths import cache_dir

if TYPE_CHECKING:
    pass


TINY_DEMO = "tiny-demo"


TINY_DEMO_VERSION = "v1"


CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}<|assistant|>\n{% generation %}{{ message['content'] }}</s>{% endgeneration %}\n"
    "{% else %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def tiny_demo_dir() -> Path:
    """Where the built tiny-demo model lives (built on first use)."""
    return cache_dir() / "models" / f"tiny-demo-{TINY_DEMO_VERSION}"


_build_lock = threading.Lock()


def ensure_tiny_demo() -> Path:
    """Build tiny-demo if it is not cached yet; return its directory."""
    target = tiny_demo_dir()
    with _build_lock:
        if not ((target / "config.json").is_file() and (target / "model.safetensors").is_file()):
            _build_into(target)
    return target


def _build_into(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tiny-demo-"))
    try:
        _build_tiny_demo(staging)
        try:
            os.replace(staging, target)
        except OSError:  # another process finished first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _tokenizer_corpus() -> list[str]:
    from engine.config.presets import bundled_presets_dir
    from engine.config.templates import ALPACA_TEMPLATES

    texts = []  # the two templates tiny-demo v1 was built with: a later template leaves its tokenizer as it is
    for line in (bundled_presets_dir() / "data" / "demo-alpaca.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for template in (ALPACA_TEMPLATES["alpaca"], ALPACA_TEMPLATES["alpaca-zh"]):
            prompt = template["with_input" if row["input"] else "no_input"].format(**row)
            texts.append(prompt + row["output"])
    return texts


def _build_tiny_demo(folder: Path) -> None:
    from engine.libraries import quiet_libraries

    quiet_libraries()
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1024, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    bpe.train_from_iterator(_tokenizer_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                        unk_token="<unk>", model_max_length=1024)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=352, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
