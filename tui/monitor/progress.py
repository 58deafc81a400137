"""The monitor's progress row: step, percent, loss and ETA always, then a bar in the width left over."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from engine.record.state import RunState, format_duration

MIN_BAR_WIDTH = 8
"""Narrower than this, a bar says nothing the percentage does not: it is left out."""
GAP = "  "


@dataclass(frozen=True)
class Progress:
    """What the row shows: the figures that must fit, those shown when there is room, and the done fraction."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    fraction: float | None = None
    finished: bool = False


def progress_text(progress: Progress, width: int) -> tuple[str, int]:
    """The row's words for `width` columns and the width left for the bar (0: no bar)."""
    words = GAP.join(progress.required)
    for part in progress.optional:  # in order of importance: stop at the first that does not fit
        longer = f"{words}{GAP}{part}"
        if len(longer) + 1 + MIN_BAR_WIDTH > width:
            break
        words = longer
    bar = width - len(words) - 1
    return words, bar if bar >= MIN_BAR_WIDTH else 0


def bar_text(fraction: float, width: int, style: Style, background: Style) -> Text:
    """A bar of `width` cells, `fraction` of it drawn in `style`, to the half cell."""
    filled = round(min(max(fraction, 0.0), 1.0) * width * 2) / 2
    full, half = int(filled), filled > int(filled)
    text = Text("━" * full, style=style)
    if half:
        text.append("╸", style=style)
    text.append("━" * (width - full - half), style=background)
    return text


class ProgressLine(Widget):
    """One line that never cuts the figures that matter: the bar takes only the width they leave."""

    COMPONENT_CLASSES = {"progress-line--bar", "progress-line--complete", "progress-line--background"}
    DEFAULT_CSS = """
    ProgressLine { height: 1; }
    ProgressLine > .progress-line--bar { color: $primary; }
    ProgressLine > .progress-line--complete { color: $success; }
    ProgressLine > .progress-line--background { color: $surface-lighten-1; }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.progress = Progress()

    def show(self, progress: Progress) -> None:
        """Draw these figures (nothing is redrawn when they are the ones shown)."""
        if progress != self.progress:
            self.progress = progress
            self.refresh()

    def render(self) -> Text:
        progress = self.progress
        words, bar_width = progress_text(progress, self.content_size.width)
        if not bar_width:
            return Text(words)
        style = self.get_component_rich_style("progress-line--complete" if progress.finished else "progress-line--bar")
        bar = bar_text(progress.fraction or 0.0, bar_width, style,
                       self.get_component_rich_style("progress-line--background"))
        return Text.assemble(bar, " ", words)


def run_progress(state: RunState) -> Progress:
    """The progress row's figures: step, percent, latest loss and ETA always; the epoch when there is room."""
    total = state.total_steps
    percent = f"{100 * state.step // total}%" if total else "--%"
    loss = f"loss {state.train_loss[-1][1]:.4f}" if state.train_loss else "loss -"
    if state.phase == "done":
        eta = "0:00:00"
    else:
        eta = "-" if state.finished else format_duration(state.eta_seconds())
    return Progress(required=(f"step {state.step}/{total or '?'}", percent, loss, f"ETA {eta}"),
                    optional=(f"epoch {state.epoch:.2f}",), fraction=state.step / total if total else None,
                    finished=state.phase == "done")
