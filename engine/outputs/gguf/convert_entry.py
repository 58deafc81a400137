"""The converter process: runs llama.cpp's convert_hf_to_gguf.py from a given folder, naming locally trained byte-level BPE.

    python -m engine.outputs.gguf.convert_entry LLAMA_CPP_DIR MODEL_DIR --outfile F --outtype T

llama.cpp names a BPE tokenizer's pre-tokenizer by hashing the ids it gives a fixed text, so it knows only the
published vocabularies in its table. A vocabulary trained locally (tiny-demo's) with GPT-2's own byte-level
pre-tokenizer has an unknown hash but splits text exactly as GPT-2 does: it is written as "gpt-2". Any other
unknown tokenizer still fails as upstream does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def is_gpt2_byte_level(model_dir: Path) -> bool:
    """Whether tokenizer.json pre-tokenizes exactly as GPT-2: ByteLevel with its regex, no normalizer."""
    try:
        spec = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    pre = spec.get("pre_tokenizer") or {}
    return (spec.get("normalizer") is None and pre.get("type") == "ByteLevel" and pre.get("use_regex", True)
            and not pre.get("add_prefix_space", False) and (spec.get("model") or {}).get("type") == "BPE")


def main() -> None:
    """Run upstream's main() with sys.argv as its own command line."""
    folder = Path(sys.argv[1])
    sys.argv = [str(folder / "convert_hf_to_gguf.py"), *sys.argv[2:]]
    sys.path[:0] = [str(folder), str(folder / "gguf-py")]
    import convert_hf_to_gguf
    from conversion.base import TextModel, logger

    upstream = TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer) -> str:
        try:
            return upstream(self, tokenizer)
        except NotImplementedError:
            if not is_gpt2_byte_level(Path(self.dir_model)):
                raise
            logger.info("tokenizer: a locally trained vocabulary with GPT-2's byte-level pre-tokenizer: gpt-2")
            return "gpt-2"

    TextModel.get_vocab_base_pre = get_vocab_base_pre
    convert_hf_to_gguf.main()


if __name__ == "__main__":
    main()
