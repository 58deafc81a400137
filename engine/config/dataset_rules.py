"""Rules of the dataset section: each source readable as given, and a mixture whose shares can be met."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from engine.config.templates import ALPACA_TEMPLATES
from engine.problems import Problem

if TYPE_CHECKING:
    from engine.config.run_config import DatasetSection


def dataset_problems(dataset: "DatasetSection", source: str) -> list[Problem]:
    """Problems of every training and evaluation source, and of how the sources are mixed."""
    problems = _mixture_problems(dataset, source)
    for key, sources in (("sources", dataset.sources), ("eval_sources", dataset.eval_sources)):
        for index, each in enumerate(sources):
            problems += source_problems(each, f"dataset.{key}[{index}]", source)
    if not dataset.is_mixture:
        problems += source_problems(dataset, "dataset", source)
    return problems


def source_problems(section: "DatasetSection", where: str, source: str) -> list[Problem]:
    """An empty path, a template that does not fit the format, a bad share, or chat settings that say nothing."""
    problems: list[Problem] = []
    if not section.path:
        problems.append(Problem(f"{where}.path is empty;", (f"{where}.path",),
                                "give a JSON/JSONL/CSV/Parquet file or a Hub dataset id.", source))
    fmt, template = section.format, section.template
    if template in ALPACA_TEMPLATES and fmt in ("chat", "sharegpt", "text", "input-output"):
        problems.append(Problem(f"{where}.template = {template!r} formats instruction data, but {where}.format is "
                                f"{fmt!r};", (f"{where}.template", f"{where}.format"),
                                "use template chat-template (or auto).", source))
    if template == "chat-template" and fmt in ("alpaca", "text", "prompt-completion", "input-output"):
        problems.append(Problem(f"{where}.template = chat-template needs chat or sharegpt data, but {where}.format is "
                                f"{fmt!r}.", (f"{where}.template", f"{where}.format"), source=source))
    for key, top in (("share", None), ("mixture_share", 1.0), ("probability", 1.0)):
        value = getattr(section, key)
        if value is not None and not (0 < value and (top is None or value <= top)):
            bound = "above 0" if top is None else f"above 0 and at most {top:g}"
            problems.append(Problem(f"{where}.{key} = {value!r} must be {bound}.", (f"{where}.{key}",), source=source))
    if section.share is not None and section.mixture_share is not None:
        problems.append(Problem(f"{where} sets share (of its rows) and mixture_share (of the mixture);",
                                (f"{where}.share", f"{where}.mixture_share"), "give one.", source))
    return problems + _chat_turn_problems(section, where, source)


def _chat_turn_problems(section: "DatasetSection", where: str, source: str) -> list[Problem]:
    """roles_to_train, message_keys and roles that cannot say anything about chat turns."""
    problems: list[Problem] = []
    trained = section.roles_to_train
    if not trained or not all(isinstance(role, str) and role for role in trained):
        problems.append(Problem(f"{where}.roles_to_train = {trained!r}:", (f"{where}.roles_to_train",),
                                "give the roles whose turns are learned, e.g. [assistant] or [user, assistant].", source))
    unknown = sorted(set(section.message_keys) - {"role", "content"})
    if unknown:
        problems.append(Problem(f"{where}.message_keys maps {', '.join(unknown)}; it maps role and content only,",
                                (f"{where}.message_keys",), "e.g. {role: from, content: value}.", source))
    return problems


def _mixture_problems(dataset: "DatasetSection", source: str) -> list[Problem]:
    """Per-source keys beside dataset.sources, token shares given for some sources only, or shares that do not fit the mix."""
    from engine.config.run_config import MIXTURE_KEYS, DatasetSection

    problems: list[Problem] = []
    defaults = DatasetSection()
    if dataset.is_mixture:
        beside = [f.name for f in dataclasses.fields(dataset)
                  if f.name not in MIXTURE_KEYS and getattr(dataset, f.name) != getattr(defaults, f.name)]
        if beside:
            problems.append(Problem(f"dataset.{', dataset.'.join(beside)} set beside dataset.sources: with several "
                                    "sources each one has its own;", tuple(f"dataset.{key}" for key in beside),
                                    "move them into the sources they belong to.", source))
        if dataset.eval_path:
            problems.append(Problem("dataset.eval_path beside dataset.sources: it would not say which source's "
                                    "format and columns it has;", ("dataset.eval_path",),
                                    "give it as dataset.eval_sources: [{path: ..., format: ...}].", source))
    for key, sources in (("sources", dataset.training_sources()), ("eval_sources", dataset.eval_sources)):
        given = [each.mixture_share is not None for each in sources]
        if any(given) and not all(given):
            problems.append(Problem(f"dataset.{key}: mixture_share is given for some sources and not others;",
                                    (f"dataset.{key}",), "give it for every source (shares of the mixture) "
                                    "or use share (of each source's rows).", source))
    interleaved = dataset.mix == "interleave"
    if interleaved and any(each.mixture_share is not None for each in dataset.training_sources()):
        problems.append(Problem("dataset.mix interleave picks rows by probability, not by mixture_share;",
                                ("dataset.mix",), "use mix: concatenate with mixture_share, or probability per source.",
                                source))
    chances = [each.probability is not None for each in dataset.training_sources()]
    if interleaved and any(chances) and not all(chances):
        problems.append(Problem("dataset.sources: probability is given for some sources and not others;",
                                ("dataset.sources",), "give it for every source, or for none (equal chances).", source))
    if not interleaved and any(each.probability is not None for each in dataset.training_sources()):
        problems.append(Problem("a source's probability applies to dataset.mix: interleave, and mix is concatenate;",
                                ("dataset.mix",), "set dataset.mix: interleave, or use share per source.", source))
    return problems
