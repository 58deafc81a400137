"""What a LLaMA-Factory, Axolotl or TRL config does when it is not supervised fine-tuning, told by the tool's own keys.

A TRL config whose keys say nothing is told by the `trl` command its comment or file name names, or by its local data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import UserError
from engine.importing.trainer_keys import other_trainers
from engine.yamlio import YamlMapping

if TYPE_CHECKING:
    from engine.config.run_config import DatasetSection

PLAIN_TEXT = "plain text with every token learned: a preset with dataset.format: text trains that"
_STAGES = {"pt": "pre-training", "rm": "reward-model", "ppo": "PPO", "dpo": "DPO", "kto": "KTO"}
"""LLaMA-Factory's stages other than sft and what they train."""
_PREFERENCE_LOSSES = {"orpo": "ORPO", "simpo": "SimPO"}
"""LLaMA-Factory's `pref_loss` values that make `stage: dpo` another method."""
_RL = {"dpo": "DPO", "ipo": "IPO", "orpo": "ORPO", "kto": "KTO", "simpo": "SimPO", "grpo": "GRPO", "gdpo": "GDPO",
       "ebft": "EBFT"}
"""Axolotl's `rl:` trainers (its RLType) and their names."""


def a(what: str) -> str:
    """`what` with its article, acronyms by how their first letter sounds: a DPO, an ORPO, an SDFT, a reward-model."""
    acronym = what[:2].isupper()
    vowel = what[:1] in "AEFHILMNORSX" if acronym else what[:1].lower() in "aeiou"
    return f"{'an' if vowel else 'a'} {what}"


def not_sft(kind: str, config: YamlMapping, path: str = "", text: str = "") -> str | None:
    """What the config trains or does instead of SFT, naming what says so; None for an SFT training config.

    A TRL config is told by its keys, else by the `trl` command its leading comment or its file name names (TRL's
    docs name each command's config file for it: `trl dpo --config dpo_config.yaml`).
    """
    config = {key: value for key, value in config.items() if value is not None}
    if kind == "llama-factory":
        return _llama_factory(config)
    if kind == "axolotl":
        return _axolotl(config)
    if kind == "trl":
        return _trl(config) or _trl_command_named(path, text)
    return None


def _llama_factory(config: dict) -> str | None:
    stage = config.get("stage", "sft")
    if stage == "dpo" and config.get("pref_loss") in _PREFERENCE_LOSSES:
        return f"{a(_PREFERENCE_LOSSES[config['pref_loss']])} config: LLaMA-Factory `stage: dpo` with `pref_loss: {config['pref_loss']}`"
    if stage != "sft":
        what = f"{a(_STAGES[stage])} config" if stage in _STAGES else f"a `stage: {stage}` config"
        return f"{what}: LLaMA-Factory `stage: {stage}`" + (f" ({PLAIN_TEXT})" if stage == "pt" else "")
    if "export_dir" in config:
        return "a merge/export config: LLaMA-Factory `export_dir` (`llamafactory-cli export`), which trains nothing"
    trains = config.get("do_train") is True
    if "infer_backend" in config and not trains:
        return ("an inference config: LLaMA-Factory `infer_backend` without `do_train` (`llamafactory-cli chat`, `api` "
                "or `webchat`), which trains nothing")
    if "task" in config and not trains:
        return (f"an evaluation config: LLaMA-Factory `task: {config['task']}` (`llamafactory-cli eval`), which trains "
                "nothing")
    for key, what in (("do_predict", "a prediction"), ("do_eval", "an evaluation")):
        if config.get(key) is True and not trains:
            return f"{what} config: LLaMA-Factory `{key}: true` without `do_train: true`, which trains nothing"
    if config.get("do_train") is False:
        return "a config that trains nothing: LLaMA-Factory `do_train: false`"
    return None


def _axolotl(config: dict) -> str | None:
    if config.get("rl"):
        what = _RL.get(str(config["rl"]).lower(), f"`rl: {config['rl']}`")
        return f"{a(what)} config: Axolotl `rl: {config['rl']}`"
    for key, what in (("reward_model", "a reward-model"), ("process_reward_model", "a process-reward-model")):
        if config.get(key) is True:
            return f"{what} config: Axolotl `{key}: true`"
    if config.get("pretraining_dataset"):
        return f"a pre-training config: Axolotl `pretraining_dataset` ({PLAIN_TEXT})"
    plugins = config.get("plugins") if isinstance(config.get("plugins"), list) else []
    if "diffusion" in config or any(str(plugin).endswith("DiffusionPlugin") for plugin in plugins):
        return "a diffusion language model config: Axolotl's DiffusionPlugin (`diffusion:`), a masked-diffusion loss"
    return None


