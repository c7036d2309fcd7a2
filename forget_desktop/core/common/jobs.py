"""Progress reporting and cancellation for long jobs, independent of any UI."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .errors import Cancelled

ProgressCallback = Callable[[float, str], None]


class Eta:
    """Where a job's time left comes from: its plan of stages (``plan.Plan``), and the fraction reached."""

    def __init__(self) -> None:
        self.plan = None  # the job's outermost Plan, once it has one
        self.fraction = 0.0

    def seconds_left(self) -> float | None:
        """The plan's predicted seconds left (None: the job declared no stages)."""
        return None if self.plan is None else self.plan.seconds_left(self.fraction, self.plan.clock())


class Progress:
    """Takes (fraction, message) updates and carries the cancel flag every job checks.

    Call it as ``progress(0.5, "Training epoch 3/6")``; it raises ``Cancelled`` once
    ``cancel()`` was called, so a job stops at its next report. ``sub(a, b)`` gives a
    view that maps its own 0..1 onto a..b of this one and shares the cancel flag and the ``eta``.
    ``slot`` is the stage of a plan this view belongs to (a plan made on it is that stage's inner plan).
    """

    def __init__(
        self,
        callback: ProgressCallback | None = None,
        cancel_event: threading.Event | None = None,
        start: float = 0.0,
        end: float = 1.0,
        estimate_hook: Callable[[float | None], None] | None = None,
        eta: Eta | None = None,
        slot: tuple | None = None,
    ) -> None:
        self._callback = callback
        self._cancel = cancel_event or threading.Event()
        self._start, self._end = start, end
        self._estimate_hook = estimate_hook
        self.eta = eta if eta is not None else Eta()
        self.slot = slot

    def __call__(self, fraction: float, message: str = "") -> None:
        self.check()
        fraction = min(max(fraction, 0.0), 1.0)
        # a view's end is exactly the next view's start (never one rounding step past it: the bar never goes back)
        at = self._end if fraction == 1.0 else min(self._start + (self._end - self._start) * fraction, self._end)
        self.eta.fraction = at
        if self._callback is not None:
            self._callback(at, message)

    @property
    def span(self) -> tuple[float, float]:
        """The part of the whole job this view covers."""
        return self._start, self._end

    def seconds_left(self) -> float | None:
        """The whole job's predicted seconds left, from its plan (None when it has none)."""
        return self.eta.seconds_left()

    def within(self, slot: tuple) -> Progress:
        """This view, as the stage ``slot`` (plan, index) of a plan."""
        return Progress(self._callback, self._cancel, self._start, self._end, self._estimate_hook, self.eta, slot)

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

    def reporting_to(
        self, callback: ProgressCallback, estimate_hook: Callable[[float | None], None] | None = None
    ) -> Progress:
        """The same job (same cancel flag), reporting to ``callback`` (and time-left restarts to
        ``estimate_hook``)."""
        hook = estimate_hook or self._estimate_hook
        return Progress(callback, self._cancel, self._start, self._end, hook, self.eta, self.slot)

    def estimate_time(self, on: bool = True) -> None:
        """Start the job's time-left estimate afresh from where this step begins (``on``), or show none
        until then (off): for steps whose speed says nothing about the rest, such as downloads."""
        if self._estimate_hook is not None:
            self._estimate_hook(self._start if on else None)

    def sub(self, start: float, end: float) -> Progress:
        """A progress view for a sub-step covering [start, end] of this one."""
        span = self._end - self._start
        begin, finish = self._start + span * start, self._start + span * end
        return Progress(self._callback, self._cancel, begin, finish, self._estimate_hook, self.eta, self.slot)

    def stages(self, *costs: float) -> list[Progress]:
        """Consecutive sub-steps whose spans are proportional to their estimated ``costs`` (in any one
        unit), so that the fraction done tracks the time spent."""
        total = sum(max(c, 0.0) for c in costs) or 1.0
        views, start = [], 0.0
        for cost in costs:
            end = start + max(cost, 0.0) / total
            views.append(self.sub(start, min(end, 1.0)))
            start = end
        return views


class TimeLeft:
    """Seconds left of a job from its fraction done: the time spent so far, extrapolated. The
    estimate never jumps up by more than the time that passed since the last one, so a job that turns
    out slower than expected shows its new end gradually instead of leaping back."""

    def __init__(self, clock=time.monotonic, since: float | None = 0.0) -> None:
        self.clock = clock
        self.started = clock()
        self.since = since  # the fraction the estimate starts from; None: no estimate
        self._last: tuple[float, float] | None = None  # (when, seconds left then)

    def __call__(self, fraction: float) -> float | None:
        now = self.clock()
        elapsed = now - self.started
        if self.since is None or fraction - self.since < 0.02 or elapsed < 3.0:  # something to go on
            return None
        left = elapsed * (1.0 - fraction) / (fraction - self.since)
        if self._last is not None:
            when, before = self._last
            left = min(left, before + (now - when))
        self._last = (now, left)
        return left


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


def duration(seconds: float) -> str:
    """A short human duration: "4 s", "3 min", "1 h 5 min"; never "0 s" (a job's last half second read "about 0 s
    left", and one done in 0.3 s "Done: … (0 s)")."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:.0f} min"


def short_seconds(seconds: float) -> str:
    """Seconds with the precision a short job needs ("0.08 s", "3.9 s"); never "0.00 s" (a 6-person gallery's
    reference retrain, 0.002 s, read "took 0.00 s")."""
    if seconds < 0.01:
        return "under 0.01 s"
    return f"{seconds:.2f} s" if seconds < 1 else f"{seconds:.1f} s"


def plural(count: int, noun: str) -> str:
    """ "1 photo", "12 photos"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def left_note(seconds: float | None) -> str:
    """ " (about 4 s left)" after a job's message, or nothing while there is no estimate (or none left)."""
    return f" (about {duration(seconds)} left)" if seconds else ""


def indefinite(phrase: str) -> str:
    """ "a finetuned model", "an embedding model"."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase
