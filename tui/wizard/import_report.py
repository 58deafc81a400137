"""What an import on the Start step said, kept for Review: things to fix and keys not read first, then the rest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from textual.widgets import Static

    from engine.importing.result import ImportedPreset


@dataclass
class ImportReport:
    """One import's findings, in the order a user acts on them."""

    source: str
    """The file imported."""
    to_fix: list[str]
    """Problems to fix before training (a model or dataset the file did not name)."""
    not_read: list[str]
    """The file's settings sft-wizard did not take, each with why."""
    warnings: list[str]
    read_count: int

    @classmethod
    def of(cls, imported: "ImportedPreset", source: str) -> "ImportReport":
        """The report of an imported file."""
        return cls(source, [str(problem) for problem in imported.to_complete], list(imported.result.not_read),
                   list(imported.warnings), len(imported.result.read))

    @property
    def summary(self) -> str:
        """One line: how much of each kind there is."""
        counts = [(len(self.to_fix), "to fix"), (len(self.not_read), "not read"), (len(self.warnings), "warning(s)")]
        said = [f"{count} {kind}" for count, kind in counts if count]
        return f"{Path(self.source).name}: {', '.join([*said, f'{self.read_count} settings read'])}"


def report_text(report: ImportReport) -> Text:
    """The summary line, then what to fix, the keys not read, the warnings, and last the count read."""
    text = Text(f"imported {report.summary}", style="bold")
    for item in report.to_fix:
        text.append(f"\nto fix: {item}", style="red")
    for item in report.not_read:
        text.append(f"\nnot read: {item}", style="yellow")
    for item in report.warnings:
        text.append(f"\n! {item}", style="dim")
    text.append(f"\nread {report.read_count} settings", style="green")
    return text


def show_import_report(view: "Static", report: ImportReport | None) -> None:
    """Show a report in a Static (Review's), or hide the Static when the config was not imported."""
    view.update(report_text(report) if report is not None else "")
    view.display = report is not None
