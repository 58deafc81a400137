"""Command palette entries (ctrl+o): go to a step, load or save a preset, train, theme."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.wizard.widgets import STEP_IDS, STEP_TITLES


class WizardCommands(Provider):
    """Commands of the wizard, including one per preset to load."""

    def _commands(self) -> list[tuple[str, object, str]]:
        from engine.config.presets import list_presets

        app = self.app
        theme = ("Toggle dark/light theme", self._toggle_theme, "switch between dark and light")
        if app.is_monitor(self.screen):  # the steps, presets and training are the wizard's: not while a run is watched
            return [theme]
        commands = [(f"Go to step {n}: {title}", partial(app.show_step, step_id), f"show the {title} step")
                    for n, (step_id, title) in enumerate(zip(STEP_IDS, STEP_TITLES), start=1)]
        commands += [("Save preset", app.action_save_preset, "save the run as a YAML preset"),
                     ("Start training", app.action_start_training, "train this run with the live monitor"),
                     theme]
        for preset in list_presets():
            commands.append((f"Load preset {preset.name}", partial(self._load, str(preset.path)), preset.description))
        return commands

    def _toggle_theme(self) -> None:
        self.app.theme = "textual-light" if self.app.theme != "textual-light" else "textual-dark"

    def _load(self, path: str) -> None:
        start = self.app.query_one("#start")
        start._load_preset(path)

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
