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

    BINDINGS = [Binding("escape", "dismiss", "Close")]

    def __init__(self, run_dir: str) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.generator = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(f"Try a prompt on {self.run_dir} (Enter generates, Esc closes)")
            yield Input(compact=True, placeholder="What is the capital of France?", id="prompt")
            with Horizontal(classes="answers"):
                yield Static("base model", id="base-answer", classes="answer")
                yield Static("fine-tuned", id="tuned-answer", classes="answer")

    def on_mount(self) -> None:
        self.query_one("#tuned-answer", Static).update(Text("loading the model…", style="dim"))
        self.load_model()

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def load_model(self) -> None:
        from engine.errors import UserError
        from engine.outputs.generate import load_generator

        try:
            self.generator = load_generator(self.run_dir)
            self.app.call_from_thread(self.query_one("#tuned-answer", Static).update,
                                      Text(self.generator.note or "ready", style="dim"))
        except UserError as exc:
            self.app.call_from_thread(self.query_one("#tuned-answer", Static).update, Text(str(exc), style="red"))

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
        if generator.is_peft:
            base = generator.answer(prompt, base=True)
            self.app.call_from_thread(self.query_one("#base-answer", Static).update,
                                      Text.assemble(("base model\n", "bold"), base))
        tuned = generator.answer(prompt)
        self.app.call_from_thread(self.query_one("#tuned-answer", Static).update,
                                  Text.assemble(("fine-tuned\n", "bold green"), tuned))
