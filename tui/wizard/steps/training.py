"""Step 6: training settings grouped as the course groups them, with SFTConfig's own help texts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.validation import ValidationResult, Validator
from textual.widgets import Collapsible, Input, Label, Select, Static

from engine.config.resolve import planned_steps
from engine.config.schema import FieldSpec, schema
from engine.problems import Problem
from engine.yamlio import YamlError, load_yaml
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


def parse_value(text: str) -> Any:
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


def _text(value: Any) -> str:
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

    def compose(self) -> ComposeResult:
        yield Label("Training settings (empty = SFTConfig's default, shown greyed)", classes="title")
        yield Static("", id="batch-summary")
        yield Vertical(id="training-fields")

    def _groups(self) -> list[Collapsible]:
        """The field widgets, built on first show so the wizard's first screen stays fast."""
        specs = schema()["training"]
        groups = [Collapsible(*[self._field(specs[name]) for name in names], title=group, collapsed=False)
                  for group, names in GROUPS.items()]
        others = sorted(n for n in specs if not any(n in names for names in GROUPS.values()))
        groups.append(Collapsible(
            Horizontal(Select([(n, n) for n in others], compact=True, id="advanced-key", prompt="field"),
                       Input(compact=True, id="advanced-value", placeholder="value (YAML), Enter sets it"), classes="row"),
            Static("", id="advanced-help", classes="help"),
            title="Advanced: any other SFTConfig field", collapsed=True))
        return groups

    def _field(self, spec: FieldSpec) -> Vertical:
        if spec.choices:
            control = Select([(c, c) for c in spec.choices], compact=True, id=f"in-{spec.name}", prompt=f"default: {spec.default}")
        else:
            control = Input(compact=True, id=f"in-{spec.name}", placeholder=f"default: {_text(spec.default) or 'none'}",
                            validators=[FieldValidator(spec)], valid_empty=True)
        return Vertical(
            Horizontal(Label(spec.name, classes="field-name"), control, classes="field-row"),
            Static(Text(_first_sentence(spec.help), style="dim"), classes="help"),
            Static("", id=f"err-{spec.name}", classes="field-error"),
            classes="field", id=f"field-{spec.name}")

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
        if not self.query("#field-num_train_epochs"):
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

    def _set(self, name: str, value: Any) -> None:
        if value is None:
            self.config.training.pop(name, None)
        else:
            self.config.training[name] = value
        self._summary()
        self.show_problems(self._quick_problems())
        self.edited("training")

    @on(Input.Changed, ".field Input")
    def input_changed(self, event: Input.Changed) -> None:
        if not self.taking_edits:
            return
        name = (event.input.id or "").removeprefix("in-")
        if event.validation_result is not None and not event.validation_result.is_valid:
            self.invalid[name] = event.validation_result.failure_descriptions[0]
            self._show_error(name, self.invalid[name])
            return
        self.invalid.pop(name, None)
        self._set(name, parse_value(event.value))

    @on(Select.Changed, ".field Select")
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
        """Put each engine problem under the training fields it concerns."""
        if not self.built:
            return
        for error in self.query(".field-error"):
            error.display = False
        for problem in problems:
            for name in problem.fields:
                if name.startswith("training."):
                    self._show_error(name.removeprefix("training."), problem.text)
        for name, message in self.invalid.items():  # text that never reached the config
            self._show_error(name, message)

    def _show_error(self, name: str, message: str) -> None:
        targets = self.query(f"#err-{name}")
        if targets:
            targets.first().update(Text(message, style="red"))
            targets.first().display = True

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
