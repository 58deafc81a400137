"""Step 5: the data sources (one or a mixture), each one's format, template and share, and its sample as the model sees it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.suggester import Suggester
from textual.validation import Number
from textual.widgets import Input, Label, Select, Static

from engine.config.run_config import DATASET_FORMATS, TEMPLATES, DatasetSection
from engine.config.sources import add_source, remove_source, source_at
from tui.wizard.messages import ConfigEdited
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
    """The sources, the current one's file, format, template, columns and share, the eval split, and its sample."""

    BINDINGS = [
        Binding("f2", "add_source", "+Source", id="add_source", tooltip="Add a data source to mix in"),
        Binding("ctrl+y", "remove_source", "-Source", id="remove_source", tooltip="Remove the source shown"),
        Binding("ctrl+down", "next_source", "Next source", id="next_source", show=False),
        Binding("ctrl+up", "previous_source", "Previous source", id="previous_source", show=False),
    ]
    current = 0
    """The index of the source the fields show (0 for a one-source preset)."""

    def compose(self) -> ComposeResult:
        yield Label("Dataset: a JSON/JSONL/CSV/Parquet file (Tab completes) or a Hub dataset id", classes="title")
        yield Static("", id="data-sources")
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
        yield Label("column mapping, ours=theirs (instruction=question) · share of its rows (0.5, 2)")
        with Horizontal(classes="row"):
            yield Input(compact=True, id="data-columns", placeholder="(none)")
            yield Input(compact=True, id="data-share", type="number", placeholder="all", validators=[Number(minimum=0.0)])
        yield Static("reading the data…", id="data-preview")

    @property
    def source(self) -> DatasetSection:
        """The source the fields edit."""
        return source_at(self.config.dataset, self.current)

    def load_values(self, config) -> None:
        dataset = config.dataset
        self.current = min(self.current, max(len(dataset.sources) - 1, 0))
        source = source_at(dataset, self.current)
        self.query_one("#data-path", Input).value = source.path
        self.query_one("#data-format", Select).value = source.format
        self.query_one("#data-template", Select).value = source.template
        self.query_one("#eval-split", Input).value = "" if dataset.eval_split is None else str(dataset.eval_split)
        self.query_one("#data-learn", Select).value = learn_choice(config.training)
        self.query_one("#data-columns", Input).value = ", ".join(f"{k}={v}" for k, v in (source.columns or {}).items())
        self.query_one("#data-share", Input).value = "" if source.share is None else f"{source.share:g}"
        self._show_sources()

    def _show_sources(self) -> None:
        """The sources, one line each, the one the fields edit marked; with the rows and tokens the preview found."""
        view = self.query_one("#data-sources", Static)
        sources = self.config.dataset.training_sources()
        if len(sources) == 1:
            view.update(Text("one source · F2 adds another to mix in", style="dim"))
            return
        preview = self.state.preview
        counts = preview.sources if preview and not preview.problem and len(preview.sources) == len(sources) else []
        text = Text(f"{len(sources)} sources mixed · ctrl+↑/↓ choose · F2 add · ctrl+y remove\n", style="dim")
        for index, source in enumerate(sources):
            mark = "▶" if index == self.current else " "
            share = f" ×{source.share:g}" if source.share is not None else ""
            line = f"{mark} {index + 1}. {Path(source.path).name or '(no path yet)'}{share}"
            if index < len(counts):
                entry = counts[index]
                line += (f": {entry['rows']} rows, {entry['train_rows']} trained, {entry['tokens']} tokens, "
                         f"{entry['learned_share']:.0%} of learned")
            text.append(line[:76] + "\n", style="bold" if index == self.current else "")
        view.update(text)

    def _switch(self, index: int) -> None:
        """Show source index in the fields (and its sample)."""
        self.current = index
        self.load(self.config)
        if self.state.preview is not None:
            self.show_preview(self.state.preview)

    def action_add_source(self) -> None:
        """Add an empty source and show it, for its path to be typed."""
        self._switch(add_source(self.config.dataset))
        self.query_one("#data-path", Input).focus()
        self.post_message(ConfigEdited("dataset"))

    def action_remove_source(self) -> None:
        """Remove the source shown; with one left, the preset is a one-source preset again."""
        if not self.config.dataset.is_mixture:
            self.notify("One source: nothing to remove (type another path to replace it).", severity="warning")
            return
        remove_source(self.config.dataset, self.current)
        self._switch(max(self.current - 1, 0))
        self.post_message(ConfigEdited("dataset"))

    def action_next_source(self) -> None:
        """Show the next source."""
        self._switch((self.current + 1) % len(self.config.dataset.training_sources()))

    def action_previous_source(self) -> None:
        """Show the previous source."""
        self._switch((self.current - 1) % len(self.config.dataset.training_sources()))

    @on(Input.Submitted, "#data-path")
    @on(Input.Blurred, "#data-path")
    def path_done(self, event) -> None:
        value = event.value.strip() if hasattr(event, "value") else self.query_one("#data-path", Input).value.strip()
        if value != self.source.path:
            self.source.path = value
            self.edited("dataset")
            self._show_sources()

    @on(Select.Changed, "#data-format, #data-template")
    def choice_changed(self, event: Select.Changed) -> None:
        if not self.taking_edits:
            return
        key = "format" if event.select.id == "data-format" else "template"
        if getattr(self.source, key) != event.value:
            setattr(self.source, key, str(event.value))
            self.edited("dataset")

    @on(Input.Changed, "#data-share")
    def share_changed(self, event: Input.Changed) -> None:
        if not self.taking_edits:
            return
        if not event.value.strip():
            self.source.share = None
        elif event.validation_result and event.validation_result.is_valid:
            self.source.share = float(event.value)  # 0 too: the dataset rules say what a share must be, under the field
        else:
            return  # not a number yet: the field shows itself invalid
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
        self.source.columns = mapping
        self.edited("dataset")

    def show_preview(self, preview: "DataPreview") -> None:
        """Render the detected format, the sample with its learned part marked, and token lengths."""
        view = self.query_one("#data-preview", Static)
        if preview.problem:
            view.update(Text(preview.problem, style="bold red"))
            return
        self._show_sources()
        text = Text()
        text.append(f"{preview.format} format, template {preview.template}; columns: {', '.join(preview.columns)}; "
                    f"{preview.train_rows} train / {preview.eval_rows} eval rows\n", style="bold")
        sample = preview.sample
        if preview.source_samples and self.current < len(preview.source_samples):
            sample = preview.source_samples[self.current]
            if sample is None:
                text.append(f"source {self.current + 1} gives no training row among those checked\n", style="yellow")
                view.update(text)
                return
            text.append(f"source {self.current + 1}: ", style="bold")
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
