"""Step 1: a new run, a saved preset, tutorial code to import, or a recent run to open."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from engine.errors import UserError
from tui.steps.base import Step


class StartStep(Step):
    """Where a run comes from."""

    def compose(self) -> ComposeResult:
        yield Label("Start: pick a preset, start fresh, import tutorial code, or open a recent run", classes="title")
        yield OptionList(id="start-options")
        yield Label("Import tutorial code (read with ast, never run): path to a .py file", classes="subtitle")
        yield Input(compact=True, placeholder="course.py", id="import-path")
        yield Static("", id="import-result")

    def load_values(self, config) -> None:
        from engine.presets import list_presets
        from engine.runs import find_runs

        options = self.query_one("#start-options", OptionList)
        options.clear_options()
        options.add_option(Option(Text.assemble(("New run", "bold"), "  tiny-demo on the demo data, change anything"), id="new"))
        options.add_option(None)
        for preset in list_presets():
            options.add_option(Option(Text.assemble(("preset ", "dim"), (preset.name, "bold"), f"  {preset.description}"),
                                      id=f"preset:{preset.path}"))
        runs = find_runs(self.app.runs_root)  # type: ignore[attr-defined]
        if runs:
            options.add_option(None)
        for run in runs:
            loss = f"loss {run.final_loss:.3f}" if run.final_loss is not None else "no loss yet"
            options.add_option(Option(Text.assemble(("run ", "dim"), (run.name, "bold"), f"  {run.status}, {loss}, {run.date}  ",
                                                    (str(run.path), "dim")), id=f"run:{run.path}"))
        options.highlighted = 0

    @on(OptionList.OptionSelected, "#start-options")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        choice = event.option.id or ""
        if choice == "new":
            from tui.app import new_config

            self.app.load_config(new_config(), "model")  # type: ignore[attr-defined]
        elif choice.startswith("preset:"):
            self._load_preset(choice.split(":", 1)[1])
        elif choice.startswith("run:"):
            from tui.monitor import MonitorScreen

            self.app.push_screen(MonitorScreen.for_run_dir(choice.split(":", 1)[1]))

    def _load_preset(self, path: str) -> None:
        from engine.presets import load_preset

        try:
            config, warnings, _ = load_preset(path)
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        for warning in warnings:
            self.notify(warning, severity="warning", timeout=8)
        self.app.load_config(config, "review")  # type: ignore[attr-defined]

    @on(Input.Submitted, "#import-path")
    def import_code(self, event: Input.Submitted) -> None:
        from engine.config import parse_config_collecting
        from engine.snippet import import_snippet

        result_view = self.query_one("#import-result", Static)
        try:
            result = import_snippet(event.value.strip())
        except UserError as exc:
            result_view.update(Text(str(exc), style="red"))
            return
        raw = result.raw
        raw.setdefault("model", {}).setdefault("name_or_path", "tiny-demo")
        raw.setdefault("dataset", {}).setdefault("path", self.config.dataset.path)
        raw["name"] = event.value.strip().rsplit("/", 1)[-1].removesuffix(".py")
        config, warnings, problems = parse_config_collecting(raw, event.value.strip())
        lines = Text()
        lines.append(f"read {len(result.read)} settings", style="green")
        for item in result.not_read:
            lines.append(f"\nnot read: {item}", style="yellow")
        for item in warnings:
            lines.append(f"\n{item}", style="dim")
        for item in problems:
            lines.append(f"\nto fix: {item}", style="red")
        result_view.update(lines)
        self.app.config = config  # type: ignore[attr-defined]
        self.edited("all")
        self.notify("Imported; review each step (ctrl+n) or jump to Review (ctrl+g).")
