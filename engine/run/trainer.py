"""The one place SFTTrainer and its arguments are assembled."""

from __future__ import annotations

from typing import Any

from engine.config.resolve import lora_kwargs, sft_kwargs
from engine.config.run_config import RunConfig
from engine.errors import UserError


def build_trainer(config: RunConfig, precision: Any, model: Any, tokenizer: Any, train: Any, evaluation: Any,
                  output_dir: str, on_gpu: bool, callbacks: list, extra_args: dict | None = None) -> Any:
    """The SFTTrainer for a config: the one place trainer arguments are assembled."""
    from peft import LoraConfig
    from transformers.trainer_callback import PrinterCallback, ProgressCallback
    from trl import SFTConfig, SFTTrainer

    try:
        args = SFTConfig(**{**sft_kwargs(config, precision, output_dir, on_gpu), **(extra_args or {})})
    except (ValueError, TypeError) as exc:
        raise UserError(f"training settings rejected by trl.SFTConfig: {exc}") from None
    lora = lora_kwargs(config)
    try:
        trainer = SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=evaluation,
                             processing_class=tokenizer, peft_config=LoraConfig(**lora) if lora else None,
                             callbacks=callbacks)
    except ValueError as exc:
        raise UserError(f"SFTTrainer rejected the setup: {exc}") from None
    trainer.remove_callback(PrinterCallback)  # the event stream prints instead
    trainer.remove_callback(ProgressCallback)
    return trainer
