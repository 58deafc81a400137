"""A person at the keyboard: keys pressed one at a time, and after each what that person can see checked."""

from __future__ import annotations

from textual.errors import NoWidget
from textual.widget import Widget

from conftest import settle_wizard
from screen_fit import cut_texts

PREVIEW_SECTIONS = ("model", "dataset", "training")
"""The config sections the data preview is computed from (the estimate and the checks read all of it)."""


def unseen_focus(app) -> list[str]:
    """Why the focused widget is not wholly visible: outside its scroll container's view, the screen, or not drawn."""
    screen = app.screen
    widget = screen.focused
    if widget is None:
        return []
    try:
        geometry = screen.find_widget(widget)
    except NoWidget:
        return [f"{_name(widget)} has focus but is not drawn"]
    region, clip = geometry.region, geometry.clip.intersection(screen.region)
    visible = region.intersection(clip)
    if not visible.area:
        whole = False
    elif region.width > clip.width or region.height > clip.height:  # larger than its view: it must fill the view
        whole = visible.height == min(region.height, clip.height) and visible.width == min(region.width, clip.width)
    else:
        whole = visible == region
    return [] if whole else [f"{_name(widget)} has focus at {region} but only {visible} of it is visible (view {clip})"]


def stale_panels(app) -> list[str]:
    """The analyses whose shown result was computed from another config than the one being edited."""
    now = app.config.to_dict()
    stale = []
    for kind, made_from in app.state.analysed_from.items():
        sections = PREVIEW_SECTIONS if kind == "preview" else tuple(now)
        changed = [s for s in sections if made_from.get(s) != now.get(s)]
        if changed:
            stale.append(f"the {kind} shown was computed before {', '.join(changed)} changed")
    return stale


def what_a_person_cannot_see(app) -> list[str]:
    """Everything wrong on the screen now: cut texts (footer included) and a focus out of view."""
    return cut_texts(app.screen) + unseen_focus(app)


def without_animation(app):
    """The app with scrolling that jumps instead of gliding, so the screen after a key is final at once."""
    app.animation_level = "none"
    return app


async def press(pilot, *keys: str) -> None:
    """Press keys one at a time; after each, nothing is cut and the focus is in view."""
    for key in keys:
        await pilot.press(key)
        await pilot.pause(0)  # the events it caused are handled and the screen laid out; no wait for idle
        problems = what_a_person_cannot_see(pilot.app)
        assert not problems, f"after {key!r} on {_where(pilot.app)}:\n" + "\n".join(problems)


async def settle_and_look(pilot) -> None:
    """Wait for the analyses of every edit; then every panel shows the config as it is now."""
    await settle_wizard(pilot)
    problems = stale_panels(pilot.app) + what_a_person_cannot_see(pilot.app)
    assert not problems, f"on {_where(pilot.app)}:\n" + "\n".join(problems)


async def tab_through(pilot, most: int = 80) -> list[Widget]:
    """Tab from the focused widget until focus comes back round (checking after each key); the widgets focused."""
    app = pilot.app
    first = app.screen.focused
    seen: list[Widget] = [first] if first is not None else []
    for _ in range(most):
        await press(pilot, "tab")
        focused = app.screen.focused
        if focused is first or focused in seen:
            return seen
        seen.append(focused)
    raise AssertionError(f"tab did not come round in {most} presses on {_where(app)}")


def _where(app) -> str:
    step = getattr(app, "current_step", None) if app.screen is app.screen_stack[0] else None
    return f"step {step}" if step else type(app.screen).__name__


def _name(widget: Widget) -> str:
    return f"{type(widget).__name__}#{widget.id}" if widget.id else type(widget).__name__
