"""The homework tools' user errors share the package's one base (tasks.errors.CourseError), so
both command lines end a user error the same way: one line, exit code 2, no traceback.

Subclassing ValueError/LookupError keeps callers that caught the built-in kinds working."""
from tasks.errors import CourseError


class HomeworkError(CourseError, ValueError):
    """Bad input to `check` / `grade` (unknown assignment, bad option, unusable output folder...)."""


class UnknownName(HomeworkError, LookupError):
    """An assignment or question name that does not exist."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class NoIsolation(HomeworkError, RuntimeError):
    """Isolation was required and this machine cannot provide it."""
