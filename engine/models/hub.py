"""Locating a model (tiny-demo, a local folder or a Hub id) and loading its config and tokenizer offline-first."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import UserError
from engine.models.kernel_rule import hub_answers, hub_offline
from engine.models.tiny_demo import TINY_DEMO, ensure_tiny_demo, tiny_demo_dir

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerBase

    from engine.config.run_config import ModelSection


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
    return hub_offline() or not hub_answers(timeout=3)


def _local_only(location: str) -> bool:
    """Load from the local cache only when the Hub is out of reach (fails fast instead of retrying)."""
    return not Path(location).exists() and hub_unreachable()


def _offline_error(name: str, what: str, exc: Exception) -> UserError:
    return UserError(f"model {name!r}: its {what} is not available offline (not in the local Hugging Face cache, "
                     f"and the Hub cannot be reached: {type(exc).__name__}). Download it on a connected machine "
                     f"(`hf download {name}`) or set model.name_or_path to a local directory.")


def load_model_config(model: "ModelSection") -> "PretrainedConfig":
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


def load_tokenizer(model: "ModelSection") -> "PreTrainedTokenizerBase":
    """The model's tokenizer, with a pad token set (the EOS token when it has none)."""
    from transformers import AutoTokenizer

    location = model_location(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=model.trust_remote_code, revision=model.revision,
                                                  local_files_only=_local_only(location))
    except OSError as exc:
        raise _offline_error(model.name_or_path, "tokenizer", exc) from None
    except ValueError as exc:  # e.g. tokenizer_config.json without the files that hold the vocabulary
        if Path(location).is_dir() and not (Path(location) / "tokenizer.json").is_file():
            raise _incomplete_tokenizer(model.name_or_path, location, "transformers cannot build the tokenizer from tokenizer_config.json alone") from None
        raise UserError(f"model {model.name_or_path!r}: its tokenizer does not load: {exc}") from None
    if not tokenizer("Hello world", add_special_tokens=False)["input_ids"]:
        raise _incomplete_tokenizer(model.name_or_path, location,
                                    f"it loaded with only {len(tokenizer)} tokens and encodes text to nothing")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Long rows are measured and reported against training.max_length (engine/data/label/lengths.py); transformers'
    # own "Token indices sequence length is longer than the specified maximum" line is marked as already said.
    tokenizer.deprecation_warnings["sequence-length-is-longer-than-the-specified-maximum"] = True
    return tokenizer


def _incomplete_tokenizer(name: str, location: str, what: str) -> UserError:
    """The error for a tokenizer folder that lacks its vocabulary (tokenizer.json, or the files it is built from)."""
    folder = Path(location)
    missing = "tokenizer.json is" if folder.is_dir() and not (folder / "tokenizer.json").is_file() else "vocabulary files are"
    return UserError(f"model {name!r}: the tokenizer is incomplete: {missing} missing from {location} ({what}). "
                     "Copy tokenizer.json (and tokenizer.model / vocab files if the model has them) from the original "
                     "model into that folder, or save the tokenizer there with tokenizer.save_pretrained.")
