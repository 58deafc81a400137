"""Step 2: the model, from the offline catalog, a Hub id, a local directory, or tiny-demo."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Input, Label, Static

from tui.wizard.steps.base import Step

if TYPE_CHECKING:
    from tui.wizard.messages import EstimateReady


class ModelStep(Step):
    """Choose the model; see its size and Linear modules from config.json alone."""

    def compose(self) -> ComposeResult:
        yield Label("Model: filter the catalog and press Enter, or type a Hub id or folder below", classes="title")
        yield Input(compact=True, placeholder="filter: qwen, llama 8b, smol…", id="model-filter")
        yield DataTable(id="model-table", cursor_type="row", zebra_stripes=True)
        yield Input(compact=True, placeholder="Hub id, local directory, or tiny-demo", id="model-id")
        yield Static("", id="model-info")

    def on_mount(self) -> None:
        table = self.query_one("#model-table", DataTable)
        table.add_columns("model", "params", "arch", "context", "licence")
        self._fill("")

    def _fill(self, text: str) -> None:
        from engine.models.structure import catalog

        table = self.query_one("#model-table", DataTable)
        table.clear()
        words = text.lower().split()
        rows = [{"id": "tiny-demo", "size": "1M", "gated": False,
                 "config": {"model_type": "llama", "max_position_embeddings": 1024}}] + catalog()
        for entry in rows:
            haystack = f"{entry['id']} {entry['size']} {entry['config']['model_type']}".lower()
            if all(word in haystack for word in words):
                licence = Text("gated", style="yellow") if entry["gated"] else Text("open", style="green")
                size = entry["size"].split(" (")[0] + (" MoE" if "MoE" in entry["size"] else "")  # 47B (8x7B MoE)
                table.add_row(entry["id"], size, entry["config"]["model_type"],
                              f"{entry['config'].get('max_position_embeddings', '?'):,}", licence, key=entry["id"])

    def load_values(self, config) -> None:
        self.query_one("#model-id", Input).value = config.model.name_or_path

    @on(Input.Changed, "#model-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#model-filter")
    def filter_submitted(self) -> None:
        table = self.query_one("#model-table", DataTable)
        if table.row_count:
            self._choose(str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value))

    @on(DataTable.RowSelected, "#model-table")
    def row_selected(self, event: DataTable.RowSelected) -> None:
        self._choose(str(event.row_key.value))

    @on(Input.Submitted, "#model-id")
    def id_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        path = Path(value).expanduser()
        if path.exists() and not (path / "config.json").is_file():
            self.query_one("#model-info", Static).update(Text(f"{value}: no config.json in that folder", style="red"))
            return
        self._choose(value)

    def _choose(self, model_id: str) -> None:
        self.config.model.name_or_path = model_id
        self.query_one("#model-id", Input).value = model_id
        self.query_one("#model-info", Static).update(Text(f"{model_id}: reading config.json…", style="dim"))
        self.edited("model")

    def show_estimate(self, message: "EstimateReady") -> None:
        """Show parameter count and Linear modules when the structure arrives."""
        info = self.query_one("#model-info", Static)
        if message.problem:
            info.update(Text(message.problem, style="red"))
            return
        s = message.structure
        text = Text()
        text.append(f"{self.config.model.name_or_path}: ", style="bold")
        text.append(f"{s.total_params / 1e6:,.1f}M parameters, {s.model_type}, {s.num_layers} layers, hidden {s.hidden_size}, "
                    f"{s.num_heads} heads ({s.num_kv_heads} KV), vocabulary {s.vocab_size:,}\n")
        text.append("Linear modules (LoRA targets): ", style="bold")
        text.append(", ".join(f"{g.name} {g.in_features}→{g.out_features} ×{g.count}" for g in s.linear.values()))
        info.update(text)
