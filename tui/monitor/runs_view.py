"""Runs side by side: pick runs from the recent ones; their loss curves overlaid, settings that differ, losses, scores."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, SelectionList, Static

from tui.monitor.charts import LineChart, Series

RUN_COLORS = ("cyan", "magenta", "yellow", "green")
"""One colour per compared run, in the chart and its legend; four runs fit 80 columns side by side."""


class RunsScreen(Screen[None]):
    """The recent runs (or the ones given), any two to four of them compared."""

    CSS_PATH = "monitor.tcss"  # read into the app's styles when the first of the monitor's screens opens

    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back", id="runs_back")]

    def __init__(self, root: str = "runs", chosen: list[str] | None = None) -> None:
        super().__init__()
        self.root = root
        self.chosen = [str(Path(path).resolve()) for path in chosen or []]
        """Runs ticked when the screen opens."""

    def compose(self) -> ComposeResult:
        with Vertical(id="runs-view"):
            yield Label("Runs: space ticks two to four to compare, Esc goes back", classes="title")
            yield SelectionList[str](id="runs-list")
            chart = LineChart(id="runs-chart")
            chart.border_title = "train loss"
            yield chart
            with VerticalScroll(id="runs-table-scroll"):
                yield Static("", id="runs-table")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        from engine.record.recent import find_runs

        runs = find_runs(self.root)
        listed = self.query_one("#runs-list", SelectionList)
        for run in runs:
            loss = f"loss {run.final_loss:.3f}" if run.final_loss is not None else "no loss"
            listed.add_option((Text.assemble((run.name, "bold"), f"  {run.status}, {loss}, {run.date}  ",
                                             (str(run.path), "dim")), str(run.path), str(run.path) in self.chosen))
        if runs:
            listed.highlighted = 0
        self.compare(list(listed.selected))

    @on(SelectionList.SelectedChanged, "#runs-list")
    def ticked(self, event: SelectionList.SelectedChanged) -> None:
        self.compare(list(event.selection_list.selected))

    def compare(self, paths: list[str]) -> None:
        """Show the comparison of the ticked runs (reading their records is quick: no model loads)."""
        from engine.errors import UserError
        from engine.evaluation.compare import compare_runs
        from engine.evaluation.compare_text import comparison_table, run_letters

        chart = self.query_one("#runs-chart", LineChart)
        table = self.query_one("#runs-table", Static)
        if len(paths) < 2:
            chart.set_data([])
            chart.border_title = "train loss"
            table.update(Text("Tick two or more runs to compare them.", style="dim"))
            return
        if len(paths) > len(RUN_COLORS):
            self.notify(f"{len(RUN_COLORS)} runs side by side at most: the first {len(RUN_COLORS)} ticked are shown.")
            paths = paths[:len(RUN_COLORS)]
        try:
            comparison = compare_runs(paths)
        except UserError as exc:
            table.update(Text(str(exc), style="red"))
            return
        letters = run_letters(len(comparison.runs))
        chart.set_data([Series(letter, run.train_curve, color)
                        for letter, run, color in zip(letters, comparison.runs, RUN_COLORS)])
        chart.border_title = "train loss " + " ".join(f"[{color}]{letter}[/]" for letter, color in zip(letters, RUN_COLORS))
        legend = Text()
        for letter, run, color in zip(letters, comparison.runs, RUN_COLORS):
            legend.append(f"{letter} ", style=f"bold {color}").append(f"{run.name} ({run.status})  ")
            legend.append(f"{run.path}\n", style="dim")
        table.update(legend + Text("\n".join(comparison_table(comparison)[1:])))
