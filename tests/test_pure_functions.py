"""Unit tests of pure helpers: the braille chart, event lines, planned step counts, the model card (no app, no training)."""

from __future__ import annotations

import pytest

from engine.config.presets import load_preset
from engine.config.resolve import planned_steps
from engine.config.run_config import RunConfig
from engine.record.event_text import format_event
from engine.run.model_card import model_card
from tui.monitor.charts import _DOTS, LABEL_WIDTH, Series, plot, smooth

# ---------------------------------------------------------------- chart helpers


def pixels(lines) -> set[tuple[int, int]]:
    """The (x, y) braille pixels lit in plot's output, y growing downwards."""
    lit = set()
    for row, line in enumerate(lines):
        for col, ch in enumerate(line.plain[LABEL_WIDTH:]):
            bits = ord(ch) - 0x2800
            if not 0 < bits <= 0xFF:
                continue
            for dy, pair in enumerate(_DOTS):
                for dx, mask in enumerate(pair):
                    if bits & mask:
                        lit.add((col * 2 + dx, row * 4 + dy))
    return lit


def label(line) -> str:
    return line.plain[:LABEL_WIDTH].strip()


def cell_styles(line) -> set[str]:
    """Styles of the spans that cover the plot area (not the label)."""
    return {str(span.style) for span in line.spans if span.start >= LABEL_WIDTH and str(span.style)}


WIDTH, HEIGHT = LABEL_WIDTH + 10, 4
COLS, ROWS = (WIDTH - LABEL_WIDTH) * 2, HEIGHT * 4


def test_plot_rising_series_goes_from_bottom_left_to_top_right():
    lines = plot([Series("loss", [(0, 0.0), (1, 1.0), (2, 2.0)], "red")], WIDTH, HEIGHT)
    lit = pixels(lines)
    assert (0, ROWS - 1) in lit
    assert (COLS - 1, 0) in lit
    assert (0, 0) not in lit
    assert (COLS - 1, ROWS - 1) not in lit
    # the line is drawn without gaps: every pixel column has a dot
    assert {x for x, _ in lit} == set(range(COLS))
    # and y never increases (upwards on screen) as x goes right
    by_x = sorted(lit)
    assert all(y1 >= y2 for (x1, y1), (x2, y2) in zip(by_x, by_x[1:]) if x2 == x1 + 1)


def test_plot_falling_series_goes_from_top_left_to_bottom_right():
    lit = pixels(plot([Series("loss", [(10, 5.0), (20, 1.0)], "red")], WIDTH, HEIGHT))
    assert (0, 0) in lit
    assert (COLS - 1, ROWS - 1) in lit
    assert (0, ROWS - 1) not in lit


