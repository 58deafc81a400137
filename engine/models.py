"""Finding and loading models and tokenizers, including the built-in `tiny-demo`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import UserError
from engine.paths import cache_dir

if TYPE_CHECKING:
    from engine.config import ModelSection
    from engine.hardware import PrecisionDecision

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
    from engine.data import ALPACA_TEMPLATES
    from engine.presets import bundled_presets_dir

    texts = []
    for line in (bundled_presets_dir() / "data" / "demo-alpaca.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for template in ALPACA_TEMPLATES.values():
            prompt = template["with_input" if row["input"] else "no_input"].format(**row)
            texts.append(prompt + row["output"])
    return texts


def _build_tiny_demo(folder: Path) -> None:
    from engine.train import quiet_libraries

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


def model_location(model: "ModelSection", build: bool = True) -> str:
    """The path or Hub id from_pretrained gets; builds tiny-demo (unless told not to), checks local folders."""
    name = model.name_or_path
    if name == TINY_DEMO:
        return str(ensure_tiny_demo() if build else tiny_demo_dir())
    path = Path(name).expanduser()
    if path.exists() or name.startswith((".", "/", "~")):
        if not (path / "config.json").is_file():
            raise UserError(f"model.name_or_path = {name}: no config.json in that directory; "
                            "point it at a folder saved with save_pretrained, or use a Hub id.")
        return str(path)
    return name


@lru_cache(maxsize=1)
def hub_unreachable() -> bool:
    """True when the Hugging Face Hub cannot be used: offline mode, or no answer within 3 seconds."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return True
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=3):
            return False
    except OSError:
        return True


def _local_only(location: str) -> bool:
    """Load from the local cache only when the Hub is out of reach (fails fast instead of retrying)."""
    return not Path(location).exists() and hub_unreachable()


def _offline_error(name: str, what: str, exc: Exception) -> UserError:
    return UserError(f"model {name!r}: its {what} is not available offline (not in the local Hugging Face cache, "
                     f"and the Hub cannot be reached: {type(exc).__name__}). Download it on a connected machine "
                     f"(`hf download {name}`) or set model.name_or_path to a local directory.")


def load_model_config(model: "ModelSection") -> Any:
    """The model's transformers config (config.json only, no weights)."""
    from transformers import AutoConfig

    location = model_location(model)
    try:
        return AutoConfig.from_pretrained(location, trust_remote_code=model.trust_remote_code, revision=model.revision,
                                          local_files_only=_local_only(location))
    except OSError as exc:
        raise _offline_error(model.name_or_path, "config.json", exc) from None
    except ValueError as exc:
        raise UserError(f"model {model.name_or_path!r}: {exc}") from None


def load_tokenizer(model: "ModelSection") -> Any:
    """The model's tokenizer, with a pad token set (the EOS token when it has none)."""
    from transformers import AutoTokenizer

    location = model_location(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=model.trust_remote_code, revision=model.revision,
                                                  local_files_only=_local_only(location))
    except OSError as exc:
        raise _offline_error(model.name_or_path, "tokenizer", exc) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def torch_dtype(name: str) -> Any:
    """The torch dtype for a dtype string such as bfloat16."""
    import torch

    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def quantization_config(quantization: dict | None, precision: "PrecisionDecision") -> Any:
    """The BitsAndBytesConfig for a preset's quantization section (compute dtype from precision)."""
    if not quantization:
        return None
    from transformers import BitsAndBytesConfig

    kwargs = dict(quantization)
    for key in ("bnb_4bit_compute_dtype", "bnb_4bit_quant_storage"):
        if isinstance(kwargs.get(key), str):
            kwargs[key] = torch_dtype(kwargs[key])
    if kwargs.get("load_in_4bit") and kwargs.get("bnb_4bit_compute_dtype") is None:
        kwargs["bnb_4bit_compute_dtype"] = torch_dtype(precision.dtype)
    return BitsAndBytesConfig(**kwargs)


def load_model(model: "ModelSection", precision: "PrecisionDecision", quantization: dict | None,
               random_init: bool = False) -> Any:
    """Load the causal LM with the decided dtype (or random weights from its config)."""
    from transformers import AutoModelForCausalLM

    dtype = torch_dtype(precision.dtype)
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": model.trust_remote_code}
    if model.attn_implementation:
        kwargs["attn_implementation"] = model.attn_implementation
    if random_init:
        from engine.modelinfo import hf_config

        return AutoModelForCausalLM.from_config(hf_config(model), **kwargs)
    bnb = quantization_config(quantization, precision)
    if bnb is not None:
        kwargs["quantization_config"] = bnb
        kwargs["device_map"] = {"": 0}
    location = model_location(model)
    try:
        return AutoModelForCausalLM.from_pretrained(location, revision=model.revision, local_files_only=_local_only(location),
                                                    **kwargs)
    except OSError as exc:
        raise _offline_error(model.name_or_path, "weights", exc) from None
