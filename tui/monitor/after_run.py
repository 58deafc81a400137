"""What the monitor offers once a run has saved final/: try a prompt, evaluate, merge, export a GGUF."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.widgets import RichLog

if TYPE_CHECKING:
    from tui.monitor.sources import RunSource


class AfterRunActions:
    """The monitor screen's keys for a finished run's model (t, v, m, g); each needs final/."""

    source: "RunSource"

    @property
    def has_final_model(self) -> bool:
        """Whether the run ended with a final/ model to try, merge or export (completed, or stopped and saved)."""
        return bool((self.state.end or {}).get("final_path"))

    def _final_model_or_say(self, what: str) -> bool:
        """Whether final/ is there; if not, a note that `what` waits for it (the footer hides these keys until then)."""
        if not self.has_final_model:
            self.notify(f"{what} once the run has finished and saved final/.")
        return self.has_final_model

    def action_try_prompt(self) -> None:
        if not self._final_model_or_say("Try a prompt"):
            return
        from tui.monitor.finish import TryPromptScreen

        self.app.push_screen(TryPromptScreen(self.source.run_dir))

    def action_eval_view(self) -> None:
        if not self._final_model_or_say("Evaluate"):
            return
        from tui.monitor.eval_view import EvalScreen

        self.app.push_screen(EvalScreen(self.source.run_dir))

    def action_merge(self) -> None:
        if not self._final_model_or_say("Merge"):
            return
        self.query_one("#log", RichLog).write(Text("merging the adapter into full weights…", style="bold"))
        self.merge(self.source.run_dir)

    @work(thread=True, exclusive=True, group="merge", exit_on_error=False)
    def merge(self, run_dir: str) -> None:
        from engine.errors import UserError
        from engine.outputs.merge import merge_adapter

        log = self.query_one("#log", RichLog)
        try:
            path = merge_adapter(run_dir, progress=lambda line: self.app.call_from_thread(log.write, line))
            self.app.call_from_thread(log.write, Text(f"merged model written to {path}", style="bold green"))
        except UserError as exc:
            self.app.call_from_thread(log.write, Text(str(exc), style="red"))

    def action_export_gguf(self) -> None:
        if not self._final_model_or_say("Export a GGUF"):
            return
        self.query_one("#log", RichLog).write(Text("exporting a q8_0 GGUF for llama.cpp and Ollama…", style="bold"))
        self.export_gguf(self.source.run_dir)

    @work(thread=True, exclusive=True, group="gguf", exit_on_error=False)
    def export_gguf(self, run_dir: str) -> None:
        from engine.errors import UserError
        from engine.outputs.gguf.export import CHECK_PROMPT, export_gguf
        from engine.outputs.gguf.readback import compare_answers

        log = self.query_one("#log", RichLog)

        def write(line: str | Text) -> None:
            self.app.call_from_thread(log.write, line)

        try:
            export = export_gguf(run_dir, "q8_0", progress=write)
            for line in export.summary_lines + export.notes:
                write(line)
            check = compare_answers(export.run_dir, export.gguf, CHECK_PROMPT)
        except UserError as exc:
            write(Text(str(exc), style="red"))
            return
        except Exception as exc:  # e.g. transformers cannot read this architecture back from GGUF: say so in the log
            write(Text(f"GGUF export failed: {type(exc).__name__}: {exc}", style="red"))
            return
        write(f"{CHECK_PROMPT}  fine-tuned: {check.fine_tuned!r}  exported: {check.exported!r}")
        write(Text(f"GGUF written to {export.gguf} ({'same answer' if check.same else 'answers differ'}); "
                   f"ollama create {export.name} -f {export.folder / 'Modelfile'}", style="bold green"))
