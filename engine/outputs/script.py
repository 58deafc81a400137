"""A standalone Python script that reproduces a run with TRL directly (export-script).

The script's row conversion and labelling are the engine's own code (engine/data/source/ and
engine/data/label/rows.py), copied in with inspect.getsource, so the script trains on exactly the tokens and
loss mask `sft-wizard train` does.
"""

from __future__ import annotations

import inspect
import textwrap
from typing import TYPE_CHECKING

from engine.config.resolve import asked_mixed_precision, lora_kwargs, resolve_precision, sft_kwargs
from engine.data.label import rows as labels
from engine.data.label import turn_masks
from engine.data.label.learning import loss_training_values
from engine.data.source import convert, formats, normalise
from engine.data.source import map as column_map
from engine.machine.precision import dtype_and_mixed
from engine.models import kernel_rule
from engine.models.kernels import normalized_choice
from engine.run.trainer import trainable_in_fp32

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.machine.hardware import HardwareReport
    from engine.machine.precision import PrecisionDecision

CONVERSION_CONSTANTS = {"ALPACA_TEMPLATES": convert.ALPACA_TEMPLATES, "FORMAT_COLUMNS": formats.FORMAT_COLUMNS,
                        "TURN_FLAGS": formats.TURN_FLAGS, "_SHAREGPT_ROLES": convert._SHAREGPT_ROLES,
                        "USUAL_PAIRS": normalise.USUAL_PAIRS, "USUAL_PASSAGES": normalise.USUAL_PASSAGES}
"""The constants of engine.data.source that the copied conversion functions read."""
CONVERSION_FUNCTIONS = (formats.detect_format, normalise.usual_pair, column_map.column_renames, column_map.rename_columns,
                        formats.resolve_template, convert.chat_features, convert.to_training_row, convert.alpaca_prompt,
                        convert.text_of, convert.without_nulls, convert.tool_call, convert.chat_message,
                        convert.sharegpt_messages, convert.tools_json, normalise.is_message_table,
                        normalise.top_ranked_conversations, column_map.role_names,
                        column_map.renamed_message, column_map.renamed_messages)
"""The engine functions that turn a loaded table into rows SFTTrainer trains on."""
LABEL_FUNCTIONS = (turn_masks.TurnMarksError, turn_masks.has_turn_flags, turn_masks.mask_runs, turn_masks.covered, turn_masks.trained_spans,
                   turn_masks.flagged_mask, turn_masks.content_places, convert.tools_of, labels.marked_chat_template,
                   labels.label_settings, labels._chat_ids, labels._common_start, labels.turn_spans,
                   labels.assistant_spans_by_turns, labels._end_of_turn, labels.turns_mask,
                   labels.row_labels, labels.truncated_row, labels.labelled_rows)
"""The engine functions that turn rows into input_ids and labels: what the model reads and learns."""
DEVICE_FUNCTIONS = (dtype_and_mixed, trainable_in_fp32)
"""The engine functions that decide precision on the machine the script runs on and keep fp16 AMP working."""
DECIDED_WHERE_IT_RUNS = ("bf16", "fp16", "tf32", "use_cpu")
"""SFTConfig fields the script sets for the machine it runs on, not the one it was exported on."""


class _Source(str):
    """Python source that _py writes as it is, not as a string literal."""

    def __repr__(self) -> str:
        return str(self)


def _py(value: object, indent: str = "") -> str:
    """A value as Python source: a non-empty dict one entry a line, anything else as its repr."""
    if not isinstance(value, dict) or not value:
        return repr(value)
    inner = indent + "    "
    entries = "".join(f"{inner}{key!r}: {_py(item, inner)},\n" for key, item in value.items())
    return f"{{\n{entries}{indent}}}"


