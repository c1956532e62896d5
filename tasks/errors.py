"""User-facing errors: the CLI prints their message (no stack trace) and exits with 2."""


class TaskError(Exception):
    """A user error (wrong checkpoint, bad input line, ...) with a message that says what to do."""
