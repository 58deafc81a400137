# Kaggle notebook style: one CFG class holds the settings.
import torch
from datasets import load_dataset
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, TrainingArguments
from trl import SFTTrainer


class CFG:
    MODEL_NAME = "google/gemma-2b-it"
    DATA = "/kaggle/input/medical-qa/train.jsonl"
    MAX_LEN = 1024
    LR = 1e-4
    EPOCHS = 2
    BATCH = 1
    ACCUM = 16
    LORA_R = 8
    LORA_ALPHA = LORA_R * 2
    TARGETS = ["q_proj", "o_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj"]
    OUTPUT = "/kaggle/working/gemma-medical"


bnb_config = BitsAndBytesConfig(
    load_in_4bit=True,
    bnb_4bit_quant_type="nf4",
    bnb_4bit_compute_dtype=torch.bfloat16,
)
tokenizer = AutoTokenizer.from_pretrained(CFG.MODEL_NAME)
model = AutoModelForCausalLM.from_pretrained(CFG.MODEL_NAME, quantization_config=bnb_config, device_map={"": 0})
model = prepare_model_for_kbit_training(model)
lora_config = LoraConfig(r=CFG.LORA_R, lora_alpha=CFG.LORA_ALPHA, target_modules=CFG.TARGETS, lora_dropout=0.05,
                         bias="none", task_type="CAUSAL_LM")
model = get_peft_model(model, lora_config)
model.print_trainable_parameters()

data = load_dataset("json", data_files=CFG.DATA)

trainer = SFTTrainer(
    model=model,
    train_dataset=data["train"],
    args=TrainingArguments(
        per_device_train_batch_size=CFG.BATCH,
        gradient_accumulation_steps=CFG.ACCUM,
        num_train_epochs=CFG.EPOCHS,
        learning_rate=CFG.LR,
        fp16=False,
        bf16=True,
        logging_steps=10,
        output_dir=CFG.OUTPUT,
        optim="paged_adamw_8bit",
        report_to="none",
    ),
    max_seq_length=CFG.MAX_LEN,
)
model.config.use_cache = False  # silence the warnings. Please re-enable for inference!
trainer.train()
