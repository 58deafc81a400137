"""The run configuration: one object read from a preset's YAML, validated, and written back.

`training`, `lora` and `quantization` hold keyword arguments of SFTConfig, LoraConfig and
BitsAndBytesConfig verbatim; their names and types come from those classes (engine.config.schema).
`model` and `dataset` are sft-wizard's own sections, defined here.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.config.schema import FieldSpec, dataclass_specs, schema
from engine.config.templates import ALPACA_TEMPLATES
from engine.yamlio import YamlMapping, dump_yaml

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

DATASET_FORMATS = ("auto", "alpaca", "chat", "sharegpt", "text", "prompt-completion", "input-output")
TEMPLATES = ("auto", *ALPACA_TEMPLATES, "chat-template", "none")
DTYPES = ("auto", "bfloat16", "float16", "float32")
STRATEGIES = ("ddp", "fsdp", "zero3")
END_OF_TURN_LEARNING = ("turn", "all", "last", "none")
MIXES = ("concatenate", "interleave")
STOPPING_STRATEGIES = ("first_exhausted", "all_exhausted")
SHARE_MEASURES = ("tokens", "rows")
KERNEL_CHOICES = ("auto", "true", "false")


@dataclass
class ModelSection:
    """Which model to fine-tune and how to load it."""

    name_or_path: str = field(default="tiny-demo", metadata={"help": "A Hub id, a local directory, or tiny-demo."})
    dtype: str = field(default="auto", metadata={"help": "Weights dtype: auto (from the GPU), bfloat16, float16 or float32."})
    attn_implementation: str | None = field(default=None, metadata={"help": "sdpa, eager or flash_attention_2; empty for the model's default."})
    use_kernels: str | bool = field(default="auto", metadata={"help": "Hub kernels (compiled code from the Hub): auto (only where cached, or downloadable from a trusted publisher), true or false."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Run code shipped with the model (off unless you trust it)."})
    revision: str | None = field(default=None, metadata={"help": "A branch, tag or commit of a Hub model."})

    def __post_init__(self) -> None:
        if isinstance(self.use_kernels, bool):  # YAML and --set read true/false as booleans
            self.use_kernels = str(self.use_kernels).lower()


@dataclass
class DatasetSection:
    """Where the training data is and how it becomes text."""

    path: str = field(default="", metadata={"help": "A local JSON, JSONL, CSV or Parquet file, or a Hub dataset id."})
    format: str = field(default="auto", metadata={"help": "alpaca, chat, sharegpt, text, prompt-completion, input-output (Axolotl segments), or auto to detect."})
    template: str = field(default="auto", metadata={"help": "alpaca, alpaca-zh, alpaca-preamble (Axolotl's), chat-template, none, or auto to pick from the format."})
    eval_split: float | None = field(default=None, metadata={"help": "Share of rows held out for evaluation (0 < x < 1; 0 for none)."})
    eval_path: str | None = field(default=None, metadata={"help": "A separate evaluation file, instead of eval_split."})
    columns: dict = field(default_factory=dict, metadata={"help": "Column mapping, e.g. {instruction: question, output: answer}."})
    split: str = field(default="train", metadata={"help": "The split to read from a Hub dataset."})
    subset: str | None = field(default=None, metadata={"help": "The configuration name of a Hub dataset."})
    data_files: str | list | None = field(default=None, metadata={
        "help": "Files inside the Hub dataset (or local folder) of dataset.path to read, e.g. data/train.jsonl."})
    max_rows: int | None = field(default=None, metadata={"help": "Use at most this many training rows."})
    seed: int = field(default=42, metadata={"help": "Seed of the train/eval split."})
    message_keys: dict = field(default_factory=dict, metadata={
        "help": "Chat data whose messages keep role and content under other keys: ours -> the data's, "
                "e.g. {role: from, content: value}."})
    roles: dict = field(default_factory=dict, metadata={
        "help": "Chat data whose roles have other names: ours -> the data's names, e.g. {user: [human], assistant: [gpt]}."})
    roles_to_train: list = field(default_factory=lambda: ["assistant"], metadata={
        "help": "Chat data: the roles whose turns are learned (Axolotl's roles_to_train); an assistant turn is learned "
                "from after its header, another role's turn whole. training.assistant_only_loss: false learns every token."})
    train_on_eos: str = field(default="turn", metadata={
        "help": "Chat data: which end-of-turn tokens are learned (Axolotl's train_on_eos): turn (each learned turn's), "
                "last (only the last learned turn's), all (every turn's, learned or not), none."})
    share: float | None = field(default=None, metadata={
        "help": "How many of this source's rows are trained: a fraction (0.5: half, picked with dataset.seed) or a "
                "multiple (2.0: every row twice); empty for all of them once."})
    mixture_share: float | None = field(default=None, metadata={
        "help": "This source's share of the mixture (0 < x <= 1; all sources' shares scaled to sum to 1), counted in "
                "dataset.mixture_share_of (tokens or rows): rows are picked with dataset.seed until it holds that "
                "share, the mixture as large as no source repeating a row allows. Give it for every source or none."})
    probability: float | None = field(default=None, metadata={
        "help": "dataset.mix interleave: the chance that the next row comes from this source (datasets' "
                "interleave_datasets); empty for equal chances."})
    sources: list = field(default_factory=list, metadata={
        "help": "Several training sources mixed, each a mapping of the per-source keys (path, format, template, "
                "columns, split, subset, data_files, message_keys, roles, roles_to_train, train_on_eos, max_rows, "
                "share or mixture_share, probability); a one-source preset gives path instead."})
    eval_sources: list = field(default_factory=list, metadata={
        "help": "Evaluation sources, each a mapping like a training source; instead of eval_split or eval_path."})
    mixture_share_of: str = field(default="tokens", metadata={
        "help": "What the sources' mixture_share counts: tokens (as trained, cut to max_length) or rows."})
    mix: str = field(default="concatenate", metadata={
        "help": "How sources are mixed: concatenate (each source's rows after its share; the trainer shuffles) or "
                "interleave (row by row, each source with its probability; datasets' interleave_datasets)."})
    stopping_strategy: str = field(default="first_exhausted", metadata={
        "help": "dataset.mix interleave: stop when the first source runs out (first_exhausted) or when every source "
                "has given all its rows, the others repeating (all_exhausted)."})

    place = "dataset"
    """Where the section's own keys are in the preset: dataset, or dataset.sources[1] for a source of a mixture."""

    def key(self, name: str) -> str:
        """The preset key of one of this section's settings, as messages name it: dataset.sources[1].format."""
        return f"{self.place}.{name}"

    def training_sources(self) -> list["DatasetSection"]:
        """The sources mixed for training: dataset.sources, or this section itself when it names one source."""
        return _placed(self.sources, "dataset.sources") or [self]

    def evaluation_sources(self) -> list["DatasetSection"]:
        """The evaluation sources: dataset.eval_sources, or eval_path read with the (one) source's settings."""
        if self.eval_sources:
            return _placed(self.eval_sources, "dataset.eval_sources")
        if self.eval_path:
            return [dataclasses.replace(self, path=self.eval_path, eval_path=None, data_files=None, max_rows=None,
                                        share=None, mixture_share=None, probability=None)]
        return []

    @property
    def is_mixture(self) -> bool:
        """Whether the preset lists its sources (dataset.sources) rather than naming one path."""
        return bool(self.sources)


