"""What a LLaMA-Factory, Axolotl or TRL config does when it is not supervised fine-tuning, told by the tool's own keys."""

from __future__ import annotations

from engine.importing.trainer_keys import other_trainers

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


def not_sft(kind: str, config: dict) -> str | None:
    """What the config trains or does instead of SFT, naming the keys that say so; None for an SFT training config."""
    config = {key: value for key, value in config.items() if value is not None}
    if kind == "llama-factory":
        return _llama_factory(config)
    if kind == "axolotl":
        return _axolotl(config)
    if kind == "trl":
        return _trl(config)
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