def _trl(config: dict) -> str | None:
    trainers = other_trainers()
    foreign = [key for key in config if any(key in trainer["keys"] for trainer in trainers.values())]
    if not foreign:
        return None
    having_all = [name for name, trainer in trainers.items() if all(key in trainer["keys"] for key in foreign)]
    names = having_all or [name for name, trainer in trainers.items() if foreign[0] in trainer["keys"]]
    names = [name for name in names if name.startswith("trl ")] or names
    keys = ", ".join(f"`{key}`" for key in foreign[:4]) + (" …" if len(foreign) > 4 else "")
    verb = "is a setting" if len(foreign) == 1 else "are settings"
    whats = [trainers[name]["what"] for name in names]
    what = f"{a(' or '.join(whats))} config" if len(names) <= 2 else "a config of another TRL trainer"
    listed = ", ".join(_named(name) for name in names[:-1]) + (" and " if len(names) > 1 else "") + _named(names[-1])
    return f"{what}: {keys} {verb} of {listed}, not of `trl sft`"


def _named(name: str) -> str:
    return f"`{name}`" if name.startswith("trl ") else name


_COMMAND_IN_COMMENT = re.compile(r"\btrl\s+([a-z]+)\b|([a-z]+)_config\.ya?ml\b")
"""`trl dpo` or dpo_config.yaml in a comment line."""


def _trl_command_named(path: str, text: str) -> str | None:
    """What the file is when its leading comment, else its file name, names a `trl` command other than sft."""
    commands = {name.removeprefix("trl "): trainer["what"] for name, trainer in other_trainers().items()
                if name.startswith("trl ")}
    for line in _leading_comment(text):
        named = [one or other for one, other in _COMMAND_IN_COMMENT.findall(line.lower())]
        command = _one_command(named, commands)
        if command:
            return _launched(command, commands, f"its comment `{line.strip()}`")
        if "sft" in named:
            return None
    command = _one_command(_last_word(Path(path).stem.lower()), commands)
    return _launched(command, commands, f"its file name {Path(path).name}") if command else None


def _last_word(stem: str) -> list[str]:
    """The word a file name ends on, `config` aside (`qwen_kto_config` gives kto): the name of what it is for."""
    words = [word for word in re.split(r"[^a-z]+", stem) if word]
    if words and words[-1] == "config":
        words.pop()
    return words[-1:]


def _leading_comment(text: str) -> list[str]:
    """The comment lines at the top of a YAML file, before its first setting."""
    lines = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            break
        if line.strip():
            lines.append(line)
    return lines


def _one_command(words: list[str], commands: dict[str, str]) -> str | None:
    """The first other `trl` command among the words; None when there is none or sft is among them."""
    named = [word for word in words if word in commands or word == "sft"]
    return named[0] if named and "sft" not in named else None


def _launched(command: str, commands: dict[str, str], told: str) -> str:
    return (f"{a(commands[command])} config, as {told} says: TRL launches it with "
            f"`trl {command} --config {command}_config.yaml` (an SFT config says so in its first line: `# trl sft`)")


def refuse_other_data(dataset: DatasetSection, path: str) -> None:
    """UserError when a local training source is preference, KTO or media data, refused as engine/data refuses it.

    Only the first rows of each file are read: the import answers at once whatever the data's size.
    """
    from engine.data.source.map import apply_column_mapping
    from engine.data.source.normalise import refuse_unsupported
    from engine.data.source.read import head_table

    for source in dataset.training_sources():
        named = f"{path}: its dataset {source.path}"
        try:
            head = head_table(source.path) if source.path and not source.data_files else None
            if head is None or len(head) == 0:
                continue  # a Hub dataset, a folder, an empty file: `check` reads it
            table = apply_column_mapping(head, source, named)
        except Exception:  # data sft-wizard cannot read (bytes, syntax, a mapping of missing columns): `check` says why
            continue
        try:
            refuse_unsupported(table, named, source.key("columns"))
        except UserError as exc:
            raise UserError(f"{exc} Nothing was written.") from None
