"""`sft-wizard eval` and `sft-wizard runs --compare` on two real demo runs that differ only in their learning rate."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO_DATA, REPO, run_command, wait_until
from screen_fit import cut_texts
from test_monitor_80x24 import SMALLEST, NoJobs, screen_rows

from engine.yamlio import dump_yaml, load_yaml

TASK = "tests/data/lm_eval_task/demo_capitals.yaml"
RATES = ("3.0e-3", "3.0e-4")
SHORT = ["--set", "training.max_steps=4", "--set", "training.logging_steps=1", "--set", "training.eval_strategy=steps",
         "--set", "training.eval_steps=2", "--set", "training.save_strategy=no"]


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two demo runs of 4 steps, trained at once, one at the demo's learning rate and one at a tenth of it."""
    root = tmp_path_factory.mktemp("runs")
    runs = [root / f"lr-{rate}" for rate in RATES]
    trainings = [subprocess.Popen([sys.executable, "-m", "tui", "train", "demo", "--headless", "--output-dir", str(run),
                                   *SHORT, "--set", f"training.learning_rate={rate}"],
                                  cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for run, rate in zip(runs, RATES)]
    for training in trainings:
        _, err = training.communicate(timeout=600)
        assert training.returncode == 0, err
    return runs[0], runs[1]


@pytest.mark.slow
def test_eval_scores_base_and_fine_tuned_on_the_held_out_rows_and_a_local_lm_eval_task(two_runs):
    run = two_runs[0]
    result = run_command("eval", str(run), "--limit", "3", "--tasks", TASK, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows"] == 3 and summary["source"].startswith("eval rows of")
    base, tuned = summary["models"]["base"], summary["models"]["fine_tuned"]
    for scores in (base, tuned):
        assert {"loss", "perplexity", "exact_match", "rougeL", "chrf", "bleu"} <= set(scores)
        assert 0 <= scores["exact_match"] <= 1 and 0 <= scores["rougeL"] <= 1
        assert scores["tasks"]["demo_capitals"]["acc,none"] in (0, 1 / 3, 2 / 3, 1)  # 3 documents (--limit 3)
    assert tuned["loss"] < base["loss"]  # four steps at 3e-3 already lower the loss on the held-out rows
    folder = run / "eval"
    assert json.loads((folder / "summary.json").read_text()) == {k: v for k, v in summary.items() if k != "written_to"}
    rows = [json.loads(line) for line in (folder / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and all({"prompt", "reference", "base", "fine_tuned"} <= set(r) for r in rows)
    assert all(r["reference"] and "### Response:" in r["prompt"] for r in rows)  # the alpaca prompt, as trained
    assert [r["fine_tuned"]["loss"] for r in sorted(rows, key=lambda r: -r["fine_tuned"]["loss"])] == \
        [next(r for r in rows if r["row"] == i)["fine_tuned"]["loss"] for i in summary["worst_rows"][:3]]
    report = (folder / "report.md").read_text()
    assert "| exact match |" in report and "| demo_capitals acc |" in report and "nrefs:1" in report
    assert not list(run.glob(".eval-*"))  # staged folder renamed into place

    text = run_command("eval", str(run), "--limit", "2")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[1].split() == ["base", "fine-tuned", "change"] and lines[2].startswith("loss")
    assert "rows where fine-tuned did worst" in text.stdout and "  reference:  " in text.stdout
    assert max(len(line) for line in lines if not line.startswith(("eval of", "written to", "note:"))) <= 80


@pytest.mark.slow
def test_eval_reads_a_file_in_another_format_through_the_training_pipeline(two_runs, tmp_path):
    rows = tmp_path / "held-out.jsonl"  # prompt/completion rows, for a run trained on alpaca rows
    prompt = "### Instruction:\nAdd the two numbers.\n\n### Input:\n2 and 3\n\n### Response:\n"
    rows.write_text(json.dumps({"prompt": prompt, "completion": "2 + 3 = 5."}) + "\n", encoding="utf-8")
    result = run_command("eval", str(two_runs[0]), "--data", str(rows), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows"] == 1 and summary["source"] == str(rows)
    row = json.loads((two_runs[0] / "eval" / "rows.jsonl").read_text())
    assert row["reference"] == "2 + 3 = 5." and row["prompt"] == prompt.strip()  # only the completion is learned


@pytest.mark.slow
def test_eval_refuses_bad_input_with_exit_2_naming_the_cause(two_runs, tmp_path):
    run = two_runs[0]
    unknown = run_command("eval", str(run), "--tasks", "hellaswagg")
    assert unknown.returncode == 2 and "no task of that name" in unknown.stderr and "hellaswag" in unknown.stderr
    offline = run_command("eval", str(run), "--tasks", "hellaswag")  # the tests run with HF_DATASETS_OFFLINE=1
    assert offline.returncode == 2 and "fills the Hugging Face cache" in offline.stderr
    missing = run_command("eval", str(run), "--data", str(tmp_path / "nothing.jsonl"))
    assert missing.returncode == 2 and "nothing.jsonl" in missing.stderr
    assert run_command("eval", str(tmp_path)).returncode == 2  # no run.yaml

    copy = tmp_path / "copy"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("eval"))
    record = load_yaml((copy / "run.yaml").read_text())
    record["config"]["dataset"].pop("eval_split")
    record["config"]["training"]["eval_strategy"] = "no"
    (copy / "run.yaml").write_text(dump_yaml(record))
    no_rows = run_command("eval", str(copy))
    assert no_rows.returncode == 2 and "held out no eval rows" in no_rows.stderr and "--data" in no_rows.stderr
    (copy / "final" / "adapter_model.safetensors").write_bytes(b"not weights")
    broken = run_command("eval", str(copy), "--data", str(DEMO_DATA))
    assert broken.returncode == 2 and "cannot be loaded" in broken.stderr
    assert not (copy / "eval").exists()
    assert "Traceback" not in unknown.stderr + offline.stderr + missing.stderr + no_rows.stderr + broken.stderr


def test_a_missing_eval_extra_names_the_install(monkeypatch):
    import importlib.util

    from engine.errors import UserError
    from engine.evaluation.extra import require_eval_extra

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "sacrebleu" else find_spec(name))
    with pytest.raises(UserError, match=r"sacrebleu is not installed: pip install -e '\.\[eval\]'"):
        require_eval_extra(harness=False)


@pytest.mark.slow
def test_runs_compare_lines_up_the_two_learning_rates(two_runs):
    result = run_command("runs", "--compare", *map(str, two_runs), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["differences"] == {"training.learning_rate": [0.003, 0.0003]}  # the output_dir is left out
    for run in data["runs"]:
        assert run["status"] == "completed" and len(run["train_curve"]) == 4 and len(run["eval_curve"]) == 2
        assert run["final_train_loss"] == run["train_curve"][-1][1] and run["final_eval_loss"] == run["eval_curve"][-1][1]
    text = run_command("runs", "--compare", *map(str, two_runs))
    lines = text.stdout.splitlines()
    assert any(line.split()[:3] == ["training.learning_rate", "0.003", "0.0003"] for line in lines)
    assert any(line.startswith("step 4") for line in lines)
    assert max(len(line) for line in lines[2:]) <= 80
    alone = run_command("runs", "--compare", str(two_runs[0]))
    assert alone.returncode == 2 and "two or more" in alone.stderr


@pytest.mark.slow
async def test_the_monitor_offers_an_eval_view_of_a_finished_run_computed_off_the_ui_thread(two_runs, monkeypatch):
    from textual.widgets import DataTable

    from tui.monitor.app import MonitorApp
    from tui.monitor.eval_view import EvalScreen

    import threading

    import engine.evaluation.evaluate

    run = two_runs[1]  # not evaluated by the tests above
    assert not (run / "eval").exists()
    monkeypatch.setattr(EvalScreen, "row_limit", 2)
    threads = []
    evaluate_run = engine.evaluation.evaluate.evaluate_run

    def recording(*args, **kwargs):
        threads.append(threading.current_thread())
        return evaluate_run(*args, **kwargs)

    monkeypatch.setattr(engine.evaluation.evaluate, "evaluate_run", recording)
    app = MonitorApp.attach(str(run))
    async with app.run_test(size=SMALLEST) as pilot:
        await wait_until(pilot, lambda: app.monitor.state.finished, 20, "the run's end")
        await pilot.pause(0.6)
        assert "v Eval" in screen_rows(app)[-1]
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, EvalScreen), 10, "the eval view")
        status = lambda: str(app.screen.query_one("#eval-status").render())  # noqa: E731
        await wait_until(pilot, lambda: "written to" in status(), 300, "the eval")
        assert threads and threads[0] is not threading.main_thread()  # computed in a worker thread
        table = app.screen.query_one("#eval-scores", DataTable)
        labels = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert labels == ["loss", "perplexity", "exact match", "ROUGE-L", "chrF", "BLEU"]
        assert len(app.screen.query(".eval-row")) == 2  # both rows, reference, base and fine-tuned side by side
        assert len(app.screen.query(".eval-answer")) == 6
        await pilot.pause()
        text = "\n".join(screen_rows(app))
        assert "reference" in text and "fine-tuned" in text and "base" in text
        assert cut_texts(app.screen) == []
        assert json.loads((run / "eval" / "summary.json").read_text())["rows"] == 2
        await pilot.press("escape")
        assert not isinstance(app.screen, EvalScreen)
        await pilot.press("v")  # again: the eval written in RUN/eval/ is shown, not computed anew
        await wait_until(pilot, lambda: isinstance(app.screen, EvalScreen), 10, "the eval view again")
        assert f"from {run}/eval/" in status() and len(threads) == 1
        assert len(app.screen.query(".eval-row")) == 2


@pytest.mark.slow
async def test_the_runs_screen_from_the_start_step_overlays_both_curves_at_80x24(two_runs):
    from textual.widgets import OptionList, SelectionList

    from tui.monitor.runs_view import RunsScreen
    from tui.wizard.app import WizardApp

    app = WizardApp(runs_root=str(two_runs[0].parent), warm_imports=False, jobs=NoJobs())
    async with app.run_test(size=SMALLEST) as pilot:
        options = app.screen.query_one("#start-options", OptionList)
        await wait_until(pilot, lambda: any(options.get_option_at_index(i).id == "compare"
                                            for i in range(options.option_count)), 20, "the Start step's runs")
        options.focus()
        options.highlighted = options.get_option_index("compare")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen), 10, "the runs screen")
        listed = app.screen.query_one("#runs-list", SelectionList)
        assert listed.option_count == 2
        listed.focus()
        await pilot.press("space", "down", "space")
        chart = app.screen.query_one("#runs-chart")
        await wait_until(pilot, lambda: len(chart.series) == 2, 10, "both curves")
        assert [(s.name, s.color, len(s.points)) for s in chart.series] == [("A", "cyan", 4), ("B", "magenta", 4)]
        await pilot.pause()
        drawn = [chart.render_line(y) for y in range(chart.size.height)]
        colors = {str(segment.style.color.name) for strip in drawn for segment in strip if segment.style and segment.style.color
                  and segment.text.strip(" ⠀")}
        assert {"cyan", "magenta"} <= colors, colors  # both curves drawn, one over the other
        text = "\n".join(screen_rows(app))
        assert "train loss A B" in text
        learning_rate = next(line for line in screen_rows(app) if "training.learning_rate" in line)
        assert "0.003" in learning_rate and "0.0003" in learning_rate
        assert cut_texts(app.screen) == []
        await pilot.press("escape")
        assert not isinstance(app.screen, RunsScreen)
