"""The key footer, rebuilt only when the keys it shows change."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class KeysFooter(Footer):
    """Textual's Footer, less its rebuild on every focus change.

    The stock footer removes and mounts all its keys whenever the focus moves, and that relayout of the whole
    screen is most of what a Tab costs on a step of many fields. Keys shown the same are left alone.
    """

    _shown: tuple | None = None

    def _keys_shown(self) -> tuple:
        """What compose would draw: each shown binding's key, action, label and state, the palette's included."""
        return tuple((binding.key, binding.action, binding.description, enabled, tooltip)
                     for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
                     if binding.show or binding.action == "command_palette")

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._shown = self._keys_shown()
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                # Styled compact before it mounts: each key's compact watcher then changes nothing, where it would
                # restyle the key once more (a tenth of the first screen's time, one update per key).
                widget.set_class(self.compact, "-compact", update=False)
            yield widget

    def bindings_changed(self, screen: Screen) -> None:
        if (self._bindings_ready and screen.app.app_focus and self.is_attached and screen is self.screen
                and self._shown == self._keys_shown()):
            return
        super().bindings_changed(screen)
