"""The one place SFTTrainer and its arguments are assembled."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from engine.config.resolve import lora_kwargs, sft_kwargs
from engine.config.run_config import RunConfig
from engine.errors import UserError
from engine.machine.precision import PrecisionDecision

if TYPE_CHECKING:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
    from trl import SFTConfig

    from engine.run.whole_checkpoints import WholeCheckpointTrainer


class TrainerArguments(NamedTuple):
    """A run's arguments as the libraries accepted them: built once while planning, handed to the trainer."""

    sft: "SFTConfig"
    lora: "LoraConfig | None"


def trainer_arguments(config: RunConfig, precision: PrecisionDecision, output_dir: str, on_gpu: bool,
                      extra_args: dict | None = None) -> TrainerArguments:
    """The SFTConfig and LoraConfig of a run; UserError when the libraries refuse the settings.

    Planning calls this before the run directory exists, so a refused setting leaves nothing behind.
    """
    from peft import LoraConfig
    from trl import SFTConfig

    try:
        args = SFTConfig(**{**sft_kwargs(config, precision, output_dir, on_gpu), **(extra_args or {})})
    except (ValueError, TypeError) as exc:
        raise UserError(f"training settings rejected by trl.SFTConfig: {exc}") from None
    lora = lora_kwargs(config)
    try:
        return TrainerArguments(args, LoraConfig(**lora) if lora else None)
    except (ValueError, TypeError) as exc:
        raise UserError(f"lora settings rejected by peft.LoraConfig: {exc}") from None


def trainable_in_fp32(model) -> int:  # unannotated: export-script copies it into scripts
    """Keep every trainable parameter in float32; return how many had to be cast.

    fp16 mixed precision scales the loss, and its GradScaler unscales float32 gradients only:
    TRL casts the adapters of a quantized model to bfloat16, and PEFT leaves modules_to_save (and
    full fine-tuning) in the weights' float16. Either crashes at the first optimizer step.
    """
    import torch

    cast = 0
    for parameter in model.parameters():
        if parameter.requires_grad and parameter.dtype != torch.float32:
            parameter.data = parameter.data.float()
            cast += 1
    return cast


def build_trainer(config: RunConfig, precision: PrecisionDecision, model: "PreTrainedModel",
                  tokenizer: "PreTrainedTokenizerBase", train: "Dataset", evaluation: "Dataset | None", output_dir: str,
                  on_gpu: bool, callbacks: "list[TrainerCallback]", extra_args: dict | None = None,
                  arguments: TrainerArguments | None = None) -> "WholeCheckpointTrainer":
    """The SFTTrainer for a config, with the arguments planning built (or built here when there are none).

    Its checkpoints appear whole or not at all (engine.run.whole_checkpoints).
    """
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from engine.run.whole_checkpoints import WholeCheckpointTrainer

    args, peft_config = arguments or trainer_arguments(config, precision, output_dir, on_gpu, extra_args)
    try:
        trainer = WholeCheckpointTrainer(model=model, args=args, train_dataset=train, eval_dataset=evaluation,
                                         processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    except ValueError as exc:
        raise UserError(f"SFTTrainer rejected the setup: {exc}") from None
    if precision.mixed == "fp16":
        trainable_in_fp32(trainer.model)
    trainer.remove_callback(PrinterCallback)  # the event stream prints instead
    trainer.remove_callback(ProgressCallback)
    return trainer
