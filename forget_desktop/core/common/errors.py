"""Errors the user sees: each carries one plain sentence, never a traceback or a class name."""

from __future__ import annotations


class ForgetError(Exception):
    """A failure explained in one sentence that can be shown to the user as is."""


class Cancelled(Exception):
    """The user cancelled a running job. Not a failure: nothing is reported as wrong."""

    def __init__(self, message: str = "Cancelled by the user.") -> None:
        super().__init__(message)


def describe(error: BaseException) -> str:
    """One sentence for any exception, in the user's words (never the exception's class name)."""
    if isinstance(error, (ForgetError, Cancelled)):
        return str(error)
    if isinstance(error, MemoryError):
        return "Out of memory: close other programs or use fewer images."
    if isinstance(error, OSError) and error.strerror:
        name = f" ({error.filename})" if error.filename else ""
        return f"The computer refused a file operation: {error.strerror.rstrip('.')}{name}."
    text = str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else ""
    return (
        "Something unexpected went wrong"
        + (f" ({text})" if text else "")
        + "; nothing was changed. If it happens again, please report it."
    )
