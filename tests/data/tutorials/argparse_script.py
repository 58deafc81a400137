"""Supervised fine-tuning of Mistral-7B with LoRA.

Usage:
    python train.py --model_name_or_path mistralai/Mistral-7B-v0.1 --lr 1e-4 --bf16
"""

import argparse

import torch
from datasets import load_dataset
from peft import LoraConfig, TaskType
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
from trl import SFTConfig, SFTTrainer


def parse_args():
    parser = argparse.ArgumentParser(description="Fine-tune a causal language model with LoRA")
    parser.add_argument("--model_name_or_path", type=str, default="mistralai/Mistral-7B-v0.1")
    parser.add_argument("--dataset_name", type=str, default="HuggingFaceH4/ultrachat_200k")
    parser.add_argument("--dataset_split", default="train_sft")
    parser.add_argument("--output_dir", type=str, default="mistral-7b-sft-lora")
    parser.add_argument("--lr", type=float, default="1e-4", help="peak learning rate")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--grad_accum", type=int, default=8)
    parser.add_argument("--max_seq_len", type=int, default=2048)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    group = parser.add_argument_group("LoRA")
    group.add_argument("--lora_r", type=int, default=16)
    group.add_argument("--lora_alpha", type=int, default=32)
    group.add_argument("--lora_dropout", type=float, default=0.05)
    parser.add_argument("--use_4bit", action="store_true", help="QLoRA")
    parser.add_argument("--no_bf16", dest="bf16", action="store_false")
    parser.add_argument("--packing", action="store_true")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--hub_token", required=True)
    return parser.parse_args()


def main():
    args = parse_args()

    quantization_config = None
    if args.use_4bit:
        quantization_config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16)

    model = AutoModelForCausalLM.from_pretrained(
        args.model_name_or_path,
        quantization_config=quantization_config,
        torch_dtype=torch.bfloat16 if args.bf16 else torch.float32,
    )
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path, token=args.hub_token)
    dataset = load_dataset(args.dataset_name, split=args.dataset_split)

    peft_config = LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        task_type=TaskType.CAUSAL_LM,
    )
    training_args = SFTConfig(
        output_dir=args.output_dir,
        learning_rate=args.lr,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        max_length=args.max_seq_len,
        warmup_ratio=args.warmup_ratio,
        bf16=args.bf16,
        packing=args.packing,
        seed=args.seed,
        logging_steps=10,
        report_to="none",
    )
    trainer = SFTTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
    )
    trainer.train()
    trainer.save_model(args.output_dir)


if __name__ == "__main__":
    main()