def _placed(sources: list[DatasetSection], key: str) -> list[DatasetSection]:
    """The sources, each told its place in the preset (dataset.sources[1]) for the messages that name its keys."""
    for index, source in enumerate(sources):
        source.place = f"{key}[{index}]"
    return list(sources)


@dataclass
class DistributedSection:
    """How many data-parallel processes train, and how they share the model (through accelerate)."""

    processes: int = field(default=1, metadata={"help": "Data-parallel processes: GPUs, or CPU processes without a GPU; 1 trains in this process."})
    strategy: str = field(default="ddp", metadata={"help": "ddp (a full copy per GPU), fsdp (sharded, PyTorch FSDP) or zero3 (sharded, DeepSpeed)."})
    fsdp_version: int = field(default=2, metadata={"help": "FSDP 1 or 2; QLoRA under FSDP needs 1."})
    cpu_ram_efficient_loading: bool = field(default=True, metadata={"help": "FSDP/ZeRO-3: only rank 0 reads the weights, the others receive them."})
    offload: bool = field(default=False, metadata={"help": "FSDP/ZeRO-3: keep parameters and optimizer states in CPU memory (slower, less GPU memory)."})
    main_process_port: int | None = field(default=None, metadata={"help": "Rendezvous port of rank 0; empty for a free one (one machine) or 29500."})

    @property
    def active(self) -> bool:
        """Whether the run is launched as several processes."""
        return self.processes > 1


