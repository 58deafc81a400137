"""The monitor as an app of its own, for `sft-wizard train` on a terminal and `sft-wizard attach`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import App

from tui.monitor.screen import MonitorScreen

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig


class MonitorApp(App[int]):
    """Shows one MonitorScreen; quitting the screen ends the app."""

    CSS_PATH = "../sft_wizard.tcss"
    TITLE = "sft-wizard monitor"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, screen: MonitorScreen) -> None:
        super().__init__()
        self.monitor = screen

    @classmethod
    def train(cls, config: "RunConfig", output_dir: str | None, resume: str | None, allow_changes: bool = False) -> "MonitorApp":
        """Train config in this process under the monitor (allow_changes: see `train --allow-changes`)."""
        return cls(MonitorScreen.for_training(config, output_dir, resume, allow_changes=allow_changes))

    @classmethod
    def attach(cls, run_dir: str) -> "MonitorApp":
        """Follow (or replay) a run directory."""
        return cls(MonitorScreen.for_run_dir(run_dir))

    def on_mount(self) -> None:
        from tui.hangup import exit_on_hangup

        exit_on_hangup(self)
        self.push_screen(self.monitor)

    @on(MonitorScreen.Closed)
    def monitor_closed(self, message: MonitorScreen.Closed) -> None:
        if message.to_wizard:
            self.notify("The wizard is available when the monitor was opened from it: run `sft-wizard`.")
            return
        self.exit(0)
