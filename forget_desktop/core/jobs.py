"""Progress reporting and cancellation for long jobs, independent of any UI."""

from __future__ import annotations

import threading
import time
from typing import Callable

from .errors import Cancelled

ProgressCallback = Callable[[float, str], None]


class Progress:
    """Takes (fraction, message) updates and carries the cancel flag every job checks.

    Call it as ``progress(0.5, "Training epoch 3/6")``; it raises ``Cancelled`` once
    ``cancel()`` was called, so a job stops at its next report. ``sub(a, b)`` gives a
    view that maps its own 0..1 onto a..b of this one and shares the cancel flag.
    """

    def __init__(self, callback: ProgressCallback | None = None,
                 cancel_event: threading.Event | None = None,
                 start: float = 0.0, end: float = 1.0) -> None:
        self._callback = callback
        self._cancel = cancel_event or threading.Event()
        self._start, self._end = start, end

    def __call__(self, fraction: float, message: str = "") -> None:
        self.check()
        if self._callback is not None:
            clamped = min(max(fraction, 0.0), 1.0)
            self._callback(self._start + (self._end - self._start) * clamped, message)

    def check(self) -> None:
        """Raise ``Cancelled`` if cancellation was requested."""
        if self._cancel.is_set():
            raise Cancelled()

    def cancel(self) -> None:
        """Ask the job to stop at its next progress report or check."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def sub(self, start: float, end: float) -> "Progress":
        """A progress view for a sub-step covering [start, end] of this one."""
        span = self._end - self._start
        return Progress(self._callback, self._cancel,
                        self._start + span * start, self._start + span * end)


class Throttle:
    """True at most once per ``interval`` seconds: keeps progress messages cheap."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval, self._last = interval, 0.0

    def ready(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            return True
        return False
