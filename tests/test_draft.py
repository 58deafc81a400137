"""The wizard's draft: unsaved edits kept on disk, read back, forgotten."""

import os

from conftest import DEMO_DATA, REPO

from engine.config.draft import discard_draft, draft_path, load_draft, save_draft
from engine.config.presets import load_preset


def test_a_draft_reads_back_with_its_dataset_path_made_absolute(monkeypatch, user_config):
    monkeypatch.chdir(REPO)
    config, _, _ = load_preset("demo")
    config.dataset.path = os.path.relpath(DEMO_DATA, REPO)
    config.lora["r"] = 24
    save_draft(config)
    monkeypatch.chdir("/")  # the next start may be anywhere
    config, not_restored = load_draft().restore()
    assert config.lora["r"] == 24 and not_restored == []
    assert config.dataset.path == str(DEMO_DATA)
    discard_draft()
    assert load_draft() is None


def test_a_broken_draft_is_no_draft_and_a_bad_value_is_named(user_config):
    draft_path().parent.mkdir(parents=True, exist_ok=True)
    draft_path().write_text("config: [unclosed\n")
    assert load_draft() is None
    draft_path().write_text("saved_at: 1\nconfig: {name: d, model: {name_or_path: tiny-demo}, training: {learning_rate: -1}}\n")
    draft = load_draft()
    assert draft.model_name == "tiny-demo"
    config, not_restored = draft.restore()
    assert config.model.name_or_path == "tiny-demo"
    assert "training.learning_rate" in [problem.field for problem in not_restored]
