"""User-facing errors.

An `InputError` is a problem with what the user gave us (a file, a field, an option). Its message
is one line naming the file or field and the fix; the CLI prints it without a traceback and exits 2.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""

    def __init__(self, message: str, path: object | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path is not None else message)
