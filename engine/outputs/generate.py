"""Trying a finished run: generate from the base model and the fine-tuned one, same prompt format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from engine.errors import UserError

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from engine.config.run_config import RunConfig
    from engine.models.loading import LoadKwargs

GeneratingModel: TypeAlias = "PreTrainedModel | PeftModel"
"""A run's model as generation and evaluation load it: the full model, or the base with its adapter."""


@dataclass
class Generator:
    """A loaded fine-tuned model (and its base) ready to answer prompts in the run's template."""

    model: GeneratingModel
    tokenizer: "PreTrainedTokenizerBase"
    template: str
    fmt: str
    is_peft: bool
    note: str = ""
    """One line saying where and how the model generates (GPU or CPU, dtype, quantization), for the caller to print."""

    def format_prompt(self, prompt: str) -> str:
        """The prompt as the run's template rendered its training rows (the part before the answer)."""
        return run_prompt(self.tokenizer, self.fmt, self.template, prompt)

    def answer(self, prompt: str, base: bool = False, max_new_tokens: int = 48) -> str:
        """Greedy answer of the fine-tuned model (or of the base model with the adapter off)."""
        return self.decode(self.greedy_ids(prompt, base, max_new_tokens)[1])

    def greedy_ids(self, prompt: str, base: bool = False, max_new_tokens: int = 48) -> tuple[list[int], list[int]]:
        """The formatted prompt's token ids and the greedy answer's token ids (fine-tuned, or base with the adapter off)."""
        import torch

        text = self.format_prompt(prompt)
        inputs = self.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(self.model.device)
        kwargs = {"max_new_tokens": max_new_tokens, "do_sample": False, "pad_token_id": self.tokenizer.pad_token_id}
        with torch.no_grad():
            if base and self.is_peft:
                with self.model.disable_adapter():
                    output = self.model.generate(**inputs, **kwargs)
            else:
                output = self.model.generate(**inputs, **kwargs)
        prompt_ids = inputs["input_ids"][0].tolist()
        return prompt_ids, output[0][len(prompt_ids):].tolist()

    def decode(self, ids: list[int]) -> str:
        """Answer token ids as text, special tokens left out."""
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()


def run_prompt(tokenizer: "PreTrainedTokenizerBase", fmt: str, template: str, prompt: str) -> str:
    """A user prompt as a run of this data format and template trained on it: the text before the answer."""
    from engine.data.source.convert import to_training_row

    if fmt in ("chat", "sharegpt"):
        return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
    if fmt == "alpaca":
        return to_training_row({"instruction": prompt, "input": "", "output": ""}, "alpaca", template)["prompt"]
    return prompt


def load_generator(run_dir: str) -> Generator:
    """Load a run's final/ (adapter or full model) with its tokenizer and template, on the GPU when there is one."""
    from engine.libraries import quiet_libraries
    from engine.record.rundir import FINAL_DIR, read_run_file, run_config

    root = Path(run_dir)
    final = root / FINAL_DIR
    if not final.is_dir():
        raise UserError(f"{run_dir} has no {FINAL_DIR}/ folder: the run has not finished or saved yet.")
    record = read_run_file(root)
    data = record.get("data") or {}
    config = run_config(root)
    quiet_libraries()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engine.models.kernels import decide_model_kernels

    placement = generation_placement(config, (record.get("precision") or {}).get("dtype"))
    kernels = decide_model_kernels(config.model, training=False)
    placement.load_kwargs["use_kernels"] = kernels.enabled
    if kernels.note:
        placement.note += f"; {kernels.note}"
    tokenizer = AutoTokenizer.from_pretrained(final)
    is_peft = (final / "adapter_config.json").is_file()
    if is_peft:
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(final, **placement.load_kwargs)
    else:
        model = AutoModelForCausalLM.from_pretrained(final, **placement.load_kwargs)
    model.eval()
    first = config.dataset.training_sources()[0]  # a mixture's model is prompted as its first source was trained
    template, fmt = (str(data.get(key, getattr(first, key))).split(" + ")[0] for key in ("template", "format"))
    return Generator(model, tokenizer, template, fmt, is_peft, placement.note)


@dataclass
class Placement:
    """Where a run's model generates: from_pretrained keyword arguments (device map, dtype, quantization) and a note."""

    load_kwargs: "LoadKwargs"
    note: str


def generation_placement(config: "RunConfig", trained_dtype: str | None) -> Placement:
    """The first CUDA device in 16-bit (quantized as trained) when torch sees one, else the CPU in fp32."""
    import torch

    if torch.cuda.is_available():
        return _cuda_placement(config, trained_dtype)
    return _cpu_placement(config)


def _cuda_placement(config: "RunConfig", trained_dtype: str | None) -> Placement:
    """cuda:0 in the run's 16-bit dtype (bf16 where supported, else fp16), the base quantized as in training."""
    import torch

    from engine.machine.precision import PrecisionDecision
    from engine.models.loading import quantization_config, torch_dtype

    dtype = "float16" if trained_dtype == "float16" or not torch.cuda.is_bf16_supported() else "bfloat16"
    precision = PrecisionDecision(dtype, "fp16" if dtype == "float16" else "bf16", False, "generation on the GPU")
    kwargs: LoadKwargs = {"dtype": torch_dtype(dtype), "device_map": {"": 0}}
    note = f"generating on cuda:0 ({torch.cuda.get_device_name(0)}) in {dtype}"
    bnb = quantization_config(config.quantization, precision)
    if bnb is not None:
        kwargs["quantization_config"] = bnb
        note += f", the base model {_bits(config.quantization)}-bit as trained"
    return Placement(kwargs, note)


def _cpu_placement(config: "RunConfig") -> Placement:
    """The CPU in fp32, without quantization (bitsandbytes' 4/8-bit layers are meant for CUDA)."""
    import torch

    note = "no CUDA GPU: generating on the CPU in float32"
    if config.quantization:
        note += f", without the run's {_bits(config.quantization)}-bit quantization"
    return Placement({"dtype": torch.float32}, note)


def _bits(quantization: dict) -> int:
    """4 or 8: the bit width a quantization section loads the base model in."""
    return 8 if quantization.get("load_in_8bit") else 4
