"""What a step can show of the background results: one protocol per result, so the app hands each to the steps that take it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from engine.data.preview import DataPreview
    from engine.problems import Problem
    from tui.wizard.messages import CheckReady, EstimateReady, OptimizeReady, ProbeDone


@runtime_checkable
class ShowsEstimate(Protocol):
    """A step with a memory panel."""

    def show_estimate(self, message: "EstimateReady") -> None: ...


@runtime_checkable
class ShowsPreview(Protocol):
    """A step that shows the dataset preview or what follows from it (row counts, steps)."""

    def show_preview(self, preview: "DataPreview") -> None: ...


@runtime_checkable
class ShowsCheck(Protocol):
    """A step that lists every problem and warning of the config."""

    def show_check(self, message: "CheckReady") -> None: ...


@runtime_checkable
class ShowsProblems(Protocol):
    """A step that puts problems under the fields they concern."""

    def show_problems(self, problems: "list[Problem]") -> None: ...


@runtime_checkable
class ShowsProbe(Protocol):
    """A step that shows the pre-flight probe's measurement."""

    def show_probe(self, message: "ProbeDone") -> None: ...


@runtime_checkable
class AppliesPlan(Protocol):
    """A step that applies an optimize plan to the config."""

    def apply_optimized(self, message: "OptimizeReady") -> None: ...
