"""Step 6: training settings grouped as the course groups them, with SFTConfig's own help texts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Collapsible, Input, Label, Select, Static

from engine.config.resolve import planned_steps
from engine.config.schema import FieldSpec, schema
from engine.problems import Problem
from engine.yamlio import YamlError, YamlValue, load_yaml
from tui.wizard.state import WizardState
from tui.wizard.steps.base import Step

if TYPE_CHECKING:
    from engine.data.preview import DataPreview

GROUPS = {
    "Schedule": ["num_train_epochs", "max_steps", "learning_rate", "lr_scheduler_type", "warmup_steps"],
    "Batch": ["per_device_train_batch_size", "gradient_accumulation_steps", "max_length", "packing",
              "activation_checkpointing"],
    "Optimizer": ["optim", "weight_decay", "max_grad_norm"],
    "Checkpoints and evaluation": ["save_strategy", "save_steps", "save_total_limit", "eval_strategy", "eval_steps",
                                   "load_best_model_at_end", "metric_for_best_model"],
    "What the model learns": ["assistant_only_loss", "completion_only_loss"],
    "Logging and reporting": ["logging_steps", "report_to", "output_dir", "seed"],
}


class FieldGroup(Collapsible, inherit_css=False):
    """A group of fields that opens and closes, styled the same whether or not the focus is inside it.

    Collapsible's own CSS tints it while it holds the focus: every Tab between fields then restyles the
    whole group (dozens of widgets), the most of what a key cost on this step.
    """

    DEFAULT_CSS = """
    FieldGroup {
        width: 1fr;
        height: auto;
        background: $surface;
        border-top: hkey $background;
        padding-left: 1;
        &.-collapsed > Contents { display: none; }
        &:ansi { border-top: hkey ansi_blue; background: $panel; }
    }
    """


def parse_value(text: str) -> YamlValue:
    """A field's text as a YAML-typed value (empty means: use the default)."""
    return load_yaml(text) if text.strip() else None


class FieldValidator(Validator):
    """Checks a field's text against the type and choices of its SFTConfig field."""

    def __init__(self, spec: FieldSpec) -> None:
        super().__init__()
        self.spec = spec

    def validate(self, value: str) -> ValidationResult:
        if not value.strip():
            return self.success()
        try:
            parsed = parse_value(value)
        except YamlError:
            return self.failure(f"not a value: {value!r}")
        if not self.spec.accepts(parsed):
            return self.failure(f"{self.spec.name}: {value!r} is not valid, expected {self.spec.expected()}")
        return self.success()


def _first_sentence(help_text: str, limit: int = 150) -> str:
    """The first sentence of a field's help, short enough for one or two lines."""
    sentence = help_text.split(". ")[0].rstrip(".") + "."
    return sentence if len(sentence) <= limit else sentence[: limit - 1] + "…"


