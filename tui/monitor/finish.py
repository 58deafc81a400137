"""After a run: try a prompt on the base and the fine-tuned model, side by side."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class TryPromptScreen(ModalScreen[None]):
    """A prompt box and two answers, formatted with the run's template."""

    CSS_PATH = "monitor.tcss"  # read into the app's styles when the first of the monitor's screens opens

    BINDINGS = [Binding("escape", "dismiss", "Close")]

    def __init__(self, run_dir: str) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.generator = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(f"Try a prompt on {self.run_dir} (Enter generates, Esc closes)", classes="dialog-title")
            yield Input(compact=True, placeholder="What is the capital of France?", id="prompt")
            with Horizontal(classes="answers"):
                yield Static("base model", id="base-answer", classes="answer")
                yield Static("fine-tuned", id="tuned-answer", classes="answer")

    def on_mount(self) -> None:
        self.query_one("#tuned-answer", Static).update(Text("loading the model…", style="dim"))
        self.load_model()

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def load_model(self) -> None:
        from engine.outputs.generate import load_generator

        try:
            self.generator = load_generator(self.run_dir)
        except Exception as exc:  # a UserError says why; anything else must say something too, never leave the box blank
            self._show("#tuned-answer", Text(_reason(exc, "could not load final/"), style="red"))
            return
        self._show("#tuned-answer", Text(self.generator.note or "ready", style="dim"))
        if not self.generator.is_peft:
            self._show("#base-answer", Text("base model: not loaded (final/ is a full model, not an adapter)", style="dim"))

    def _show(self, selector: str, text: Text) -> None:
        """Put text in an answer box from the worker thread."""
        self.app.call_from_thread(self.query_one(selector, Static).update, text)

    @on(Input.Submitted, "#prompt")
    def submitted(self, event: Input.Submitted) -> None:
        if self.generator is None:
            self.notify("Still loading the model…")
            return
        for widget_id in ("#base-answer", "#tuned-answer"):
            self.query_one(widget_id, Static).update(Text("generating…", style="dim"))
        self.generate(event.value)

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def generate(self, prompt: str) -> None:
        generator = self.generator
        try:
            if generator.is_peft:
                self._show("#base-answer", _answer("base model", "bold", generator.answer(prompt, base=True)))
            self._show("#tuned-answer", _answer("fine-tuned", "bold green", generator.answer(prompt)))
        except Exception as exc:  # e.g. out of memory while generating: say so where the answer would be
            self._show("#tuned-answer", Text(_reason(exc, "generation failed"), style="red"))


def _answer(title: str, style: str, answer: str) -> Text:
    """An answer under its model's name; an empty one said in words, so the box is never blank."""
    said = answer if answer.strip() else Text("(an empty answer: the model generated only special tokens, such as "
                                              "the end of the text, at once)", style="dim")
    return Text.assemble((f"{title}\n", style), said)


def _reason(exc: Exception, failed: str) -> str:
    """An exception as one short line for an answer box (a UserError's message is written for people already)."""
    from engine.errors import UserError

    if isinstance(exc, UserError):
        return str(exc)
    first_line = (str(exc).splitlines() or [""])[0]
    return f"{failed}: {type(exc).__name__}: {first_line}"[:300]
