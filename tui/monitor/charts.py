"""A small braille line chart drawn with Textual's Line API (no plotting dependency)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
LABEL_WIDTH = 9


@dataclass
class Series:
    """A named curve and how to draw it."""

    name: str
    points: list[tuple[float, float]]
    color: str


def smooth(points: list[tuple[float, float]], weight: float) -> list[tuple[float, float]]:
    """Exponential moving average of the y values (weight 0 = raw)."""
    out, last = [], None
    for x, y in points:
        last = y if last is None else weight * last + (1 - weight) * y
        out.append((x, last))
    return out


def plot(series: list[Series], width: int, height: int, hlines: list[tuple[float, str]] = (),
         fmt: str = "{:.3g}") -> list[Text]:
    """The chart as `height` lines of text: y labels on the left, braille curves on the right."""
    plot_width = max(1, width - LABEL_WIDTH)
    visible = [s for s in series if s.points]
    ys = [y for s in visible for _, y in s.points] + [y for y, _ in hlines]
    xs = [x for s in visible for x, _ in s.points]
    if not ys or height < 2:
        return [Text("(no data yet)", style="dim")] + [Text("") for _ in range(max(0, height - 1))]
    y_min, y_max = min(ys), max(ys)
    if y_max == y_min:
        y_max, y_min = y_max + abs(y_max) * 0.05 + 1e-9, y_min - abs(y_min) * 0.05 - 1e-9
    x_min, x_max = (min(xs), max(xs)) if xs else (0, 1)
    x_span = (x_max - x_min) or 1
    rows, cols = height * 4, plot_width * 2
    cells = [[0] * plot_width for _ in range(height)]
    colors: list[list[str | None]] = [[None] * plot_width for _ in range(height)]

    def dot(px: int, py: int, color: str) -> None:
        if 0 <= px < cols and 0 <= py < rows:
            cells[py // 4][px // 2] |= _DOTS[py % 4][px % 2]
            colors[py // 4][px // 2] = color

    def to_pixel(x: float, y: float) -> tuple[int, int]:
        px = int(round((x - x_min) / x_span * (cols - 1)))
        py = int(round((y_max - y) / (y_max - y_min) * (rows - 1)))
        return px, py

    for y, color in hlines:
        _, py = to_pixel(x_min, y)
        for px in range(0, cols, 2):
            dot(px, py, color)
    for s in visible:
        previous = None
        for x, y in s.points:
            current = to_pixel(x, y)
            if previous is None:
                dot(*current, s.color)
            else:
                steps = max(abs(current[0] - previous[0]), abs(current[1] - previous[1]), 1)
                for i in range(1, steps + 1):
                    dot(previous[0] + (current[0] - previous[0]) * i // steps,
                        previous[1] + (current[1] - previous[1]) * i // steps, s.color)
            previous = current
    lines = []
    for row in range(height):
        if row == 0:
            label = fmt.format(y_max)
        elif row == height - 1:
            label = fmt.format(y_min)
        elif row == height // 2:
            label = fmt.format((y_max + y_min) / 2)
        else:
            label = ""
        text = Text(f"{label:>{LABEL_WIDTH - 1}} ", style="dim")
        for run, color in _runs(cells[row], colors[row]):
            text.append(run, style=color or "")
        lines.append(text)
    return lines


def _runs(bits: list[int], colors: list[str | None]) -> list[tuple[str, str | None]]:
    """A row of cells as runs of one colour: a few spans per line instead of one per cell (cheaper to draw)."""
    runs: list[tuple[str, str | None]] = []
    chars: list[str] = []
    current = colors[0] if colors else None
    for cell, color in zip(bits, colors):
        if color != current and chars:
            runs.append(("".join(chars), current))
            chars = []
        current = color
        chars.append(chr(0x2800 + cell) if cell else " ")
    if chars:
        runs.append(("".join(chars), current))
    return runs


class LineChart(Widget):
    """A chart widget; `set_data` replaces its series and redraws once."""

    DEFAULT_CSS = "LineChart { height: 1fr; min-height: 4; }"

    def __init__(self, fmt: str = "{:.3g}", id: str | None = None) -> None:
        super().__init__(id=id)
        self.fmt = fmt
        self.series: list[Series] = []
        self.hlines: list[tuple[float, str]] = []
        self._strips: list[Strip] = []
        self._drawn_size = (0, 0)

    def set_data(self, series: list[Series], hlines: list[tuple[float, str]] = ()) -> None:
        """Replace the curves (and horizontal reference lines) and redraw, unless they are the ones drawn."""
        hlines = list(hlines)
        if (series, hlines) == (self.series, self.hlines):
            return
        self.series, self.hlines = series, hlines
        self._strips = []
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size.width, self.size.height
        if not self._strips or self._drawn_size != (width, height):
            console = self.app.console
            self._strips = [Strip([Segment(seg.text, seg.style or Style()) for seg in line.render(console)])
                            .crop_extend(0, width, None)
                            for line in plot(self.series, width, height, self.hlines, self.fmt)]
            self._drawn_size = (width, height)
        return self._strips[y] if y < len(self._strips) else Strip.blank(width)
