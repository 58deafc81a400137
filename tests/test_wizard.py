"""The wizard driven with keys alone through Pilot, as a user would over SSH."""

import os
from pathlib import Path

import pytest
from conftest import REPO, settle_wizard, wait_until
from textual.command import CommandList, CommandPalette

from engine.errors import UserError
from engine.yamlio import load_yaml
from tui.shared.dialogs import ConfirmDialog, SavePresetDialog
from tui.wizard.app import make_app
from tui.wizard.steps.dataset import DatasetStep

pytestmark = pytest.mark.slow  # every test starts the wizard, whose analyses run in spawned processes

SIZE = (100, 30)


async def settle(pilot) -> None:
    """Wait for the analyses (estimate, preview, check) of every edit and the screen to catch up."""
    await settle_wizard(pilot)


async def replace_text(pilot, text: str) -> None:
    """Clear the focused input and type text."""
    await pilot.press("end", "ctrl+u", *list(text))


@pytest.fixture
def in_repo(monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    return tmp_path


async def test_walk_the_whole_wizard_with_keys_and_save_a_preset(in_repo, user_config):
    app = make_app(runs_root=str(in_repo / "runs"), warm_imports=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # Start: "New run"
        assert app.current_step == "model"
        await pilot.press(*list("tiny-demo"), "enter")  # filter the catalog, choose the match
        await settle(pilot)
        assert app.config.model.name_or_path == "tiny-demo"
        await pilot.press("ctrl+n")
        assert app.current_step == "hardware"
        await pilot.press("ctrl+n")
        assert app.current_step == "method"
        await pilot.press("tab", "tab", "tab", "tab")  # method -> light -> balanced -> heavy -> r
        await replace_text(pilot, "8")
        await settle(pilot)
        assert app.config.lora["r"] == 8
        await pilot.press("ctrl+n")
        assert app.current_step == "dataset"
        await settle(pilot)
        assert "alpaca format" in str(app.query_one("#data-preview").render())
        await pilot.press("ctrl+n")
        assert app.current_step == "training"
        await pilot.press("tab", "tab")  # num_train_epochs -> max_steps -> learning_rate
        await replace_text(pilot, "1e-3")
        await settle(pilot)
        assert app.config.training["learning_rate"] == pytest.approx(1e-3)
        await pilot.press("ctrl+p", "ctrl+n", "ctrl+n")  # back and forth keeps every value
        assert app.config.lora["r"] == 8 and app.current_step == "review"
        await pilot.press("ctrl+s")
        await pilot.pause()
        await replace_text(pilot, "walked")
        await pilot.press("enter")
        await pilot.pause()
        assert not (user_config.parent / "draft.yaml").exists()  # saved: nothing is unsaved any more
    saved = user_config / "walked.yaml"
    data = load_yaml(saved.read_text())
    assert data["name"] == "walked"
    assert data["model"]["name_or_path"] == "tiny-demo"
    assert data["lora"]["r"] == 8
    assert data["training"]["learning_rate"] == pytest.approx(1e-3)
    assert Path(data["dataset"]["path"]).is_file()


async def test_bad_learning_rate_and_batch_size_are_shown_at_their_fields(in_repo):
    app = make_app("demo", runs_root=str(in_repo / "runs"), warm_imports=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.show_step("training")
        await wait_until(pilot, lambda: getattr(app.focused, "id", None) == "in-num_train_epochs", what="the first field")
        await pilot.press("tab", "tab")
        assert app.focused.id == "in-learning_rate"
        await replace_text(pilot, "abc")
        await pilot.pause()
        assert "expected float" in str(app.query_one("#note-learning_rate").render())  # in place of its help
        assert app.config.training.get("learning_rate") != "abc"  # the bad text never reached the config
        app.query_one("#in-per_device_train_batch_size").focus()
        await replace_text(pilot, "0")
        await settle(pilot)
        assert "must be >= 1" in str(app.query_one("#note-per_device_train_batch_size").render())


async def test_a_missing_dataset_file_is_named_on_dataset_and_review(in_repo):
    app = make_app("demo", runs_root=str(in_repo / "runs"), warm_imports=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.show_step("dataset")
        await pilot.pause()
        await replace_text(pilot, "no/such/file.jsonl")
        await pilot.press("enter")
        await settle(pilot)
        assert "does not exist" in str(app.query_one(DatasetStep).query_one("#data-preview").render())
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert "no/such/file.jsonl does not exist" in str(app.query_one("#check-result").render())


async def test_saving_asks_before_overwriting(in_repo, user_config):
    app = make_app("demo", runs_root=str(in_repo / "runs"), warm_imports=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for _ in range(2):
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: isinstance(app.screen, SavePresetDialog), what="the save dialog")
            await replace_text(pilot, "mine")
            await pilot.press("enter")
            await wait_until(pilot, lambda: not isinstance(app.screen, SavePresetDialog), what="the dialog to close")
        assert isinstance(app.screen, ConfirmDialog)
        assert "Overwrite" in str(app.screen.query_one("Static").render())
        await pilot.press("n")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmDialog), what="the question to close")
    assert (user_config / "mine.yaml").is_file()


async def test_preset_option_opens_review_and_palette_goes_to_a_step(in_repo):
    app = make_app("demo", runs_root=str(in_repo / "runs"), warm_imports=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.current_step == "review"
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the command palette")

        def palette_offers(text: str) -> bool:
            options = app.screen.query(CommandList)
            return bool(options) and options.first().option_count > 0 and text in str(options.first().get_option_at_index(0).prompt)

        await pilot.press(*list("Go to step 4"))
        await wait_until(pilot, lambda: palette_offers("Go to step 4"), what="the palette's match")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.current_step == "method", what="the Method step")


def test_first_screen_imports_no_training_library():
    import subprocess
    import sys

    code = ("import sys\nfrom tui.wizard.app import make_app\napp = make_app(warm_imports=False)\n"
            "print([m for m in ('torch', 'transformers', 'trl', 'datasets', 'peft') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_make_app_with_a_bad_preset_is_a_user_error():
    with pytest.raises(UserError):
        make_app("no-such-preset")


def test_starting_a_run_from_the_wizard_imports_nothing_heavy_on_the_ui_thread():
    import subprocess
    import sys

    code = ("import sys\nfrom engine.config.presets import load_preset\nfrom tui.monitor.screen import MonitorScreen\n"
            "MonitorScreen.for_training(load_preset('demo')[0])\n"
            "print([m for m in ('torch', 'transformers', 'trl', 'datasets', 'peft') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


async def test_fit_and_fast_key_optimizes_keeps_the_effective_batch_and_review_lists_the_changes(in_repo, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)  # other tests' runs pick a GPU by setting it
    from fake_nvml import FakeNvml, a100

    from engine.machine.hardware import hardware_report

    app = make_app("low-memory-8gb", runs_root=str(in_repo / "runs"), warm_imports=False,
                   hardware=lambda: hardware_report(FakeNvml([a100()])))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.show_step("method")
        await pilot.pause()
        await pilot.press("ctrl+f")
        await wait_until(pilot, lambda: app.config.optimized is not None, seconds=120, what="fit and fast")
        batch = app.config.training_value("per_device_train_batch_size")
        accumulation = app.config.training_value("gradient_accumulation_steps")
        assert batch > 1 and batch * accumulation == 16
        assert app.config.training_value("learning_rate") == 2.0e-4
        assert app.config.training["tf32"] is True  # planned for the (fake) A100, not for this CPU
        app.show_step("review")
        await pilot.pause()
        from tui.wizard.steps.review import optimized_text

        listed = optimized_text(app.config).plain
        assert "per_device_train_batch_size" in listed and "fit and fast changed" in listed


async def test_train_on_the_prompt_too_is_a_keyboard_choice_on_dataset_at_80x24(in_repo):
    app = make_app("demo", runs_root=str(in_repo / "runs"), warm_imports=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.show_step("dataset")
        await pilot.pause()
        await pilot.press("tab", "tab", "tab", "tab")  # path -> format -> template -> eval split -> learn
        assert app.focused.id == "data-learn"
        await pilot.press("enter", "down", "enter")
        await settle(pilot)
        assert app.config.training["assistant_only_loss"] is False
        assert app.config.training["completion_only_loss"] is False
        sample = app.state.preview.sample
        assert sample.learned_tokens == sample.tokens
        assert f"{sample.tokens} tokens, {sample.tokens} learned" in str(app.query_one("#data-preview").render())
        await pilot.press("enter", "up", "enter")
        await settle(pilot)
        assert "assistant_only_loss" not in app.config.training and "completion_only_loss" not in app.config.training
        assert 0 < app.state.preview.sample.learned_tokens < app.state.preview.sample.tokens


async def test_a_recorded_run_opens_in_the_monitor_and_w_returns_to_the_wizard_at_method(in_repo):
    from tui.monitor.screen import MonitorScreen
    from tui.wizard.messages import RunOpened

    app = make_app(warm_imports=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.post_message(RunOpened(str(REPO / "tests" / "data" / "recorded-run")))
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state.finished,
                         30, "the recorded run in the monitor")
        await pilot.press("w")
        await wait_until(pilot, lambda: not isinstance(app.screen, MonitorScreen), 10, "the wizard again")
        assert app.current_step == "method"
        assert len(app.screen_stack) == 1


async def test_unsaved_edits_are_kept_as_a_draft_and_offered_back_at_the_next_start(in_repo, user_config):
    draft = user_config.parent / "draft.yaml"
    app = make_app(runs_root=str(in_repo / "runs"), warm_imports=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")  # New run
        await pilot.press("ctrl+n", "ctrl+n")  # model -> hardware -> method
        await pilot.press("tab", "tab", "tab", "tab")
        await replace_text(pilot, "24")
        await settle(pilot)
        assert load_yaml(draft.read_text())["config"]["lora"]["r"] == 24
        await replace_text(pilot, "12")
        app.exit()  # right after the edit, before the quiet time: the quit itself keeps it
    assert load_yaml(draft.read_text())["config"]["lora"]["r"] == 12

    app = make_app(runs_root=str(in_repo / "runs"), warm_imports=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.current_step == "start"
        assert "Restore unsaved draft" in str(app.query_one("#start-options").get_option_at_index(0).prompt)
        await pilot.press("enter")
        await settle(pilot)
        assert app.current_step == "review" and app.config.lora["r"] == 12
        app.config.training["max_steps"] = 2  # a short run: this test is about the draft (ctrl+t checks it first)
        await pilot.press("ctrl+t")  # training starts: the run directory holds the config now
        await wait_until(pilot, lambda: not draft.exists(), 10, "the draft to be forgotten")
        await wait_until(pilot, lambda: app.screen.state.finished, 120, "the two-step run to end")


async def test_the_save_dialog_shows_its_error_and_escape_or_cancel_leaves_without_saving(in_repo, user_config):
    app = make_app(warm_imports=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+s")  # on Start nothing is chosen yet: no save
        await pilot.pause()
        assert not isinstance(app.screen, SavePresetDialog)
        await pilot.press("enter")  # New run
        await settle(pilot)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SavePresetDialog), what="the save dialog")
        await replace_text(pilot, "bad/name")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SavePresetDialog) and str(app.screen.query_one("#form-error").render())
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, SavePresetDialog), what="the dialog to close")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SavePresetDialog), what="the save dialog again")
        await pilot.click("#cancel")
        await wait_until(pilot, lambda: not isinstance(app.screen, SavePresetDialog), what="cancel to close it")
    assert not user_config.exists() or not list(user_config.iterdir())


async def test_the_dataset_step_shows_the_spans_marked_turns_learn(in_repo):
    app = make_app("demo", runs_root=str(in_repo / "runs"), warm_imports=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.show_step("dataset")
        await pilot.pause()
        await pilot.press("tab")  # path -> format: auto, as the file is chat data and the demo preset says alpaca
        await pilot.press("enter", "home", "enter")
        await settle(pilot)
        await pilot.press("shift+tab")
        await replace_text(pilot, "tests/data/shapes/axolotl-chat-train.jsonl")
        await pilot.press("enter")
        await settle(pilot)
        assert app.config.dataset.format == "auto"
        preview = app.state.preview
        assert preview.problem is None, preview.problem
        assert [s.text for s in preview.sample.segments if s.learned] == ["Hello</s>", "How are you?", " very well",
                                                                           "</s>"]
        assert "learn only their train_detail spans" in str(app.query_one("#data-preview").render())


async def wait_for_import(pilot) -> None:
    """Wait for the Start step's import worker to show its result, then for the analyses of the config it brought."""
    await wait_until(pilot, lambda: not str(pilot.app.query_one("#import-result").render()).startswith("reading "),
                     60, "the import worker's result")
    await wait_until(pilot, lambda: pilot.app.state.import_report is not None, 10, "the imported config")
    await settle(pilot)


async def open_import(pilot) -> None:
    """Choose "Import a file" on Start, as a person does: the path field appears under the choices, focused."""
    options = pilot.app.query_one("#start-options")
    options.focus()
    options.highlighted = options.get_option_index("import")
    await pilot.press("enter")
    await wait_until(pilot, lambda: getattr(pilot.app.focused, "id", None) == "import-path", 10, "the import path field")


async def test_start_imports_another_tools_config_as_it_imports_code_off_the_ui_thread(in_repo, monkeypatch):
    """The file is read in a worker: the screen says which file while the read waits, then shows the report."""
    import threading

    from engine.importing import detect

    released = threading.Event()
    read = detect.preset_from_file

    def read_when_released(path: str, name: str | None = None):
        assert released.wait(10), "the import blocked the UI thread: the screen could not say it was reading"
        return read(path, name)

    monkeypatch.setattr(detect, "preset_from_file", read_when_released)
    app = make_app(runs_root=str(in_repo / "runs"), warm_imports=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_import(pilot)
        await pilot.press(*list("tests/data/imports/axolotl_chat_template.yml"), "enter")
        await pilot.pause()
        assert str(app.query_one("#import-result").render()) == "reading tests/data/imports/axolotl_chat_template.yml…"
        released.set()
        await wait_for_import(pilot)
        assert app.config.model.name_or_path == "Qwen/Qwen2.5-0.5B-Instruct"
        chats, segments = app.config.dataset.sources  # both datasets, each with its own keys
        assert (chats.message_keys, chats.train_on_eos) == ({"role": "from", "content": "value"}, "last")
        assert segments.path.endswith("axolotl_segments.jsonl")
        assert "not read: datasets" not in str(app.query_one("#import-result").render())

        await open_import(pilot)
        await pilot.press("end", "ctrl+u", *list("missing.yml"), "enter")
        await wait_until(pilot, lambda: not str(app.query_one("#import-result").render()).startswith("reading "),
                         60, "the import worker's refusal")
        with pytest.raises(UserError) as refused:
            read("missing.yml")
        assert str(app.query_one("#import-result").render()) == str(refused.value)  # the engine's words, unchanged
        assert app.config.model.name_or_path == "Qwen/Qwen2.5-0.5B-Instruct"  # a refused file replaces nothing

        released.clear()  # an import still reading when the person picks New run must not replace the new config
        await open_import(pilot)
        await pilot.press("end", "ctrl+u", *list("tests/data/imports/axolotl_chat_template.yml"), "enter")
        await pilot.pause()
        options = app.query_one("#start-options")
        options.focus()
        options.highlighted = options.get_option_index("new")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.current_step == "model", 10, "the model step of the new run")
        assert str(app.query_one("#import-result").render()) == "import cancelled: another choice was made"
        released.set()
        await wait_until(pilot, lambda: not any(w.is_running for w in app.workers if w.group == "import"), 30,
                         "the cancelled import's thread")
        await settle(pilot)
        assert app.config.model.name_or_path == "tiny-demo" and app.current_step == "model"


async def test_start_reads_the_recent_runs_off_the_ui_thread_and_lists_them_after_the_presets(in_repo, monkeypatch):
    """Listing a run reads its events: with many long runs, Start is drawn and New run can be chosen meanwhile."""
    import threading

    from engine.record import recent

    released = threading.Event()
    find = recent.find_runs

    def find_when_released(*args, **kwargs):
        assert released.wait(10), "the runs were read on the UI thread: Start could not be drawn before them"
        return find(*args, **kwargs)

    monkeypatch.setattr(recent, "find_runs", find_when_released)
    earlier = in_repo / "runs" / "earlier"
    earlier.mkdir(parents=True)
    (earlier / "events.jsonl").write_text('{"event": "start", "time": 1.0, "name": "earlier"}\n')
    app = make_app(runs_root=str(in_repo / "runs"), warm_imports=False)

    def listed() -> list[str]:
        options = app.query("#start-options")
        return [options.first().get_option_at_index(i).id for i in range(options.first().option_count)] if options else []

    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "new" in listed(), 10, "Start's choices")
        assert not any((option or "").startswith("run:") for option in listed())
        released.set()
        await settle(pilot)
        choices = listed()
        presets = [index for index, choice in enumerate(choices) if (choice or "").startswith("preset:")]
        assert presets and choices[-1] == f"run:{earlier}" and presets[-1] < len(choices) - 1
        await pilot.press("enter")  # the highlight stayed on the first choice: New run
        assert app.current_step == "model"


async def test_a_step_never_shown_does_not_edit_the_config(in_repo):
    """The Method step gets the estimate while hidden; filling its module list then must not replace all-linear."""
    app = make_app("demo", runs_root=str(in_repo / "runs"), warm_imports=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)  # opened at Review: the Method step is mounted but never shown
        assert app.config.lora["target_modules"] == "all-linear"
        assert not app.state.unsaved


async def test_an_import_at_80x24_shows_what_was_not_read_first_and_every_step_states_one_precision(in_repo, tmp_path):
    """A LLaMA-Factory YAML (bf16: true, a relative output_dir) imported on a CPU machine, with keys alone."""
    from fake_nvml import FakeNvml
    from screen_text import svg_lines

    from engine.machine.hardware import hardware_report
    from engine.record.run_index import record_run

    def screen() -> str:
        return "\n".join(svg_lines(app.export_screenshot()))

    elsewhere = tmp_path / "saves" / "earlier"  # a run the index holds, outside the runs root
    elsewhere.mkdir(parents=True)
    (elsewhere / "events.jsonl").write_text('{"event": "start", "time": 1.0, "name": "earlier"}\n')
    record_run(elsewhere)
    cpu_decision = "weights bfloat16, mixed precision bf16, bf16 autocast on the CPU"  # accelerate autocasts on CPU
    app = make_app(runs_root=str(tmp_path / "runs"), warm_imports=False,
                   hardware=lambda: hardware_report(FakeNvml([], fail_init=True)))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        options = app.query_one("#start-options")
        assert f"run:{elsewhere}" in [options.get_option_at_index(i).id for i in range(options.option_count)]
        await pilot.press("down", "enter")  # New run, then Import a file
        await pilot.pause()
        assert app.focused.id == "import-path"
        await pilot.press(*list("tests/data/imports/llama3_lora_sft.yaml"), "enter")
        await wait_for_import(pilot)
        shown = screen()
        assert "not read: template = 'llama3'" in shown and "4 not read, 2 warning(s), 34 settings read" in shown
        assert "read 34 settings\n" not in shown  # the count comes last, below the fold of the report
        await pilot.press("end")  # the report has the focus: its last line is reached by keys
        assert "read 34 settings" in screen() and "overwrite_output_dir" in screen()

        await pilot.press("ctrl+n", "ctrl+n")
        await settle(pilot)
        assert app.current_step == "hardware"
        assert f"decision: {cpu_decision}" in str(app.query_one("#precision-reason").render())
        assert "fp32" not in str(app.query_one("#cpu-banner").render())
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert cpu_decision in str(app.query_one("#method-precision").render())
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert "not read: template = 'llama3'" in str(app.query_one("#review-import").render())
        run = str(app.query_one("#review-run").render())
        assert str((REPO / "saves" / "llama3-8b" / "lora" / "sft").resolve()) in run and cpu_decision in run


def test_the_analysis_processes_work_in_the_folder_the_wizard_runs_in(tmp_path, monkeypatch):
    """A pool started in one folder serves a later wizard in another: relative paths are read from the wizard's."""
    from tui.wizard.job_processes import JOBS

    for name in ("first", "second"):
        folder = tmp_path / name
        folder.mkdir()
        monkeypatch.chdir(folder)
        JOBS.open_pool()
        assert JOBS.run(os.getcwd) == str(folder)
