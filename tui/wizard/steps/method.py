"""Step 4: QLoRA, LoRA or full fine-tuning, the LoRA settings, and a live memory fit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.validation import Number
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, SelectionList, Static

from engine.units import gib
from tui.wizard.messages import OptimizeRequested, ProbeRequested
from tui.wizard.steps.base import Step

if TYPE_CHECKING:
    from tui.wizard.messages import EstimateReady, OptimizeReady, ProbeDone

METHODS = {"qlora": "QLoRA 4-bit", "lora": "LoRA 16-bit", "full": "Full fine-tuning"}
QLORA = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_use_double_quant": True}
LORA_PRESETS = {
    "light": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"]},
    "balanced": {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"},
    "heavy": {"r": 64, "lora_alpha": 128, "lora_dropout": 0.05, "target_modules": "all-linear"},
}


def method_of(config) -> str:
    """qlora, lora or full, from the config."""
    if config.lora is None:
        return "full"
    return "qlora" if config.quantization else "lora"


class MethodStep(Step):
    """Method and LoRA settings, with the memory estimate updating as they change."""

    BINDINGS = [
        Binding("ctrl+f", "make_fit_and_fast", "Fit and fast", id="make_fit_and_fast",
                tooltip="The fastest settings that fit this machine, same effective batch (sft-wizard optimize)"),
        Binding("ctrl+r", "run_probe", "Probe", id="probe", tooltip="Run 2 real training steps and measure memory"),
    ]

    def compose(self) -> ComposeResult:
        with Horizontal(id="method-columns"):
            with Vertical(id="method-left"):
                yield Label("Method", classes="title")
                with RadioSet(id="method"):
                    for key, title in METHODS.items():
                        yield RadioButton(title, id=f"method-{key}")
                with Horizontal(classes="lora-presets"):
                    for name in LORA_PRESETS:
                        yield Button(name, id=f"lora-{name}", compact=True)
                with Horizontal(classes="inline"):
                    yield Label("r (rank) ")
                    yield Input(compact=True, id="lora-r", type="integer", validators=[Number(minimum=1)])
                with Horizontal(classes="inline"):
                    yield Label("alpha    ")
                    yield Input(compact=True, id="lora-alpha", type="integer", validators=[Number(minimum=1)])
                with Horizontal(classes="inline"):
                    yield Label("dropout  ")
                    yield Input(compact=True, id="lora-dropout", type="number", validators=[Number(minimum=0, maximum=0.99)])
                yield Checkbox("all-linear (all but lm_head)", id="all-linear", compact=True)
                yield SelectionList[str](id="targets")
            with Vertical(id="memory-panel"):
                yield Label("Memory fit", classes="title")
                yield Static("", id="method-precision")
                yield Static("estimating…", id="memory")
                yield Static("", id="probe-result")

    def load_values(self, config) -> None:
        from tui.wizard.decisions import precision_text

        self.query_one("#method-precision", Static).update(Text.assemble(
            ("precision: ", "bold"), precision_text(config, self.state.hardware())))
        method = method_of(config)
        self.query_one(f"#method-{method}", RadioButton).value = True
        lora = config.lora or LORA_PRESETS["balanced"]
        self.query_one("#lora-r", Input).value = str(lora.get("r", 8))
        self.query_one("#lora-alpha", Input).value = str(lora.get("lora_alpha", 8))
        self.query_one("#lora-dropout", Input).value = str(lora.get("lora_dropout", 0.0))
        self.query_one("#all-linear", Checkbox).value = lora.get("target_modules") in ("all-linear", None)
        self._fill_targets()
        for widget_id in ("#lora-r", "#lora-alpha", "#lora-dropout", "#all-linear", "#targets"):
            self.query_one(widget_id).disabled = method == "full"

    def _fill_targets(self) -> None:
        structure = self.state.structure
        targets = self.query_one("#targets", SelectionList)
        names = structure.lora_candidates if structure else ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        chosen = (self.config.lora or {}).get("target_modules")
        selected = set(names) if chosen in ("all-linear", None) else set(chosen if isinstance(chosen, list) else [])
        targets.clear_options()
        targets.add_options([(name, name, name in selected) for name in names])
        targets.disabled = self.query_one("#all-linear", Checkbox).value or self.config.lora is None

    # edits -------------------------------------------------------------------------------------
    @on(RadioSet.Changed, "#method")
    def method_changed(self, event: RadioSet.Changed) -> None:
        if not self.taking_edits:
            return
        method = (event.pressed.id or "").removeprefix("method-")
        if method == "full":
            self.config.lora, self.config.quantization = None, None
        else:
            self.config.lora = self.config.lora or dict(LORA_PRESETS["balanced"])
            self.config.quantization = dict(QLORA) if method == "qlora" else None
        self.edited_then_reload("method")

    @on(Button.Pressed, ".lora-presets Button")
    def lora_preset(self, event: Button.Pressed) -> None:
        name = (event.button.id or "").removeprefix("lora-")
        self.config.lora = dict(LORA_PRESETS[name])
        self.edited_then_reload("lora")

    @on(Input.Changed, "#lora-r, #lora-alpha, #lora-dropout")
    def lora_value(self, event: Input.Changed) -> None:
        if not self.taking_edits or self.config.lora is None or not event.validation_result or not event.validation_result.is_valid:
            return
        key = {"lora-r": "r", "lora-alpha": "lora_alpha", "lora-dropout": "lora_dropout"}[event.input.id or ""]
        self.config.lora[key] = float(event.value) if key == "lora_dropout" else int(event.value)
        self.edited("lora")

    @on(Checkbox.Changed, "#all-linear")
    def all_linear(self, event: Checkbox.Changed) -> None:
        if not self.taking_edits or self.config.lora is None:
            return
        targets = self.query_one("#targets", SelectionList)
        self.config.lora["target_modules"] = "all-linear" if event.value else list(targets.selected) or ["q_proj", "v_proj"]
        self._fill_targets()
        self.edited("lora")

    @on(SelectionList.SelectedChanged, "#targets")
    def targets_changed(self, event: SelectionList.SelectedChanged) -> None:
        if (not self.taking_edits or self.config.lora is None
                or self.query_one("#all-linear", Checkbox).value):
            return
        selected = list(event.selection_list.selected)
        if selected:
            self.config.lora["target_modules"] = selected
            self.edited("lora")

    # results -----------------------------------------------------------------------------------
    def show_estimate(self, message: "EstimateReady") -> None:
        """Draw the breakdown, verdicts and suggestion."""
        panel = self.query_one("#memory", Static)
        if message.problem:
            panel.update(Text(message.problem, style="red"))
            return
        if self.taking_edits and self.query_one("#targets", SelectionList).option_count == 0:
            self._fill_targets()
        report = message.report
        text = Text()
        inputs = report.estimate.inputs
        per_gpu = f" per GPU ({inputs.processes}× {inputs.strategy})" if inputs and inputs.processes > 1 else ""
        text.append(f"predicted peak {gib(report.estimate.total_bytes)}{per_gpu}\n", style="bold")
        if inputs and inputs.assumes:
            text.append(f"{inputs.assumes}\n", style="dim")
        for name, value in report.estimate.breakdown.items():
            text.append(f"{name.replace('_', ' '):<19}{gib(value):>11}\n")
        text.append(f"trainable {report.estimate.trainable_params:,} params\n", style="dim")
        for verdict in report.verdicts:
            style = {"fits": "green", "tight": "yellow"}.get(verdict.status, "red")
            text.append(f"{verdict.target.name}: ", style="bold")
            text.append(f"{verdict.status}\n", style=style)
        if report.recommendations:
            text.append("suggested (ctrl+f makes it fit and fast):\n", style="bold")
            for rec in report.recommendations[:3]:
                text.append(f"• {rec.description} → {gib(rec.total_bytes)}\n")
        panel.update(text)

    def action_make_fit_and_fast(self) -> None:
        self.query_one("#probe-result", Static).update(Text("fit and fast: planning…", style="dim"))
        self.post_message(OptimizeRequested(self.config.copy()))

    def apply_optimized(self, message: "OptimizeReady") -> None:
        """Take the optimized config and list what changed (Review lists it again)."""
        view = self.query_one("#probe-result", Static)
        if message.problem:
            view.update(Text(f"fit and fast: {message.problem}", style="red"))
            return
        plan = message.plan
        self.state.config = plan.config
        text = Text(f"fit and fast for {plan.machine.name}: ", style="bold")
        text.append(f"{len(plan.changes)} change(s)\n" if plan.changes else "already the fastest that fits\n")
        for change in plan.changes:
            text.append(f"• {change.setting}: {change.before} → {change.after}\n")
        view.update(text)
        self.notify(f"Fit and fast: {len(plan.changes)} change(s); effective batch kept")
        self.edited_then_reload("training")

    def action_run_probe(self) -> None:
        self.query_one("#probe-result", Static).update(Text("probe: running 2 real steps…", style="dim"))
        self.post_message(ProbeRequested(self.config.copy()))

    def show_probe(self, message: "ProbeDone") -> None:
        """Show measured beside estimated."""
        view = self.query_one("#probe-result", Static)
        if message.problem:
            view.update(Text(f"probe: {message.problem}", style="red"))
            return
        result = message.result
        measured = result.measured_bytes or 0
        where = result.measured_source
        view.update(Text.assemble(("probe: ", "bold"), f"{result.message}\n{where} {gib(measured)}, "
                                  f"estimated {gib(result.estimate_bytes)} (GPU)",
                                  style="green" if result.fits else "red"))