def conversion_source() -> str:
    """The engine's row conversion code (its constants and functions) as module-level Python."""
    constants = "\n".join(f"{name} = {_py(value)}" for name, value in CONVERSION_CONSTANTS.items())
    constants += f"\nTREE_ROLES = {_py(normalise.TREE_ROLES)}\nIGNORED = {labels.IGNORED!r}"
    functions = "\n\n".join(inspect.getsource(function) for function in CONVERSION_FUNCTIONS + LABEL_FUNCTIONS)
    return f"{constants}\n\n\n{functions}"


def export_script(config: "RunConfig", hardware: "HardwareReport") -> str:
    """Python source that trains the same run without sft-wizard; UserError for a mixture of sources."""
    if config.dataset.is_mixture or config.dataset.eval_sources:
        from engine.errors import UserError

        raise UserError(f"export-script writes a script that reads one data file, and this preset mixes "
                        f"{len(config.dataset.sources)} sources (dataset.sources / eval_sources); train it with "
                        "`sft-wizard train`, or export a preset of one source.")
    precision, _ = resolve_precision(config, hardware)
    sections = [_header(config, precision), _conversion(), _device(), _kernels(config), _loading(config),
                _main(config, hardware, precision), 'if __name__ == "__main__":\n    main()\n']
    return "\n\n".join(sections)


def _header(config: "RunConfig", precision: "PrecisionDecision") -> str:
    """The docstring, the imports and the settings of the run."""
    from engine.models.hub import model_location

    ds = config.dataset
    return "\n".join([
        "#!/usr/bin/env python3",
        f'"""Fine-tune {config.name} with TRL directly; exported by `sft-wizard export-script`.',
        "",
        "Run it to train; importing it only defines the settings and the data conversion.",
        '"""',
        "",
        "import torch",
        "from datasets import Dataset, load_dataset",
        "from peft import LoraConfig",
        "from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig",
        "from trl import SFTConfig, SFTTrainer",
        "",
        f"MODEL = {model_location(config.model, build=False)!r}",
        f"DATA_FILE = {ds.path!r}",
        *([f"DATA_FILES = {ds.data_files!r}  # files inside the Hub dataset or folder DATA_FILE"] if ds.data_files else []),
        f"EVAL_FILE = {ds.eval_path!r}",
        f"EVAL_SPLIT = {ds.eval_split!r}",
        f"FORMAT = {ds.format!r}  # alpaca, chat, sharegpt, text, prompt-completion, input-output, or auto to detect",
        f"TEMPLATE = {ds.template!r}  # alpaca, alpaca-zh, alpaca-preamble, chat-template, none, or auto to pick from the format",
        f"COLUMNS = {dict(ds.columns or {})!r}  # our name -> the data's column name",
        f"MESSAGE_KEYS = {dict(ds.message_keys or {})!r}  # chat messages: our key (role, content) -> the data's",
        f"ROLES = {dict(ds.roles or {})!r}  # chat messages: our role -> the data's role name(s)",
        "# Precision is decided where the script runs (bf16 on compute capability 8.0+, fp16 before, fp32",
        f"# on CPU); here it was: {precision.reason}",
        f"ASKED_MIXED = {asked_mixed_precision(config)!r}  # bf16, fp16 or no to force one; None: the GPU decides",
        f"WEIGHTS_DTYPE = {config.model.dtype!r}  # auto, or bfloat16 / float16 / float32",
        f"ASKED_TF32 = {config.training.get('tf32')!r}  # None: on from compute capability 8.0",
        f"FULL_FINE_TUNING = {config.lora is None}",
        f"USE_KERNELS = {normalized_choice(config.model.use_kernels)!r}  # Hub kernels: auto (only where cached, or "
        "downloadable from a trusted publisher), true or false",
        "# What the model learns (None: chat rows learn the assistant turns, prompt/completion rows the completion)",
        f"LOSS = {_py(loss_training_values(config))}",
        "",
    ])


