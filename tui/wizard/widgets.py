"""Small widgets shared by the wizard steps."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

STEP_TITLES = ("Start", "Model", "Hardware", "Method", "Dataset", "Training", "Review")
STEP_IDS = tuple(title.lower() for title in STEP_TITLES)


class StepIndicator(Static):
    """The row of step names with the current one highlighted."""

    def __init__(self, current: str, *, id: str) -> None:
        super().__init__(_step_row(current), id=id)  # drawn with its first layout, not restyled and laid out again

    def show(self, current: str) -> None:
        """Highlight the current step."""
        self.update(_step_row(current))


def _step_row(current: str) -> Text:
    """The step names, the current one highlighted."""
    text = Text()
    for number, (step_id, title) in enumerate(zip(STEP_IDS, STEP_TITLES), start=1):
        style = "bold reverse" if step_id == current else "dim"
        text.append(f" {number} {title} ", style=style)
        if number < len(STEP_IDS):
            text.append("›", style="dim")
    return text


def bar(used: float, total: float, width: int = 20) -> Text:
    """A text bar for used/total (memory)."""
    share = 0.0 if total <= 0 else min(1.0, used / total)
    filled = int(round(share * width))
    style = "red" if share > 0.9 else "yellow" if share > 0.7 else "green"
    return Text("█" * filled, style=style) + Text("░" * (width - filled), style="dim")

