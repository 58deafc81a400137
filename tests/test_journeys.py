"""Whole journeys through the wizard by keys alone, at 80x24 and 100x30, checking what a person sees after every key."""

from __future__ import annotations

import pytest
from conftest import wait_until
from journey import press, settle_and_look, tab_through, without_animation
from textual.widgets import Input

from tui.wizard.app import make_app
from tui.wizard.steps.training import FieldGroup

pytestmark = pytest.mark.slow  # the wizard's analyses run in spawned processes, and the journey trains

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((100, 30), id="100x30")]


@pytest.fixture
def in_tmp(monkeypatch, tmp_path):
    """A working folder of the user's own: runs/ lands here."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def tab_to(pilot, widget_id: str, most: int = 80) -> None:
    """Tab (checking after every key) until the widget with this id has focus."""
    for _ in range(most):
        focused = pilot.app.screen.focused
        if focused is not None and focused.id == widget_id:
            return
        await press(pilot, "tab")
    raise AssertionError(f"tab never reached #{widget_id}")


async def type_into(pilot, text: str) -> None:
    """Clear the focused input and type, checking after every key."""
    await press(pilot, "end", "ctrl+u", *list(text))


@pytest.mark.parametrize("size", SIZES)
async def test_every_setting_of_every_step_is_reachable_and_in_view(size, in_tmp):
    app = without_animation(make_app(runs_root=str(in_tmp / "runs"), warm_imports=False))
    async with app.run_test(size=size) as pilot:
        await settle_and_look(pilot)
        await press(pilot, "enter")  # Start: New run
        assert app.current_step == "model"
        await press(pilot, *list("tiny-demo"), "enter")
        await settle_and_look(pilot)
        await tab_through(pilot)

        await press(pilot, "ctrl+n")  # Hardware
        await tab_through(pilot)

        await press(pilot, "ctrl+n")  # Method: each preset button and ctrl+f update the memory panel
        await settle_and_look(pilot)
        await tab_through(pilot)
        for preset, rank in (("heavy", 64), ("light", 8)):
            await tab_to(pilot, f"lora-{preset}")
            await press(pilot, "enter")
            assert app.config.lora["r"] == rank
            await settle_and_look(pilot)
            panel = str(app.query_one("#memory").render())
            assert f"trainable {app.state.estimate.estimate.trainable_params:,} params" in panel
        await press(pilot, "ctrl+f")
        await wait_until(pilot, lambda: "fit and fast for" in str(app.query_one("#probe-result").render()),
                         what="fit and fast")
        await settle_and_look(pilot)

        await press(pilot, "ctrl+n")  # Dataset
        await settle_and_look(pilot)
        await tab_through(pilot)

        await press(pilot, "ctrl+n")  # Training: every group's every field, and Advanced opened by keys
        training = app.query_one("#training")
        await wait_until(pilot, lambda: training.built, what="the training fields")
        focused = await tab_through(pilot)
        fields = [w for w in training.query(".field Input, .field Select")]
        unreached = [w.id for w in fields if w not in focused]
        assert not unreached, f"tab never reached {unreached}"
        advanced = [c for c in training.query(FieldGroup) if c.title.startswith("Advanced")][0]
        title = advanced.query_one("CollapsibleTitle")
        for _ in range(80):
            if app.screen.focused is title:
                break
            await press(pilot, "tab")
        await press(pilot, "enter")
        assert not advanced.collapsed
        await press(pilot, "tab")
        assert app.screen.focused.id == "advanced-key"
        await tab_to(pilot, "in-output_dir")
        assert isinstance(app.screen.focused, Input)
        await tab_to(pilot, "in-max_steps")
        await type_into(pilot, "3")
        await settle_and_look(pilot)
        assert app.config.training["max_steps"] == 3

        await press(pilot, "ctrl+n")  # Review
        await settle_and_look(pilot)
        assert "ready to train" in str(app.query_one("#check-result").render())
        await tab_through(pilot)


@pytest.mark.parametrize("size", SIZES)
async def test_review_offers_a_free_run_directory_and_never_fails_after_ready(size, in_tmp):
    app = without_animation(make_app(runs_root=str(in_tmp / "runs"), warm_imports=False))
    async with app.run_test(size=size) as pilot:
        await settle_and_look(pilot)
        await press(pilot, "enter")  # New run, trained to its end
        app.config.training.update(max_steps=2, logging_steps=1)  # typing them is the other journey's part
        app.refresh_analysis()
        first_dir = app.config.training["output_dir"]
        await press(pilot, "ctrl+g")
        await settle_and_look(pilot)
        assert "ready to train" in str(app.query_one("#check-result").render())
        await press(pilot, "ctrl+t")
        from tui.monitor.screen import MonitorScreen

        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state.finished,
                         seconds=180, what="the first run to end")
        assert app.screen.state.end["status"] == "completed"
        await press(pilot, "w")  # back to the wizard
        await press(pilot, "ctrl+g")
        await settle_and_look(pilot)
        review = str(app.query_one("#check-result").render())
        assert "ready to train" not in review and first_dir in review  # the directory holds the first run now
        assert "completed run" in review and "--" not in review  # said in settings the wizard reaches, not CLI flags
        await tab_to(pilot, "use-free-run-dir")
        await press(pilot, "enter")
        assert app.config.training["output_dir"] != first_dir
        await settle_and_look(pilot)
        assert "ready to train" in str(app.query_one("#check-result").render())
        await press(pilot, "ctrl+t")
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state.finished,
                         seconds=180, what="the second run to end")
        assert app.screen.state.end["status"] == "completed", app.screen.state.end