def _conversion() -> str:
    """The engine's conversion code, then the function that applies it to a whole table."""
    return f'''# Row conversion: sft-wizard's own code ({convert.__package__}), copied in unchanged.

{conversion_source()}

def to_training_rows(table):
    """Every row of a loaded table in the shape SFTTrainer trains on, converted as sft-wizard does."""
    table = renamed_messages(rename_columns(table, column_renames(COLUMNS)), MESSAGE_KEYS, ROLES)
    if is_message_table(table.column_names):  # one message per row: one conversation per tree, top-ranked replies
        conversations, _, _ = top_ranked_conversations(table.to_list())
        table = Dataset.from_list([{{"messages": messages}} for messages in conversations])
    fmt = detect_format(table.column_names) if FORMAT == "auto" else FORMAT
    if fmt is None and usual_pair(table.column_names):
        table = rename_columns(table, column_renames(usual_pair(table.column_names)))
        fmt = "alpaca"
    if fmt is None:
        raise SystemExit(f"cannot tell the data format from the columns {{table.column_names}}; set FORMAT")
    template = resolve_template(fmt, TEMPLATE)
    return table.map(lambda row: to_training_row(row, fmt, template), remove_columns=table.column_names,
                     features=chat_features(fmt, table))


def labelled(table, tokenizer):
    """The rows as input_ids and labels (-100 where nothing is learned), as sft-wizard labels them."""
    return labelled_rows(table, tokenizer, label_settings(LOSS, "messages" in table.column_names, tokenizer))
'''


def _device() -> str:
    """sft-wizard's precision rule and its fp16 fix, copied in, and the function that applies them here."""
    functions = "\n\n".join(inspect.getsource(function) for function in DEVICE_FUNCTIONS)
    return f'''# Precision: sft-wizard's own code, copied in unchanged.

{functions}

def precision_here():
    """(weights dtype, mixed precision, SFTConfig device fields) for the machine this script runs on."""
    on_gpu = torch.cuda.is_available()
    has_bf16 = torch.cuda.get_device_capability() >= (8, 0) if on_gpu else None
    dtype, mixed = dtype_and_mixed(has_bf16, ASKED_MIXED, WEIGHTS_DTYPE, FULL_FINE_TUNING)
    fields = {{"bf16": mixed == "bf16", "fp16": mixed == "fp16", "use_cpu": not on_gpu}}
    if on_gpu:
        fields["tf32"] = bool(has_bf16) if ASKED_TF32 is None else ASKED_TF32
    return getattr(torch, dtype), mixed, fields
'''


def _kernels(config: "RunConfig") -> str:
    """sft-wizard's Hub-kernels rule, copied in, and the function that applies it to this script's model here."""
    remote = config.model.trust_remote_code
    return f'''# Hub kernels: sft-wizard's own rule ({kernel_rule.__name__}), copied in unchanged.

{inspect.getsource(kernel_rule)}

def use_kernels_here():
    """Whether the model loads with Hub kernels on this machine, as sft-wizard decides for USE_KERNELS."""
    def meta_model():
        config = AutoConfig.from_pretrained(MODEL, trust_remote_code={remote})
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(config, trust_remote_code={remote})

    try:
        decision = decide_kernels(kernel_facts(USE_KERNELS, training_device(), True, meta_model, hub_offline(),
                                               hub_answers))
    except KernelsUnavailable as exc:
        raise SystemExit(f"error: {{exc}}") from None
    print(f"Hub kernels: {{'on' if decision.enabled else 'off'}} ({{decision.reason}})")
    return decision.enabled
'''


def _loading(config: "RunConfig") -> str:
    """The function that loads a data file or Hub dataset and converts it."""
    return f'''def load(path, data_files=None):
    """Load a local data file, or a Hub dataset id (only data_files of it, when given), as rows SFTTrainer trains on."""
    kind = {{"jsonl": "json", "json": "json", "csv": "csv", "parquet": "parquet"}}.get(
        path.removesuffix(".gz").rsplit(".", 1)[-1])  # the datasets loaders read .gz files themselves
    if kind and not data_files:
        table = load_dataset(kind, data_files=path, split="train")
    else:
        table = load_dataset(path, data_files=data_files, split={config.dataset.split!r})
    return to_training_rows(table)
'''


