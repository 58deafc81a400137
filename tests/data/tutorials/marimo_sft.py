import marimo

__generated_with = "0.9.14"
app = marimo.App(width="medium")


@app.cell
def __():
    import marimo as mo
    from datasets import load_dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer
    return LoraConfig, SFTConfig, SFTTrainer, load_dataset, mo


@app.cell
def __(mo):
    mo.md("""# Fine-tune SmolLM2 on your own chats""")
    return


@app.cell
def __(mo):
    model_id = "HuggingFaceTB/SmolLM2-135M-Instruct"
    epochs = 2
    lr_slider = mo.ui.slider(1e-5, 1e-3, value=2e-4, label="learning rate")
    lr_slider
    return epochs, lr_slider, model_id


@app.cell
def __(load_dataset):
    dataset = load_dataset("json", data_files={"train": "data/chats.jsonl"}, split="train")
    return (dataset,)


@app.cell
def __(LoraConfig, SFTConfig, SFTTrainer, dataset, epochs, lr_slider, model_id):
    config = SFTConfig(
        output_dir=f"runs/{model_id.split('/')[-1]}",
        num_train_epochs=epochs,
        learning_rate=lr_slider.value,
        per_device_train_batch_size=8,
        max_length=512,
        packing=True,
        fp16=False,
        bf16=False,
    )
    trainer = SFTTrainer(
        model=model_id,
        args=config,
        train_dataset=dataset,
        peft_config=LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear"),
    )
    return config, trainer


@app.cell
def __(trainer):
    trainer.train()
    return


if __name__ == "__main__":
    app.run()
