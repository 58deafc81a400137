"""The wizard's Dataset step edits a mixture by keys at 80x24: sources added, shared, shown, chosen and removed."""

from __future__ import annotations

import pytest
from conftest import REPO
from journey import press, settle_and_look, without_animation

from tui.wizard.app import make_app

pytestmark = pytest.mark.slow  # the wizard's analyses run in spawned processes

SUPPORT = str(REPO / "tests" / "data" / "mixture" / "support.jsonl")


async def test_the_dataset_step_edits_a_two_source_mixture_at_80x24(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    app = without_animation(make_app(runs_root=str(tmp_path / "runs"), warm_imports=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle_and_look(pilot)
        await press(pilot, "enter")  # Start: New run (tiny-demo on the demo data)
        await press(pilot, *list("tiny-demo"), "enter")
        await press(pilot, "ctrl+n", "ctrl+n", "ctrl+n")  # Hardware, Method, Dataset
        assert app.current_step == "dataset"
        await settle_and_look(pilot)
        await press(pilot, "f2")  # a second source, its path typed
        assert app.screen.focused.id == "data-path"
        await press(pilot, *list(SUPPORT), "enter")
        await press(pilot, "tab", "tab", "tab", "tab", "tab", "tab")
        assert app.screen.focused.id == "data-share"
        await press(pilot, "2")
        await settle_and_look(pilot)
        dataset = app.config.dataset
        assert [(s.path.rsplit("/", 1)[-1], s.share) for s in dataset.sources] == [("demo-alpaca.jsonl", None),
                                                                                   ("support.jsonl", 2.0)]
        listing = str(app.query_one("#data-sources").render())
        assert "▶ 2. support.jsonl ×2: 4 rows, 8 trained" in listing and "1. demo-alpaca.jsonl: 286 rows" in listing
        assert "of learned" in listing
        shown = str(app.query_one("#data-preview").render())
        assert "source 2: training row" in shown and any(word in shown for word in ("order", "password", "card", "invoice"))
        await press(pilot, "ctrl+up")  # the first source, its own sample
        assert app.query_one("#data-path").value.endswith("demo-alpaca.jsonl")
        assert "source 1: training row 0" in str(app.query_one("#data-preview").render())
        await press(pilot, "ctrl+down", "ctrl+y")  # remove the second: one source again, written short
        await settle_and_look(pilot)
        assert not app.config.dataset.is_mixture and app.config.dataset.path.endswith("demo-alpaca.jsonl")
        assert "sources" not in app.config.to_dict()["dataset"]
