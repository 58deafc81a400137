"""After a run: its eval (base against fine-tuned) and the rows where fine-tuned did worst, side by side.

The eval runs in a thread worker that only posts messages; the screen applies them.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static


class EvalScreen(Screen[None]):
    """The run's RUN/eval/ when there is one, else an eval computed now (and written there)."""

    CSS_PATH = "monitor.tcss"  # read into the app's styles when the first of the monitor's screens opens

    BINDINGS = [
        Binding("r", "evaluate", "Evaluate again", id="eval_again", tooltip="Judge the run again on its held-out rows"),
        Binding("escape,q", "app.pop_screen", "Back", id="eval_back"),
    ]

    class Progress(Message):
        """A line saying what the eval does now."""

        def __init__(self, line: str) -> None:
            self.line = line
            super().__init__()

    class Done(Message):
        """The eval finished (engine.evaluation.evaluate.EvalResult), or failed with `error`."""

        def __init__(self, result: object = None, error: str | None = None) -> None:
            self.result = result
            self.error = error
            super().__init__()

    row_limit: int | None = None
    """At most this many held-out rows (None: all of them)."""

    def __init__(self, run_dir: str) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.evaluating = False
        """Whether an eval runs now (a thread worker cannot be cancelled: a second one waits for it to end)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="eval-view"):
            yield Label(f"Eval of {self.run_dir}: base against fine-tuned", id="eval-title", classes="dialog-title")
            yield Static("", id="eval-status")
            yield DataTable(id="eval-scores", show_cursor=False, zebra_stripes=True)
            yield Label("rows where fine-tuned did worst (highest loss)", classes="subtitle")
            yield VerticalScroll(id="eval-worst")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        from engine.evaluation.report import read_eval

        table = self.query_one("#eval-scores", DataTable)
        table.add_columns("", "base", "fine-tuned", "change")
        earlier = read_eval(self.run_dir)
        if earlier is None:
            self.action_evaluate()
        else:
            self._status(f"from {self.run_dir}/eval/ ({earlier.summary['source']}); r evaluates again", "dim")
            self.show(earlier)

    def action_evaluate(self) -> None:
        if self.evaluating:
            self.notify("The eval is running; it shows here when it ends.")
            return
        self.evaluating = True
        self._status("evaluating: loading the fine-tuned model…", "bold")
        self.evaluate(self.run_dir, self.row_limit)

    @work(thread=True, exclusive=True, group="eval", exit_on_error=False)
    def evaluate(self, run_dir: str, limit: int | None) -> None:
        from engine.errors import UserError
        from engine.evaluation.evaluate import EvalRequest, evaluate_run
        from engine.evaluation.report import write_eval

        try:
            result = evaluate_run(EvalRequest(run_dir, limit=limit), progress=lambda line: self.post_message(self.Progress(line)))
            write_eval(run_dir, result)
        except UserError as exc:
            self.post_message(self.Done(error=str(exc)))
            return
        except Exception as exc:  # say what failed where the scores would be, never leave the screen waiting
            self.post_message(self.Done(error=f"eval failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))
            return
        self.post_message(self.Done(result))

    @on(Progress)
    def progressed(self, message: Progress) -> None:
        self._status(f"evaluating: {message.line}…", "bold")

    @on(Done)
    def done(self, message: Done) -> None:
        self.evaluating = False
        if message.error is not None:
            self._status(message.error, "red")
            return
        self._status(f"written to {self.run_dir}/eval/; r evaluates again", "green")
        self.show(message.result)

    def show(self, result: object) -> None:
        """Fill the score table and the worst rows from an eval result."""
        from engine.evaluation.report import score_table

        summary = result.summary  # type: ignore[attr-defined]
        table = self.query_one("#eval-scores", DataTable)
        table.clear()
        for what, base, tuned, change in score_table(summary):
            style = "green" if "▲" in change else "red" if "▼" in change else ""
            table.add_row(what, base, tuned, Text(change, style=style))
        table.styles.height = len(table.rows) + 1
        worst = self.query_one("#eval-worst", VerticalScroll)
        worst.remove_children()
        by_row = {row["row"]: row for row in result.rows}  # type: ignore[attr-defined]
        for index in summary["worst_rows"]:
            worst.mount(_row_view(by_row[index]))

    def _status(self, text: str, style: str) -> None:
        self.query_one("#eval-status", Static).update(Text(text, style=style))


def _row_view(row: dict) -> Vertical:
    """One row: its prompt, then reference, base and fine-tuned answers side by side."""
    prompt = " ".join(row["prompt"].split())
    return Vertical(
        Static(Text.assemble((f"row {row['row']}  ", "bold"), (f"loss base {row['base']['loss']:.3f} → fine-tuned "
                                                                 f"{row['fine_tuned']['loss']:.3f}  ", "dim"), prompt[-200:]),
               classes="eval-prompt"),
        Horizontal(
            Static(Text.assemble(("reference\n", "bold"), row["reference"] or "(empty)"), classes="eval-answer"),
            Static(Text.assemble(("base\n", "bold"), row["base"]["answer"] or "(empty)"), classes="eval-answer"),
            Static(Text.assemble(("fine-tuned\n", "bold green"), row["fine_tuned"]["answer"] or "(empty)"),
                   classes="eval-answer"),
            classes="eval-answers"),
        classes="eval-row")