def _text(value: YamlValue) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class TrainingStep(Step):
    """Every field: its help from SFTConfig, inline validation, engine rules shown where they apply."""

    def __init__(self, state: WizardState, *, id: str) -> None:
        super().__init__(state, id=id)
        self.invalid: dict[str, str] = {}
        """Fields whose text does not parse, with the message."""
        self.errors_shown: dict[str, str | None] = {}
        """The error each field's note shows now (None: its help)."""

    def compose(self) -> ComposeResult:
        yield Label("Training settings (empty = SFTConfig's default, shown greyed)", classes="title")
        yield Static("", id="batch-summary")
        yield Vertical(id="training-fields")

    def _groups(self) -> list[FieldGroup]:
        """The field widgets, built on first show so the wizard's first screen stays fast."""
        specs = schema()["training"]
        groups = [FieldGroup(*[widget for name in names for widget in self._field(specs[name])], title=group,
                             collapsed=False)
                  for group, names in GROUPS.items()]
        others = sorted(n for n in specs if not any(n in names for names in GROUPS.values()))
        groups.append(FieldGroup(
            Horizontal(Select([(n, n) for n in others], compact=True, id="advanced-key", prompt="field"),
                       Input(compact=True, id="advanced-value", placeholder="value (YAML), Enter sets it"), classes="row"),
            Static("", id="advanced-help", classes="help"),
            title="Advanced: any other SFTConfig field", collapsed=True))
        return groups

    def _field(self, spec: FieldSpec) -> list[Widget]:
        """A field as two lines: its name and control, then its help (or what is wrong with its value)."""
        if spec.choices:
            control = Select([(c, c) for c in spec.choices], compact=True, id=f"in-{spec.name}", prompt=f"default: {spec.default}")
        else:
            control = Input(compact=True, id=f"in-{spec.name}", placeholder=f"default: {_text(spec.default) or 'none'}",
                            validators=[FieldValidator(spec)], valid_empty=True)
        # No wrapper per field: the step has a few hundred widgets, and each one costs every key press.
        return [Horizontal(Label(spec.name, classes="field-name"), control, classes="field-row"),
                Static(self._help(spec.name), id=f"note-{spec.name}", classes="help")]

    @staticmethod
    def _help(name: str) -> Text:
        return Text(_first_sentence(schema()["training"][name].help), style="dim")

    @property
    def built(self) -> bool:
        """Whether the field widgets exist yet (the last group's too)."""
        return bool(self.query("#in-num_train_epochs")) and bool(self.query("#advanced-value"))

    def load(self, config) -> None:
        if not self.built:
            self.call_later(self._build_then_load, config)
            return
        super().load(config)

    async def _build_then_load(self, config) -> None:
        if not self.query("#in-num_train_epochs"):
            # Awaiting the mount waits for every nested child too: each widget composes and mounts its own first.
            await self.query_one("#training-fields").mount_all(self._groups())
        super().load(config)
        self.focus_first()

    def focus_first(self) -> None:
        if self.built:
            self.query_one("#in-num_train_epochs").focus()

    def load_values(self, config) -> None:
        for names in GROUPS.values():
            for name in names:
                widget = self.query_one(f"#in-{name}")
                value = config.training.get(name)
                if isinstance(widget, Select):
                    widget.value = value if value is not None else Select.NULL
                else:
                    widget.value = _text(value)
        self._summary()
        self.show_problems(self._quick_problems())

    def _set(self, name: str, value: YamlValue) -> None:
        if value is None:
            self.config.training.pop(name, None)
        else:
            self.config.training[name] = value
        self._summary()
        self.show_problems(self._quick_problems())
        self.edited("training")

    @on(Input.Changed, ".field-row Input")
    def input_changed(self, event: Input.Changed) -> None:
        if not self.taking_edits:
            return
        name = (event.input.id or "").removeprefix("in-")
        if event.validation_result is not None and not event.validation_result.is_valid:
            self.invalid[name] = event.validation_result.failure_descriptions[0]
            self._show_note(name, self.invalid[name])
            return
        self.invalid.pop(name, None)
        self._set(name, parse_value(event.value))

    @on(Select.Changed, ".field-row Select")
    def select_changed(self, event: Select.Changed) -> None:
        if not self.taking_edits:
            return
        name = (event.select.id or "").removeprefix("in-")
        self._set(name, None if event.value is Select.NULL else event.value)

    @on(Select.Changed, "#advanced-key")
    def advanced_key(self, event: Select.Changed) -> None:
        if event.value is Select.NULL:
            return
        spec = schema()["training"][str(event.value)]
        self.query_one("#advanced-help", Static).update(f"{spec.name} (expects {spec.expected()}, default {spec.default!r}): {spec.help}")
        self.query_one("#advanced-value", Input).value = _text(self.config.training.get(spec.name))

    @on(Input.Submitted, "#advanced-value")
    def advanced_value(self, event: Input.Submitted) -> None:
        key = self.query_one("#advanced-key", Select).value
        if key is Select.NULL:
            return
        spec = schema()["training"][str(key)]
        result = FieldValidator(spec).validate(event.value)
        if not result.is_valid:
            self.query_one("#advanced-help", Static).update(Text(result.failure_descriptions[0], style="red"))
            return
        self._set(spec.name, parse_value(event.value))
        self.notify(f"training.{spec.name} = {event.value or '(default)'}")

    def _quick_problems(self) -> list[Problem]:
        from engine.config.parsing import parse_config_collecting

        _, _, problems = parse_config_collecting(self.config.to_dict(), "run")
        return problems

    def show_problems(self, problems: list[Problem]) -> None:
        """Put each engine problem under the training fields it concerns, in place of the field's help."""
        if not self.built:
            return
        wrong: dict[str, str] = {}
        for problem in problems:
            for name in problem.fields:
                if name.startswith("training."):
                    wrong.setdefault(name.removeprefix("training."), problem.text)
        wrong.update(self.invalid)  # text that never reached the config
        for names in GROUPS.values():
            for name in names:
                self._show_note(name, wrong.get(name))

    def _show_note(self, name: str, error: str | None) -> None:
        """The field's line under it: what is wrong with its value, else its help."""
        if self.errors_shown.get(name) != error:
            self.errors_shown[name] = error
            self.query_one(f"#note-{name}", Static).update(Text(error, style="red") if error else self._help(name))

    def _summary(self) -> None:
        value = self.config.training_value
        batch = int(value("per_device_train_batch_size") or 1)
        accumulation = int(value("gradient_accumulation_steps") or 1)
        preview = self.state.preview
        rows = preview.train_rows if preview and not preview.problem else 0
        steps = planned_steps(self.config, rows) if rows else None
        self.query_one("#batch-summary", Static).update(Text.assemble(
            ("effective batch ", "bold"), f"{batch} × {accumulation} = {batch * accumulation}   ",
            ("total steps ", "bold"), f"{steps}" if steps else "(waiting for the data)",
            f" for {rows} training rows" if rows else ""))

    def show_preview(self, preview: "DataPreview") -> None:
        """Update the total steps when the row count is known."""
        self._summary()
