"""A standalone Python script that reproduces a run with TRL directly (export-script)."""

from __future__ import annotations

import json
import pprint
from typing import TYPE_CHECKING

from engine.build import lora_kwargs, resolve_precision, sft_kwargs
from engine.data import ALPACA_TEMPLATES, resolve_template

if TYPE_CHECKING:
    from engine.config import RunConfig
    from engine.hardware import HardwareReport


def _py(value: object) -> str:
    return pprint.pformat(value, width=100, sort_dicts=False)


def export_script(config: "RunConfig", hardware: "HardwareReport") -> str:
    """Python source that trains the same run without sft-wizard."""
    from engine.models import model_location

    precision, _ = resolve_precision(config, hardware)
    on_gpu = hardware.training_gpu is not None
    training = sft_kwargs(config, precision, config.output_dir, on_gpu)
    lora = lora_kwargs(config)
    quant = dict(config.quantization) if config.quantization else None
    if quant and quant.get("load_in_4bit") and not quant.get("bnb_4bit_compute_dtype"):
        quant["bnb_4bit_compute_dtype"] = precision.dtype
    ds = config.dataset
    fmt = ds.format
    template = resolve_template(fmt, ds.template) if fmt != "auto" else ds.template
    lines = [
        "#!/usr/bin/env python3",
        f'"""Fine-tune {config.name} with TRL directly; exported by `sft-wizard export-script`."""',
        "",
        "import torch",
        "from datasets import load_dataset",
        "from peft import LoraConfig",
        "from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig",
        "from trl import SFTConfig, SFTTrainer",
        "",
        f"MODEL = {model_location(config.model, build=False)!r}",
        f"DATA_FILE = {ds.path!r}",
        f"EVAL_FILE = {ds.eval_path!r}",
        f"EVAL_SPLIT = {ds.eval_split!r}",
        f"COLUMNS = {dict(ds.columns or {})!r}  # our name -> the data's column name",
        f"# precision: {precision.reason}",
        f"DTYPE = torch.{precision.dtype}",
        "",
        f"TEMPLATES = {json.dumps(ALPACA_TEMPLATES.get(template, ALPACA_TEMPLATES['alpaca']), ensure_ascii=False)}",
        "",
        "",
        "def to_row(row):",
        '    """Turn one data row into what SFTTrainer trains on."""',
        "    row = row | {ours: row[theirs] for ours, theirs in COLUMNS.items()}",
        "    if 'instruction' in row and 'output' in row:",
        "        key = 'with_input' if str(row.get('input') or '').strip() else 'no_input'",
        "        prompt = TEMPLATES[key].format(instruction=row['instruction'], input=row.get('input') or '')",
        "        return {'prompt': prompt, 'completion': str(row['output'])}",
        "    if 'conversations' in row:",
        "        roles = {'human': 'user', 'gpt': 'assistant', 'system': 'system'}",
        "        return {'messages': [{'role': roles.get(t['from'], t['from']), 'content': t['value']} for t in row['conversations']]}",
        "    if 'messages' in row:",
        "        return {'messages': row['messages']}",
        "    if 'prompt' in row:",
        "        return {'prompt': row['prompt'], 'completion': row['completion']}",
        "    return {'text': row['text']}",
        "",
        "",
        "def load(path):",
        '    """Load a local data file, or a Hub dataset id."""',
        "    kind = {'jsonl': 'json', 'json': 'json', 'csv': 'csv', 'parquet': 'parquet'}.get(path.rsplit('.', 1)[-1])",
        f"    table = load_dataset(kind, data_files=path, split='train') if kind else load_dataset(path, split={ds.split!r})",
        "    return table.map(to_row, remove_columns=table.column_names)",
        "",
        "",
        "train = load(DATA_FILE)",
        "evaluation = load(EVAL_FILE) if EVAL_FILE else None",
        "if EVAL_SPLIT:",
        f"    parts = train.train_test_split(test_size=EVAL_SPLIT, seed={ds.seed})",
        "    train, evaluation = parts['train'], parts['test']",
        "",
        f"tokenizer = AutoTokenizer.from_pretrained(MODEL, trust_remote_code={config.model.trust_remote_code})",
        "if tokenizer.pad_token is None:",
        "    tokenizer.pad_token = tokenizer.eos_token",
        f"quantization = BitsAndBytesConfig(**{_py(quant)}) if {bool(quant)} else None",
        "if quantization is not None and isinstance(quantization.bnb_4bit_compute_dtype, str):",
        "    quantization.bnb_4bit_compute_dtype = getattr(torch, quantization.bnb_4bit_compute_dtype)",
        "model = AutoModelForCausalLM.from_pretrained(",
        "    MODEL,",
        "    dtype=DTYPE,",
        f"    trust_remote_code={config.model.trust_remote_code},",
        *([f"    attn_implementation={config.model.attn_implementation!r},"] if config.model.attn_implementation else []),
        "    quantization_config=quantization,",
        "    device_map={'': 0} if quantization is not None else None,",
        ")",
        "",
        f"args = SFTConfig(**{_py(training)})",
        f"peft_config = LoraConfig(**{_py(lora)})" if lora else "peft_config = None  # full fine-tuning",
        "trainer = SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=evaluation,",
        "                     processing_class=tokenizer, peft_config=peft_config)",
        "trainer.train()",
        f"trainer.save_model({config.output_dir + '/final'!r})",
        f"tokenizer.save_pretrained({config.output_dir + '/final'!r})",
        "",
    ]
    return "\n".join(lines)
