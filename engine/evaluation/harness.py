"""Standard tasks through EleutherAI's lm-evaluation-harness, on a model already loaded (adapter on, or off)."""

from __future__ import annotations

import contextlib
import difflib
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import UserError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from engine.outputs.generate import GeneratingModel


class TaskSet:
    """The tasks asked for, checked to load (names lm-eval knows, or task YAML files), with their TaskManager."""

    def __init__(self, specs: list[str]) -> None:
        from lm_eval.tasks import TaskManager

        folders = sorted({str(Path(spec).resolve().parent) for spec in specs if _is_task_file(spec)})
        self.asked = list(specs)
        self.specs = [str(Path(spec).resolve()) if _is_task_file(spec) else spec for spec in specs]
        self.manager = TaskManager(include_path=folders or None)
        self.names = self._checked_names()

    def _checked_names(self) -> list[str]:
        """The leaf task names, after loading each task's documents once; UserError for an unknown or unreachable task."""
        names = []
        for spec, asked in zip(self.specs, self.asked):
            try:
                loaded = self.manager.load([spec])
            except KeyError:
                raise UserError(_unknown_task(asked, self.manager.all_tasks)) from None
            except Exception as exc:  # the task's data set: datasets raises several kinds when the Hub is out of reach
                raise UserError(_unavailable_task(asked, exc)) from None
            names += list(loaded["tasks"])
        return names


def evaluate_tasks(model: "GeneratingModel", tokenizer: "PreTrainedTokenizerBase", tasks: TaskSet, limit: int | None) -> dict[str, dict[str, float]]:
    """Each task's metrics ({task: {metric: value}}) for `model` as it is now (run it again with the adapter off)."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    logging.getLogger("lm_eval").setLevel(logging.ERROR)  # "pretrained is not a str", "--limit is for testing": said here
    with contextlib.redirect_stderr(io.StringIO()):  # lm-eval's tqdm bars (they take no switch)
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=1)
        results = simple_evaluate(model=lm, tasks=tasks.specs, task_manager=tasks.manager, limit=limit,
                                  log_samples=False, bootstrap_iters=0)
    if results is None:
        return {}
    return {task: _numbers(metrics) for task, metrics in results["results"].items()}


def _numbers(metrics: dict) -> dict[str, float]:
    """A task's metrics keyed as lm-eval names them (`acc,none`: metric and filter), standard errors left out."""
    return {key: float(value) for key, value in metrics.items()
            if "," in key and "_stderr" not in key and isinstance(value, (int, float)) and not isinstance(value, bool)}


def _is_task_file(spec: str) -> bool:
    """Whether a --tasks entry names a task YAML file rather than a task lm-eval knows."""
    return spec.endswith((".yaml", ".yml")) and Path(spec).is_file()


def _unknown_task(name: str, known: list[str]) -> str:
    """The message for a task name lm-eval does not know, with the closest names it does."""
    if name.endswith((".yaml", ".yml")):
        return f"--tasks {name}: no such task file."
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return (f"--tasks {name}: lm-eval has no task of that name.{hint} `lm-eval ls tasks` lists them; a task of your "
            f"own is a YAML file (give its path).")


def _unavailable_task(name: str, exc: Exception) -> str:
    """The message for a task whose documents could not be loaded (offline, not in the Hub cache)."""
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return (f"--tasks {name}: its documents could not be loaded ({type(exc).__name__}: {first}). A task named from "
            f"the Hub runs where the Hub or its cache serves its data set: on a connected machine run "
            f"`lm-eval run --model hf --model_args pretrained=EleutherAI/pythia-14m --tasks {name} --limit 1` once, "
            f"which fills the Hugging Face cache (~/.cache/huggingface), copy that cache here, and set "
            f"HF_DATASETS_OFFLINE=1; or write the task as a YAML file over a local file (dataset_path: json, "
            f"dataset_kwargs: {{data_files: ...}}) and give its path.")
