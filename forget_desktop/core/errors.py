"""Errors the user sees: each carries one plain sentence, never a traceback."""


class ForgetError(Exception):
    """A failure explained in one sentence that can be shown to the user as is."""


class Cancelled(ForgetError):
    """The user cancelled a running job."""

    def __init__(self, message: str = "Cancelled by the user.") -> None:
        super().__init__(message)


def describe(error: BaseException) -> str:
    """One sentence for any exception: the message of a ForgetError, else its type and text."""
    if isinstance(error, ForgetError):
        return str(error)
    if isinstance(error, MemoryError):
        return "Out of memory: close other programs or use fewer images."
    if isinstance(error, OSError) and error.strerror:
        name = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror}{name}."
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else f"Unexpected {type(error).__name__}."
