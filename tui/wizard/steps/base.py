"""What every wizard step shares: access to the edited config and a way to say it changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import VerticalScroll

from tui.wizard.messages import ConfigEdited
from tui.wizard.state import WizardState

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig


class Step(VerticalScroll):
    """A wizard step: loads its widgets from the config, writes edits back into it."""

    loading_values = False
    """True while load() sets widget values, so their change events are not taken as edits."""
    showing_config = False
    """True once load() has put the config into the widgets: before that, their values are not the config's."""
    shows_config = True
    """False for a step drawn from elsewhere (Start lists presets and runs): it is shown without the config made."""

    def __init__(self, state: WizardState, *, id: str) -> None:
        super().__init__(id=id)
        self.state = state
        """The wizard's shared state (owned by the app)."""

    @property
    def taking_edits(self) -> bool:
        """Whether a widget's change is the user's edit: the step shows the config and is not loading it."""
        return self.showing_config and not self.loading_values

    @property
    def config(self) -> "RunConfig":
        """The run config the wizard edits."""
        return self.state.config

    def edited(self, section: str) -> None:
        """Tell the app the config changed (estimates and checks rerun after a pause)."""
        if self.taking_edits:
            self.post_message(ConfigEdited(section))

    def edited_then_reload(self, section: str) -> None:
        """After an edit that changes other fields too (a preset button, fit and fast): say so, then show them all.

        Told whatever the widgets are doing: a user's action, not a widget's echo of load(), which a
        reload still in progress would otherwise swallow.
        """
        if self.showing_config:
            self.post_message(ConfigEdited(section))
        self.load(self.config)

    def load(self, config: "RunConfig | None") -> None:
        """Show the config's values (called whenever the step becomes visible; None for a step that shows no config)."""
        self.loading_values = True
        self.showing_config = True
        try:
            self.load_values(config)
        finally:
            self.call_after_refresh(self._loaded)

    def _loaded(self) -> None:
        self.loading_values = False

    def load_values(self, config: "RunConfig | None") -> None:
        """Set widget values from the config; steps override this."""

    def focus_first(self) -> None:
        """Focus the step's first control that a person can see (the screen's focus chain skips hidden ones)."""
        for widget in self.screen.focus_chain:
            if self in widget.ancestors:
                widget.focus()
                return
