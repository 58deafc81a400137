"""A problem with a run's setup as data: the settings it concerns, what is wrong, the fix, and how bad it is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) in a config, its data or its machine; `str()` is the line users read."""

    message: str
    """What is wrong, naming the value: `training.learning_rate = 0 must be > 0.`"""
    fields: tuple[str, ...] = ()
    """The settings it concerns (`training.learning_rate`), the one to change first."""
    fix: str = ""
    """What would be right, when the message does not already say it."""
    source: str = ""
    """Where the settings came from: `preset`, a file's name, `run`."""
    severity: Literal["error", "warning"] = "error"

    @property
    def field(self) -> str | None:
        """The setting to change first, if the problem belongs to one."""
        return self.fields[0] if self.fields else None

    @property
    def text(self) -> str:
        """The message and its fix, without the source: what a form shows under the field."""
        return f"{self.message} {self.fix}" if self.fix else self.message

    def __str__(self) -> str:
        return f"{self.source}: {self.text}" if self.source else self.text


def as_problem(item: Problem | str) -> Problem:
    """A Problem as is; a plain message (from code that has no field to name) wrapped as one."""
    return item if isinstance(item, Problem) else Problem(item)