def _main(config: "RunConfig", hardware: "HardwareReport", precision: "PrecisionDecision") -> str:
    """The main() that loads data and model, trains, and saves."""
    return ('def main():\n    """Load the data and the model, train, and save the result."""\n'
            + textwrap.indent(_training(config, hardware, precision), "    "))


def _training(config: "RunConfig", hardware: "HardwareReport", precision: "PrecisionDecision") -> str:
    """The body of main(): data, tokenizer, model, trainer, training and saving."""
    ds = config.dataset
    training = {key: value for key, value in sft_kwargs(config, precision, config.output_dir, False).items()
                if key not in DECIDED_WHERE_IT_RUNS}
    lora = lora_kwargs(config)
    quant = _quantization(config)
    return "\n".join([
        "dtype, mixed, device_fields = precision_here()",
        "print(f'training with {dtype} weights, mixed precision {mixed}, on {\"cuda\" if torch.cuda.is_available() else \"cpu\"}')",
        "use_kernels = use_kernels_here()",
        "train = load(DATA_FILE, DATA_FILES)" if config.dataset.data_files else "train = load(DATA_FILE)",
        "evaluation = load(EVAL_FILE) if EVAL_FILE else None",
        "if EVAL_SPLIT:",
        f"    parts = train.train_test_split(test_size=EVAL_SPLIT, seed={ds.seed})",
        "    train, evaluation = parts['train'], parts['test']",
        "",
        f"tokenizer = AutoTokenizer.from_pretrained(MODEL, trust_remote_code={config.model.trust_remote_code})",
        "if tokenizer.pad_token is None:",
        "    tokenizer.pad_token = tokenizer.eos_token",
        "train = labelled(train, tokenizer)",
        "evaluation = labelled(evaluation, tokenizer) if evaluation is not None else None",
        f"quantization = BitsAndBytesConfig(**{_py(quant)})" if quant else "quantization = None",
        "model = AutoModelForCausalLM.from_pretrained(",
        "    MODEL,",
        "    dtype=dtype,",
        f"    trust_remote_code={config.model.trust_remote_code},",
        "    use_kernels=use_kernels,",
        *([f"    attn_implementation={config.model.attn_implementation!r},"] if config.model.attn_implementation else []),
        "    quantization_config=quantization,",
        "    device_map={'': torch.cuda.current_device()} if quantization is not None and torch.cuda.is_available() else None,",
        ")",
        "",
        f"args = SFTConfig(**{_py(training)}, **device_fields)",
        f"peft_config = LoraConfig(**{_py(lora)})" if lora else "peft_config = None  # full fine-tuning",
        "trainer = SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=evaluation,",
        "                     processing_class=tokenizer, peft_config=peft_config)",
        "if mixed == 'fp16':",
        "    trainable_in_fp32(trainer.model)",
        "trainer.train()",
        f"trainer.save_model({config.output_dir + '/final'!r})",
        f"tokenizer.save_pretrained({config.output_dir + '/final'!r})",
        "",
    ])


def _quantization(config: "RunConfig") -> dict | None:
    """BitsAndBytesConfig's arguments as sft-wizard passes them: torch dtypes, 4-bit layers computing in the run's dtype.

    BitsAndBytesConfig itself takes six dtype names only and computes in float32 when no compute dtype is given.
    """
    if not config.quantization:
        return None
    quant = dict(config.quantization)
    for key in ("bnb_4bit_compute_dtype", "bnb_4bit_quant_storage"):
        if isinstance(quant.get(key), str):
            quant[key] = _Source(f"torch.{quant[key]}")
    if quant.get("load_in_4bit") and quant.get("bnb_4bit_compute_dtype") is None:
        quant["bnb_4bit_compute_dtype"] = _Source("dtype")  # decided where the script runs, by precision_here()
    return quant
