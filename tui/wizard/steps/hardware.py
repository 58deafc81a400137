"""Step 3: the GPUs NVML sees (or CPU mode), the precision decision with an override, and how many processes train."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Label, Select, Static

from engine.config.resolve import PRECISION_CHOICES, apply_precision_choice, precision_choice
from engine.config.run_config import STRATEGIES
from tui.wizard.steps.base import Step
from tui.wizard.widgets import bar

MAX_CPU_PROCESSES = 8
STRATEGY_TEXT = dict(zip(STRATEGIES, ("ddp: a full copy of the model on each GPU",
                                      "fsdp: weights, gradients and optimizer sharded (PyTorch)",
                                      "zero3: sharded by DeepSpeed ZeRO-3 (when installed)")))


class HardwareStep(Step):
    """Which device trains, and in which precision."""

    def compose(self) -> ComposeResult:
        yield Label("Hardware: what this machine has (NVML; no CUDA context is created)", classes="title")
        yield Static("", id="cpu-banner")
        yield DataTable(id="gpu-table", cursor_type="row")
        yield Label("Train on (several GPUs are visible; sets CUDA_VISIBLE_DEVICES for the run)", id="device-label",
                    classes="subtitle")
        yield Select([], compact=True, id="device", allow_blank=True, prompt="cuda:0 (default)")
        yield Label("Precision (auto decides from the GPU's compute capability)", classes="subtitle")
        yield Select([(choice, choice) for choice in PRECISION_CHOICES], compact=True, allow_blank=False, value="auto", id="precision")
        yield Static("", id="precision-reason")
        yield Label("Processes: data-parallel through accelerate, one per GPU (or CPU processes)", classes="subtitle")
        yield Select([("1", 1)], compact=True, allow_blank=False, value=1, id="processes")
        yield Select([(text, name) for name, text in STRATEGY_TEXT.items()], compact=True, allow_blank=False,
                     value="ddp", id="strategy")

    def on_mount(self) -> None:
        self.query_one("#gpu-table", DataTable).add_columns("GPU", "CUDA", "memory used / total", "free", "cc", "bf16")

    def load_values(self, config) -> None:
        from engine.config.resolve import resolve_precision
        from engine.units import gib

        report = self.state.hardware()
        table = self.query_one("#gpu-table", DataTable)
        table.clear()
        banner = self.query_one("#cpu-banner", Static)
        if not report.gpus:
            banner.update(Text(f"CPU mode: no NVIDIA GPU ({report.nvml_error}). {report.cpu_count} cores, "
                               f"{gib(report.ram_total_bytes)} RAM. Training runs on the CPU, in the precision "
                               "decided below: fine for tiny-demo; estimates plan for a GPU.", style="bold yellow"))
        else:
            banner.update("")
        for gpu in report.gpus:
            for device in gpu.mig_instances or [gpu]:
                memory = bar(device.used_bytes, device.total_bytes) + Text(f" {gib(device.used_bytes)} / {gib(device.total_bytes)}")
                table.add_row(device.name, f"cuda:{device.cuda_index}" if device.cuda_index is not None else "hidden",
                              memory, gib(device.free_bytes), ".".join(map(str, device.compute_capability)),
                              Text("yes", style="green") if device.bf16 else Text("no", style="red"))
        visible = report.visible_gpus
        device = self.query_one("#device", Select)
        device.set_options([(f"cuda:{d.cuda_index} {d.name} ({gib(d.free_bytes)} free)", d.uuid) for d in visible])
        chosen = self.state.cuda_device
        device.value = chosen if chosen in [d.uuid for d in visible] else Select.NULL
        for widget in (device, self.query_one("#device-label")):
            widget.display = len(visible) > 1
        self.query_one("#precision", Select).value = precision_choice(config)
        decision, notes = resolve_precision(config, report)
        text = Text.assemble(("decision: ", "bold"), decision.summary(report.training_gpu is not None),
                             f"\nwhy: {decision.reason}")
        for note in notes:
            text.append(f"\n{note}", style="yellow")
        self.query_one("#precision-reason", Static).update(text)
        self._load_processes(config, len(visible) or min(report.cpu_count, MAX_CPU_PROCESSES), bool(visible))

    def _load_processes(self, config, most: int, gpus: bool) -> None:
        """Offer 1 to `most` processes (every visible GPU, or some CPU cores) and the strategy when more than one."""
        counts = sorted(set(range(1, max(most, 1) + 1)) | {config.distributed.processes})
        plural = ("GPU", "GPUs") if gpus else ("CPU process", "CPU processes")
        processes = self.query_one("#processes", Select)
        processes.set_options([(f"{n} {plural[n > 1]}" + (" (trains in this process)" if n == 1 else ""), n)
                               for n in counts])
        processes.value = config.distributed.processes
        processes.mutate_reactive(Select.value)  # the same value again: show its new label
        strategy = self.query_one("#strategy", Select)
        strategy.value = config.distributed.strategy
        strategy.display = config.distributed.processes > 1

    @on(Select.Changed, "#device")
    def device_changed(self, event: Select.Changed) -> None:
        if self.taking_edits:
            self.state.cuda_device = None if event.value is Select.NULL else str(event.value)

    @on(Select.Changed, "#precision")
    def precision_changed(self, event: Select.Changed) -> None:
        if not self.taking_edits or event.value == precision_choice(self.config):
            return
        apply_precision_choice(self.config, str(event.value))
        self.edited_then_reload("training")

    @on(Select.Changed, "#processes")
    def processes_changed(self, event: Select.Changed) -> None:
        if not self.taking_edits or event.value is Select.NULL or event.value == self.config.distributed.processes:
            return
        self.config.distributed.processes = int(event.value)
        self.query_one("#strategy", Select).display = self.config.distributed.processes > 1
        self.edited("distributed")

    @on(Select.Changed, "#strategy")
    def strategy_changed(self, event: Select.Changed) -> None:
        if not self.taking_edits or event.value is Select.NULL or event.value == self.config.distributed.strategy:
            return
        self.config.distributed.strategy = str(event.value)
        self.edited("distributed")
