"""User-facing errors. Every one derives from ``CourseError``: the command lines print its
message as one line (no stack trace) and exit with 2."""
from __future__ import annotations

import os


class CourseError(Exception):
    """A user error whose message says what is wrong, where, and what was expected."""


class TaskError(CourseError):
    """Wrong checkpoint, bad option, bad input line, ..."""


class ModelError(CourseError):
    """A model name that cannot be resolved or loaded."""


class DataError(CourseError, ValueError):
    """Bad input data. ``str(err)`` is ``file:line: what is wrong; what was expected``."""

    def __init__(self, message: str, path: str | os.PathLike | None = None, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.reason = message
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(where + message)


class OfflineError(DataError):
    """A PaddleNLP dataset that is neither cached nor downloadable right now."""
