"""Messages that workers post to the app (post_message is thread-safe and never blocks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from engine.config.run_config import RunConfig
    from engine.data.preview import DataPreview
    from engine.fit.optimize import Plan
    from engine.fit.verdicts import FitReport
    from engine.models.architecture import ModelStructure
    from engine.problems import Problem
    from engine.run.probe import ProbeResult
    from tui.wizard.import_report import ImportReport


class ConfigEdited(Message):
    """A step changed the run config; estimates and checks are stale."""

    def __init__(self, section: str) -> None:
        self.section = section
        super().__init__()


class EstimateReady(Message):
    """A memory estimate (FitReport) or the problem that prevented it."""

    def __init__(self, report: "FitReport | None", structure: "ModelStructure | None", problem: str | None,
                 number: int = 0) -> None:
        self.number = number
        self.report = report
        self.structure = structure
        self.problem = problem
        super().__init__()


class PreviewReady(Message):
    """A dataset preview: a training row as the collator hands it over, the row counts, or the problem."""

    def __init__(self, preview: "DataPreview", number: int = 0) -> None:
        self.number = number
        self.preview = preview
        super().__init__()


class CheckReady(Message):
    """Problems and warnings of the whole config, as `sft-wizard check` finds them."""

    def __init__(self, problems: "list[Problem]", warnings: list[str], number: int = 0) -> None:
        self.number = number
        self.problems = problems
        self.warnings = warnings
        super().__init__()


class ProbeDone(Message):
    """A pre-flight probe's measurement or its failure."""

    def __init__(self, result: "ProbeResult | None", problem: str | None) -> None:
        self.result = result
        self.problem = problem
        super().__init__()


class LibrariesReady(Message):
    """torch/transformers/trl finished importing in the background."""

    def __init__(self, seconds: float, problem: str | None) -> None:
        self.seconds = seconds
        self.problem = problem
        super().__init__()


class ConfigChosen(Message):
    """A step replaced the whole config (a new run, a preset, imported code); `step` is shown next, if any.

    `unsaved` is true for a config that exists nowhere else (imported code, a restored draft);
    `import_report` is what the import said, for an imported file.
    """

    def __init__(self, config: "RunConfig", step: str | None, unsaved: bool = False,
                 import_report: "ImportReport | None" = None) -> None:
        self.config = config
        self.step = step
        self.unsaved = unsaved
        self.import_report = import_report
        super().__init__()


class ProbeRequested(Message):
    """The Method step asks for a pre-flight probe of a copy of the config."""

    def __init__(self, config: "RunConfig") -> None:
        self.config = config
        super().__init__()


class OptimizeRequested(Message):
    """The Method step asks for `optimize` of a copy of the config (the fastest settings that fit)."""

    def __init__(self, config: "RunConfig") -> None:
        self.config = config
        super().__init__()


class OptimizeReady(Message):
    """An optimize plan (the changed config and each change's reason) or the problem that prevented it."""

    def __init__(self, plan: "Plan | None", problem: str | None) -> None:
        self.plan = plan
        self.problem = problem
        super().__init__()


class RunOpened(Message):
    """The Start step asks to open a recent run's directory in the monitor."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        super().__init__()


class TrainingRequested(Message):
    """Review asks to train the config now, resuming the run directory's checkpoint when one is named."""

    def __init__(self, resume: str | None = None) -> None:
        self.resume = resume
        super().__init__()