@dataclass
class RunConfig:
    """Everything one fine-tuning run needs; what the wizard edits and presets store."""

    name: str = "untitled"
    description: str = ""
    model: ModelSection = field(default_factory=ModelSection)
    quantization: dict | None = None
    lora: dict | None = field(default_factory=lambda: {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"})
    dataset: DatasetSection = field(default_factory=DatasetSection)
    training: dict = field(default_factory=dict)
    distributed: DistributedSection = field(default_factory=DistributedSection)
    optimized: dict | None = None
    """What `sft-wizard optimize` changed: {from: the original preset, changes: [...]}; None otherwise."""

    def to_dict(self) -> YamlMapping:
        """The config as plain data in preset order, sections of own fields without defaults."""
        model = _non_default(self.model, keep=("name_or_path", "dtype"))
        if model.get("use_kernels") in ("true", "false"):  # written back as YAML booleans
            model["use_kernels"] = model["use_kernels"] == "true"
        data: YamlMapping = {
            "name": self.name,
            "description": self.description,
            "model": model,
            "quantization": copy.deepcopy(self.quantization),
            "lora": copy.deepcopy(self.lora),
            "dataset": dataset_dict(self.dataset),
            "training": copy.deepcopy(self.training),
        }
        distributed = _non_default(self.distributed, keep=())
        if distributed:
            data["distributed"] = distributed
        if self.optimized is not None:
            data["optimized"] = copy.deepcopy(self.optimized)
        return data

    def to_yaml(self, width: int = 100) -> str:
        """The config as preset YAML (long text folded at width)."""
        return dump_yaml(self.to_dict(), width)

    def copy(self) -> "RunConfig":
        """A deep copy, for edits that must not touch the original."""
        return copy.deepcopy(self)

    @property
    def output_dir(self) -> str:
        """The run directory: training.output_dir, or runs/NAME."""
        return str(self.training.get("output_dir") or f"runs/{self.name}")

    def training_value(self, key: str) -> Any:
        """A training setting as it will be used: the preset's value or SFTConfig's default.

        Left untyped: the value's type depends on the key (a batch size, a rate, a schedule's name), and callers ask
        for settings whose type the schema has checked.
        """
        if key in self.training:
            return self.training[key]
        spec = schema()["training"].get(key)
        return spec.default if spec else None


def _non_default(section: "DataclassInstance", keep: tuple[str, ...]) -> dict[str, object]:
    """A section's fields that differ from their defaults (and those in `keep`), copied (a dataset's sources as
    DatasetSections, which dataset_dict replaces by their data)."""
    out = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        if f.name in keep or value != default:
            out[f.name] = copy.deepcopy(value)
    return out


MIXTURE_KEYS = ("sources", "eval_sources", "seed", "eval_split", "eval_path", "mix", "stopping_strategy",
                "mixture_share_of")
"""dataset keys of the whole mixture; the others belong to each source."""


def dataset_dict(dataset: DatasetSection) -> YamlMapping:
    """The dataset section as preset data: one source as its keys, several as `sources:` beside the mixture's keys."""
    if not dataset.is_mixture:
        data = _non_default(dataset, keep=("path", "format", "template"))
    else:
        data = {"sources": [source_dict(source) for source in dataset.sources]}
        data.update({key: value for key, value in _non_default(dataset, keep=()).items()
                     if key in MIXTURE_KEYS and key != "sources"})
    if dataset.eval_sources:
        data["eval_sources"] = [source_dict(source) for source in dataset.eval_sources]
    return data


def source_dict(source: DatasetSection) -> YamlMapping:
    """One source as preset data: its own keys that differ from the defaults, path and format always."""
    return {key: value for key, value in _non_default(source, keep=("path", "format")).items()
            if key not in MIXTURE_KEYS}


def own_specs() -> dict[str, dict[str, FieldSpec]]:
    """Specs of sft-wizard's own sections, in the same form as the library ones."""
    out = {}
    for section, cls in (("model", ModelSection), ("dataset", DatasetSection), ("distributed", DistributedSection)):
        out[section] = {name: FieldSpec(name=name, kinds=tuple(s["kinds"]), choices=tuple(s["choices"]), default=s["default"], help=s["help"])
                        for name, s in dataclass_specs(cls).items()}
    out["model"]["dtype"] = dataclasses.replace(out["model"]["dtype"], choices=DTYPES)
    out["model"]["use_kernels"] = dataclasses.replace(out["model"]["use_kernels"], choices=KERNEL_CHOICES)
    out["dataset"]["format"] = dataclasses.replace(out["dataset"]["format"], choices=DATASET_FORMATS)
    out["dataset"]["template"] = dataclasses.replace(out["dataset"]["template"], choices=TEMPLATES)
    out["dataset"]["train_on_eos"] = dataclasses.replace(out["dataset"]["train_on_eos"], choices=END_OF_TURN_LEARNING)
    out["dataset"]["mix"] = dataclasses.replace(out["dataset"]["mix"], choices=MIXES)
    out["dataset"]["mixture_share_of"] = dataclasses.replace(out["dataset"]["mixture_share_of"], choices=SHARE_MEASURES)
    out["dataset"]["stopping_strategy"] = dataclasses.replace(out["dataset"]["stopping_strategy"], choices=STOPPING_STRATEGIES)
    out["distributed"]["strategy"] = dataclasses.replace(out["distributed"]["strategy"], choices=STRATEGIES)
    return out


def all_specs() -> dict[str, dict[str, FieldSpec]]:
    """Field specs of every section of a preset."""
    return {**own_specs(), **schema()}
