"""Modal dialogs: yes/no questions, forms, and saving a preset (asking before overwriting)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from engine.config.run_config import RunConfig
from engine.errors import UserError


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question; y/n or Enter/Escape answer it."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="primary")
                yield Button(f"{self.no} (n)", id="no")

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class FormDialog(ModalScreen):
    """A titled form of inputs, a line for its error, and a primary button (Enter) beside Cancel (Escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    SUBMIT = ("Save (Enter)", "save")
    """The primary button's label and id; Enter in any input does the same."""

    def fields(self) -> ComposeResult:
        """The form's title, labels and inputs."""
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        label, button_id = self.SUBMIT
        with Vertical(classes="dialog"):
            yield from self.fields()
            yield Static("", id="form-error")
            with Horizontal(classes="buttons"):
                yield Button(label, id=button_id, variant="primary")
                yield Button("Cancel (Esc)", id="cancel")

    def show_error(self, message: str) -> None:
        """Say in the dialog why the form cannot be done; it stays open."""
        self.query_one("#form-error", Static).update(f"[red]{message}[/]")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class SavePresetDialog(FormDialog):
    """Name and description, then an atomic save into the user's presets folder (dismissed with the path)."""

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config

    def fields(self) -> ComposeResult:
        from engine.paths import user_presets_dir

        yield Label(f"Save preset to {user_presets_dir()}")
        yield Label("name")
        yield Input(self.config.name, id="preset-name")
        yield Label("description")
        yield Input(self.config.description, id="preset-description")

    @on(Input.Submitted)
    @on(Button.Pressed, "#save")
    def save(self) -> None:
        from engine.config.presets import find_preset

        self.config.name = self.query_one("#preset-name", Input).value.strip()
        self.config.description = self.query_one("#preset-description", Input).value.strip()
        try:
            existing = find_preset(self.config.name)
        except UserError:
            existing = None
        from engine.paths import user_presets_dir

        if existing is not None and existing.parent == user_presets_dir():
            self.app.push_screen(ConfirmDialog(f"{existing} exists. Overwrite it?", "Overwrite", "Keep it"),
                                 lambda yes: self._write(overwrite=True) if yes else None)
        else:
            self._write(overwrite=False)

    def _write(self, overwrite: bool) -> None:
        from engine.config.presets import save_preset, user_preset_path

        try:  # a name, never a path: "a/b" must not write outside the presets folder
            path = save_preset(self.config, str(user_preset_path(self.config.name)), overwrite=overwrite)
        except UserError as exc:
            self.show_error(str(exc))
            return
        self.app.notify(f"Saved {path}")
        self.dismiss(str(path))
