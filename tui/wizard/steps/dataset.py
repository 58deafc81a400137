"""Step 5: the data file, its format and template, and one sample exactly as the model sees it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.suggester import Suggester
from textual.validation import Number
from textual.widgets import Input, Label, Select, Static

from engine.config.run_config import DATASET_FORMATS, TEMPLATES
from tui.wizard.steps.base import Step

if TYPE_CHECKING:
    from engine.data.preview import DataPreview


class PathSuggester(Suggester):
    """Completes file and folder names as the user types a path."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        folder, _, stem = value.rpartition(os.sep)
        base = Path(folder or ".").expanduser()
        try:
            names = sorted(p.name + (os.sep if p.is_dir() else "") for p in base.iterdir() if p.name.startswith(stem))
        except OSError:
            return None
        return (f"{folder}{os.sep}" if folder else "") + names[0] if names else None


ANSWERS, PROMPT_TOO = "answers", "prompt too"
LEARN_CHOICES = [("answers only", ANSWERS), ("prompt too", PROMPT_TOO)]
"""What the loss is computed on: the assistant turns / completions, or every token (training on the prompt too)."""
LOSS_KEYS = ("assistant_only_loss", "completion_only_loss")
"""The training settings that say whether the prompt is learned, for chat and for prompt/completion rows."""


def learn_choice(training: dict) -> str:
    """The learn choice a training section makes: prompt too when either loss setting is false."""
    return PROMPT_TOO if any(training.get(key) is False for key in LOSS_KEYS) else ANSWERS


def parse_columns(text: str) -> dict[str, str] | None:
    """`instruction=question, output=answer` as a mapping; None when malformed."""
    mapping = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        ours, sep, theirs = part.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            return None
        mapping[ours.strip()] = theirs.strip()
    return mapping


class DatasetStep(Step):
    """Data file, format, template, eval split, and the rendered sample."""

    def compose(self) -> ComposeResult:
        yield Label("Dataset: a JSON/JSONL/CSV/Parquet file (Tab completes) or a Hub dataset id", classes="title")
        yield Input(compact=True, placeholder="data/train.jsonl", id="data-path", suggester=PathSuggester())
        with Horizontal(classes="row"):
            with Vertical():
                yield Label("format")
                yield Select([(f, f) for f in DATASET_FORMATS], compact=True, allow_blank=False, value="auto", id="data-format")
            with Vertical():
                yield Label("template")
                yield Select([(t, t) for t in TEMPLATES], compact=True, allow_blank=False, value="auto", id="data-template")
            with Vertical():
                yield Label("eval split (0–1)")
                yield Input(compact=True, id="eval-split", type="number", validators=[Number(minimum=0.0, maximum=0.9)])
            with Vertical():
                yield Label("learn")
                yield Select(LEARN_CHOICES, compact=True, allow_blank=False, value=ANSWERS, id="data-learn")
        yield Label("column mapping, ours=theirs: e.g. instruction=question, output=answer")
        yield Input(compact=True, id="data-columns", placeholder="(none)")
        yield Static("reading the data…", id="data-preview")

    def load_values(self, config) -> None:
        dataset = config.dataset
        self.query_one("#data-path", Input).value = dataset.path
        self.query_one("#data-format", Select).value = dataset.format
        self.query_one("#data-template", Select).value = dataset.template
        self.query_one("#eval-split", Input).value = "" if dataset.eval_split is None else str(dataset.eval_split)
        self.query_one("#data-learn", Select).value = learn_choice(config.training)
        self.query_one("#data-columns", Input).value = ", ".join(f"{k}={v}" for k, v in (dataset.columns or {}).items())

    @on(Input.Submitted, "#data-path")
    @on(Input.Blurred, "#data-path")
    def path_done(self, event) -> None:
        value = event.value.strip() if hasattr(event, "value") else self.query_one("#data-path", Input).value.strip()
        if value != self.config.dataset.path:
            self.config.dataset.path = value
            self.edited("dataset")

    @on(Select.Changed, "#data-format, #data-template")
    def choice_changed(self, event: Select.Changed) -> None:
        if not self.taking_edits:
            return
        key = "format" if event.select.id == "data-format" else "template"
        if getattr(self.config.dataset, key) != event.value:
            setattr(self.config.dataset, key, str(event.value))
            self.edited("dataset")

    @on(Select.Changed, "#data-learn")
    def learn_changed(self, event: Select.Changed) -> None:
        if not self.taking_edits or event.value == learn_choice(self.config.training):
            return
        for key in LOSS_KEYS:
            if event.value == PROMPT_TOO:
                self.config.training[key] = False
            else:
                self.config.training.pop(key, None)
        self.edited("training")

    @on(Input.Changed, "#eval-split")
    def eval_split_changed(self, event: Input.Changed) -> None:
        if not self.taking_edits:
            return
        if not event.value.strip():
            self.config.dataset.eval_split = None
        elif event.validation_result and event.validation_result.is_valid:
            self.config.dataset.eval_split = float(event.value) or None
        else:
            return
        self.edited("dataset")

    @on(Input.Submitted, "#data-columns")
    def columns_changed(self, event: Input.Submitted) -> None:
        mapping = parse_columns(event.value)
        if mapping is None:
            self.notify("Column mapping: write ours=theirs pairs, e.g. instruction=question", severity="error")
            return
        self.config.dataset.columns = mapping
        self.edited("dataset")

    def show_preview(self, preview: "DataPreview") -> None:
        """Render the detected format, the sample with its learned part marked, and token lengths."""
        view = self.query_one("#data-preview", Static)
        if preview.problem:
            view.update(Text(preview.problem, style="bold red"))
            return
        text = Text()
        text.append(f"{preview.format} format, template {preview.template}; columns: {', '.join(preview.columns)}; "
                    f"{preview.train_rows} train / {preview.eval_rows} eval rows\n", style="bold")
        sample = preview.sample
        text.append(f"training row {sample.index} as the trainer gets it: {sample.tokens} tokens, ", style="dim")
        text.append(f"{sample.learned_tokens} learned (green)", style="bold green")
        text.append(", the rest context (dim):\n", style="dim")
        for segment in sample.segments:
            text.append(segment.text, style="bold green" if segment.learned else "dim")
        for note in preview.notes:
            text.append(f"\n{note}", style="italic")
        stats = preview.stats
        if stats:
            text.append(f"\n\ntokens: median {stats.median}, p95 {stats.p95}, max {stats.max} against max_length "
                        f"{stats.max_length}; {stats.truncated_share:.0%} of rows would be truncated",
                        style="yellow" if stats.truncated else "")
        for warning in preview.warnings:
            text.append(f"\n{warning}", style="yellow")
        view.update(text)