def test_plot_returns_height_lines_of_width_with_labels():
    lines = plot([Series("loss", [(0, 1.0), (1, 3.0)], "red")], WIDTH, HEIGHT)
    assert len(lines) == HEIGHT
    assert all(len(line.plain) == WIDTH for line in lines)
    assert label(lines[0]) == "3"
    assert label(lines[-1]) == "1"
    assert label(lines[HEIGHT // 2]) == "2"
    assert label(lines[1]) == ""


def test_plot_uses_the_given_label_format():
    lines = plot([Series("acc", [(0, 0.25), (1, 0.75)], "red")], WIDTH, HEIGHT, fmt="{:.0%}")
    assert label(lines[0]) == "75%"
    assert label(lines[-1]) == "25%"


@pytest.mark.parametrize("series", [[], [Series("loss", [], "red")]])
def test_plot_without_points_says_no_data(series):
    lines = plot(series, WIDTH, HEIGHT)
    assert len(lines) == HEIGHT
    assert lines[0].plain == "(no data yet)"
    assert [line.plain for line in lines[1:]] == [""] * (HEIGHT - 1)


def test_plot_too_short_says_no_data():
    lines = plot([Series("loss", [(0, 1.0), (1, 2.0)], "red")], WIDTH, 1)
    assert [line.plain for line in lines] == ["(no data yet)"]


@pytest.mark.parametrize("value", [5.0, 0.0, -2.0])
def test_plot_constant_series_is_a_flat_line_inside_a_padded_range(value):
    lines = plot([Series("loss", [(0, value), (1, value), (2, value)], "red")], WIDTH, HEIGHT)
    lit = pixels(lines)
    assert {x for x, _ in lit} == set(range(COLS))
    ys = {y for _, y in lit}
    assert len(ys) == 1
    assert 0 < ys.pop() < ROWS - 1
    assert float(label(lines[0])) > value > float(label(lines[-1]))


def test_plot_single_point_lights_one_dot():
    lit = pixels(plot([Series("loss", [(3, 1.0)], "red")], WIDTH, HEIGHT))
    assert len(lit) == 1


def test_plot_colours_each_series_and_hline():
    lines = plot([Series("train", [(0, 0.0), (1, 1.0)], "red"), Series("eval", [(0, 1.0), (1, 0.0)], "blue")],
                 WIDTH, HEIGHT, hlines=[(0.5, "green")])
    styles = set().union(*(cell_styles(line) for line in lines))
    assert {"red", "blue", "green"} <= styles


def test_plot_hline_is_dashed_across_the_width_at_its_height():
    lines = plot([Series("loss", [(0, 0.0), (1, 10.0)], "red")], WIDTH, HEIGHT, hlines=[(10.0, "green")])
    top_row = {x for x, y in pixels(lines) if y == 0}
    assert set(range(0, COLS, 2)) <= top_row
    assert "green" in cell_styles(lines[0])
    assert "green" not in cell_styles(lines[-1])


def test_plot_hline_widens_the_y_range():
    lines = plot([Series("loss", [(0, 1.0), (1, 2.0)], "red")], WIDTH, HEIGHT, hlines=[(4.0, "green")])
    assert label(lines[0]) == "4"


def test_smooth_weight_zero_is_the_raw_series():
    points = [(0, 3.0), (1, 1.0), (2, 4.0)]
    assert smooth(points, 0) == points


def test_smooth_keeps_length_and_x_and_starts_at_the_first_value():
    points = [(10, 2.0), (20, 8.0), (30, 4.0), (40, 6.0)]
    out = smooth(points, 0.6)
    assert len(out) == len(points)
    assert [x for x, _ in out] == [10, 20, 30, 40]
    assert out[0] == (10, 2.0)


def test_smooth_damps_a_spike_and_decays_after_it():
    points = [(0, 0.0), (1, 0.0), (2, 10.0), (3, 0.0), (4, 0.0)]
    ys = [y for _, y in smooth(points, 0.9)]
    assert ys[2] == pytest.approx(1.0)
    assert ys[3] == pytest.approx(0.9)
    assert ys[4] == pytest.approx(0.81)
    assert max(ys) < 10.0


def test_smooth_constant_and_empty():
    assert smooth([(0, 2.0), (1, 2.0), (2, 2.0)], 0.8) == [(0, 2.0), (1, 2.0), (2, 2.0)]
    assert smooth([], 0.5) == []


# ---------------------------------------------------------------- format_event

START = {"event": "start", "total_steps": 120, "num_train_examples": 900, "num_eval_examples": 100,
         "precision": "bf16", "device": "cuda:0", "precision_reason": "GPU supports bf16"}


def test_format_start():
    assert format_event(START) == "start: 120 steps, 900 train / 100 eval rows, bf16 on cuda:0 (GPU supports bf16)"


def test_format_start_resumed():
    line = format_event({**START, "resumed_from": "runs/x/checkpoint-40"})
    assert line.endswith("(GPU supports bf16), resumed from runs/x/checkpoint-40")


def test_format_log_with_all_fields_and_gpu_memory():
    line = format_event({"event": "log", "step": 7, "total_steps": 120, "epoch": 0.4567, "loss": 1.234567,
                         "learning_rate": 2e-4, "grad_norm": 0.5, "tokens_per_second": 12345.6,
                         "reserved_bytes": 3 * 1024**3, "peak_bytes": 512 * 1024**2, "rss_bytes": 1024**3})
    assert line == ("step     7/120 | epoch 0.46 | loss 1.2346 | lr 2.00e-04 | grad 0.50 | 12,346 tok/s"
                    " | gpu 3.00 GiB reserved, peak 512 MiB")


def test_format_log_without_loss_or_memory():
    line = format_event({"event": "log", "step": 1, "total_steps": 10, "epoch": None, "loss": None, "learning_rate": "n/a"})
    assert line == "step     1/10 | epoch 0.00"


def test_format_log_cpu_memory_and_unknown_peak():
    assert format_event({"event": "log", "step": 2, "total_steps": 2, "epoch": 1, "rss_bytes": 200 * 1024**2}) == (
        "step     2/2 | epoch 1.00 | rss 200 MiB")
    assert format_event({"event": "log", "step": 2, "total_steps": 2, "reserved_bytes": 2 * 1024**3}).endswith(
        "gpu 2.00 GiB reserved, peak ?")


def test_format_eval():
    assert format_event({"event": "eval", "step": 50, "eval_loss": 0.98765}) == "eval  step 50: eval_loss 0.9877"
    assert format_event({"event": "eval", "step": 50}) is None
    assert format_event({"event": "eval", "step": 50, "eval_loss": "nan"}) is None


def test_format_checkpoint():
    assert format_event({"event": "checkpoint", "path": "runs/x/checkpoint-50"}) == "checkpoint saved: runs/x/checkpoint-50"


def test_format_status():
    assert format_event({"event": "status", "phase": "warning", "message": "slow disk"}) == "warning: slow disk"
    assert format_event({"event": "status", "phase": "tokenizing"}) == "tokenizing…"
    assert format_event({"event": "status", "phase": "saving"}) == "saving…"
    assert format_event({"event": "status", "phase": "training", "message": "x"}) is None


def test_format_end_minimal():
    assert format_event({"event": "end", "status": "stopped", "message": "stopped by user"}) == "end: stopped — stopped by user"


def test_format_end_with_summary():
    text = format_event({"event": "end", "status": "completed", "message": "done", "first_loss": 2.5, "final_loss": 0.75,
                         "global_step": 120, "train_runtime": 61.234, "best_eval_loss": 0.8, "best_eval_step": 100,
                         "final_path": "runs/x/final"})
    assert text.split("\n") == [
        "end: completed — done",
        "  loss 2.5000 → 0.7500 over 120 steps in 61.2 s",
        "  best eval_loss 0.8000 at step 100",
        "  final model: runs/x/final",
    ]


def test_format_end_loss_line_needs_both_losses_and_runtime_is_optional():
    only_first = format_event({"event": "end", "status": "failed", "message": "oom", "first_loss": 2.5})
    assert only_first == "end: failed — oom"
    no_runtime = format_event({"event": "end", "status": "completed", "message": "done", "first_loss": 2.0,
                               "final_loss": 1.0, "global_step": 3})
    assert no_runtime.split("\n")[1] == "  loss 2.0000 → 1.0000 over 3 steps"


@pytest.mark.parametrize("event", [{"event": "metrics"}, {"event": "heartbeat", "step": 3}, {}])
def test_format_unknown_events_are_quiet(event):
    assert format_event(event) is None


# ---------------------------------------------------------------- planned_steps


def config(**training) -> RunConfig:
    return RunConfig(training=dict(training))


def test_planned_steps_epochs_times_batches_per_epoch():
    assert planned_steps(config(per_device_train_batch_size=4, gradient_accumulation_steps=1, num_train_epochs=3), 40) == 30


def test_planned_steps_rounds_a_partial_batch_up():
    # 41 rows in batches of 4 is 11 batches (the last one has a single row)
    assert planned_steps(config(per_device_train_batch_size=4, gradient_accumulation_steps=1, num_train_epochs=2), 41) == 22


def test_planned_steps_divides_by_gradient_accumulation_rounding_up():
    # 100 rows / batch 8 = 13 batches; 13 / 4 accumulation = 4 optimizer steps per epoch
    assert planned_steps(config(per_device_train_batch_size=8, gradient_accumulation_steps=4, num_train_epochs=3), 100) == 12


def test_planned_steps_fewer_rows_than_a_batch_is_one_step_per_epoch():
    assert planned_steps(config(per_device_train_batch_size=8, gradient_accumulation_steps=4, num_train_epochs=5), 3) == 5


def test_planned_steps_fractional_epochs_round_up():
    assert planned_steps(config(per_device_train_batch_size=10, gradient_accumulation_steps=1, num_train_epochs=1.5), 65) == 11


@pytest.mark.parametrize("rows", [0, 10, 10_000])
def test_planned_steps_max_steps_overrides_epochs(rows):
    assert planned_steps(config(max_steps=25, per_device_train_batch_size=2, num_train_epochs=100), rows) == 25


@pytest.mark.parametrize("max_steps", [-1, 0])
def test_planned_steps_non_positive_max_steps_uses_epochs(max_steps):
    assert planned_steps(config(max_steps=max_steps, per_device_train_batch_size=5, gradient_accumulation_steps=1,
                                num_train_epochs=2), 50) == 20


def test_planned_steps_no_rows_is_zero_steps():
    assert planned_steps(config(per_device_train_batch_size=4, num_train_epochs=3), 0) == 0


# ---------------------------------------------------------------- the run's model card


@pytest.mark.parametrize(("name", "says"), [
    ("tiny-demo", "fine-tuned version of tiny-demo, sft-wizard's built-in demo model"),
    ("Qwen/Qwen2.5-0.5B", "fine-tuned version of [Qwen/Qwen2.5-0.5B](https://huggingface.co/Qwen/Qwen2.5-0.5B)"),
    ("/models/my-base", "fine-tuned version of the local model `/models/my-base`"),
])
def test_the_model_card_names_the_base_model(name, says):
    config, _, _ = load_preset("demo")
    config.model.name_or_path = name
    card = model_card(config)
    assert says in card and "None" not in card
    assert ("base_model: Qwen/Qwen2.5-0.5B" in card) == name.startswith("Qwen/")  # Hub metadata for Hub ids only
