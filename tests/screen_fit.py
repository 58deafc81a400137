"""Texts a screen cuts at its right edge: the check behind the 80x24 snapshots."""

from __future__ import annotations

from collections.abc import Iterator

from textual.errors import NoWidget
from textual.geometry import Size
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input
from textual.widgets._footer import FooterKey

_UNBOUNDED = Size(10_000, 10_000)


def cut_texts(screen: Screen) -> list[str]:
    """One line per widget whose text does not fit its width, naming the widget and its text."""
    cuts = []
    palette_keys = [key for key in screen.query(FooterKey) if key.has_class("-command-palette")]
    palette_x = min((key.region.x for key in palette_keys), default=screen.size.width)
    for widget in _shown_widgets(screen):
        try:
            geometry = screen.find_widget(widget)
        except NoWidget:
            continue  # not laid out: another tab, a step not shown
        name, region = _name(widget), geometry.region
        if region.right > geometry.clip.right and not _scrolls_sideways(widget):
            cuts.append(f"{name} runs {region.right - geometry.clip.right} columns past its container: {_text(widget)!r}")
        elif isinstance(widget, Input) and not widget.value and len(widget.placeholder) > widget.content_region.width:
            cuts.append(f"{name} placeholder needs {len(widget.placeholder)} columns, has {widget.content_region.width}: "
                        f"{widget.placeholder!r}")
        elif isinstance(widget, FooterKey):
            needed = widget.get_content_width(_UNBOUNDED, _UNBOUNDED)
            if needed > widget.content_region.width:
                cuts.append(f"{name} wraps: needs {needed} columns, has {widget.content_region.width}: {_text(widget)!r}")
            elif widget not in palette_keys and region.right > palette_x:
                cuts.append(f"{name} lies under the command palette key: {_text(widget)!r}")
    return cuts


def _shown_widgets(node) -> Iterator[Widget]:
    """The widgets under node shown with all their ancestors (displayed, visible), parents first; hidden ones' skipped."""
    for child in node.children:
        if isinstance(child, Widget) and child.display and child.visible:
            yield child
            yield from _shown_widgets(child)


def _scrolls_sideways(widget: Widget) -> bool:
    """Whether a container around the widget has a horizontal scrollbar, so its cut part can be reached."""
    return any(isinstance(node, Widget) and node.allow_horizontal_scroll and node.scrollbar_size_horizontal > 0
               for node in widget.ancestors)


def _text(widget: Widget) -> str:
    """The widget's own text, for the failure message."""
    return str(widget.render())[:90].strip()


def _name(widget: Widget) -> str:
    return f"{type(widget).__name__}#{widget.id}" if widget.id else type(widget).__name__
