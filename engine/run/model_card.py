"""The run's model card (README.md), naming the real base model: TRL's names a local or built-in one `None`.

engine.run.callback.ModelCardCallback puts it back each time TRL writes its own.
"""

from __future__ import annotations

from pathlib import Path

from engine.config.run_config import RunConfig
from engine.models.tiny_demo import TINY_DEMO

CARD = "README.md"


def base_model_text(config: RunConfig) -> str:
    """The base model as the card's sentence names it: a Hub link, tiny-demo, or the local folder."""
    name, revision = config.model.name_or_path, config.model.revision
    if name == TINY_DEMO:
        return "tiny-demo, sft-wizard's built-in demo model (built on this machine, not on the Hub)"
    if is_local(name):
        return f"the local model `{name}`"
    at = f" (revision `{revision}`)" if revision else ""
    return f"[{name}](https://huggingface.co/{name}){at}"


def is_local(name: str) -> bool:
    """Whether model.name_or_path is a folder on this machine rather than a Hub id."""
    return name.startswith((".", "/", "~")) or Path(name).expanduser().exists()


def model_card(config: RunConfig) -> str:
    """The card's text: base model, data, method, and where the model and the run's records are."""
    name = config.model.name_or_path
    hub_base = name != TINY_DEMO and not is_local(name)
    adapter = config.lora is not None
    method = f"with {'QLoRA' if config.quantization else 'LoRA'}" if adapter else "by full fine-tuning"
    header = ["---"]
    if hub_base:
        header.append(f"base_model: {name}")
    header += [f"library_name: {'peft' if adapter else 'transformers'}", "pipeline_tag: text-generation",
               "tags:", "- sft", "- trl", "- sft-wizard", *(["- lora"] if adapter else []), "---", ""]
    paths = [f"`{source.path}`" for source in config.dataset.training_sources() if source.path]
    data = f", on {' and '.join(paths)}" if paths else ""
    loading = ("a LoRA adapter: load it with `peft.AutoPeftModelForCausalLM.from_pretrained`, which loads the base "
               "model too" if adapter else "the full model: load it with `transformers.AutoModelForCausalLM`")
    body = [f"# {config.name}", "",
            f"This model is a fine-tuned version of {base_model_text(config)}. It was trained {method} in TRL's "
            f"SFTTrainer through sft-wizard{data}.", "",
            f"`final/` holds {loading}. `run.yaml` has every setting as resolved (precision, memory estimate, library "
            "versions) and `events.jsonl` every logged step.", ""]
    return "\n".join(header + body)


def write_model_card(folder: str | Path, card: str) -> None:
    """Write the card as folder/README.md (replacing one TRL or PEFT wrote)."""
    from engine.atomic import write_text_atomic

    write_text_atomic(Path(folder) / CARD, card)  # rewritten at every checkpoint: a kill mid-write keeps the old one
