"""Errors a user can fix (exit code 2) and the exit codes of the command line."""

from __future__ import annotations

from collections.abc import Sequence

from engine.problems import Problem, as_problem

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USER_ERROR = 2
EXIT_DOES_NOT_FIT = 3
EXIT_STOPPED = 130


class UserError(Exception):
    """A problem in the user's config, data, files or keys; reported without a traceback."""

    def __init__(self, message: str | Problem, problems: Sequence[Problem | str] | None = None):
        self.problems: list[Problem] = [as_problem(p) for p in problems or [message]]
        super().__init__(str(message))

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        return "\n".join(f"- {p}" for p in self.problems)


def raise_problems(problems: Sequence[Problem]) -> None:
    """Raise the UserError listing `problems` (errors only), if there are any."""
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise UserError(errors[0], errors)
