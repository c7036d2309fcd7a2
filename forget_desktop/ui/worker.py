"""The one ML thread: it owns every model, runs jobs one at a time and recognises frames.

Widgets never touch a model. They submit a ``Job`` — a plain function of a ``Progress``, run here, and
its own handlers for the GUI thread: its progress (``JobStatus`` snapshots), its result (a read-only
snapshot), its failure (one sentence) or its cancellation — or offer a frame. A still image is a mailbox
of one: a newer one replaces the one waiting. Frames of a stream (video, camera) wait in a short queue,
``STREAM_BUFFER`` frames deep, so one slow frame (a face named for the first time) delays the next few by
a few milliseconds instead of dropping them; a model slower than the stream on average still drops frames,
the oldest first, instead of falling ever further behind.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import Qt, QThread, Signal, Slot

from ..core.common.errors import Cancelled, describe
from ..core.common.jobs import Progress, TimeLeft
from ..core.faces.frames import Frame

STREAM_BUFFER = 5  # frames of a stream that may wait: 167 ms at 30 frames/s. A stream starts by naming every face
# at once (70–140 ms for five faces here, gui_bench.py); with 3 the first play after opening a model dropped one


@dataclass(frozen=True)
class JobStatus:
    """What the GUI thread is told about a job: an immutable snapshot, made on the ML thread."""

    id: int
    title: str
    fraction: float = 0.0
    message: str = ""
    seconds_left: float | None = None  # None: no honest estimate yet
    seconds: float = 0.0  # how long it has run (all of it, once it ended)


@dataclass(frozen=True)
class Job:
    """A job: ``run(progress)`` on the ML thread; on the GUI thread ``on_progress(status)`` when it starts
    and as it goes, then ``on_success(result)``, ``on_failure(sentence)`` or ``on_cancel()``. The panel that
    makes a job gives it these handlers and renders its result (``with_handlers``); ``on_end(sentence)`` says
    how any job ended and ``finished_text(result, seconds)`` is that sentence when it succeeds. ``id`` is
    given by ``MLWorker.submit``."""

    title: str
    run: Callable[[Progress], Any]
    on_success: Callable[[Any], None] | None = None
    on_failure: Callable[[str], None] | None = None
    on_progress: Callable[[JobStatus], None] | None = None
    on_cancel: Callable[[], None] | None = None
    on_end: Callable[[str], None] | None = None  # how it ended, in one sentence (before the handlers above)
    finished_text: Callable[[Any, float], str] | None = None
    quiet: bool = False  # a short read the user did not ask for: no status line, bar or busy buttons
    id: int = 0


def with_handlers(job: Job, **handlers: Callable) -> Job:
    """``job`` with more handlers (``on_progress=...``), each run after the one it already had: how a
    panel shows the jobs it starts."""

    def chained(first: Callable | None, then: Callable) -> Callable:
        if first is None:
            return then

        def both(*args) -> None:
            first(*args)
            then(*args)

        return both

    return replace(job, **{name: chained(getattr(job, name), handler) for name, handler in handlers.items()})


class _Running:
    """A job's state while it runs: the ML thread's alone (the GUI thread sees ``JobStatus`` snapshots)."""

    def __init__(self, job: Job) -> None:
        self.job, self.progress = job, Progress()
        self.fraction, self.message, self.started = 0.0, "", 0.0
        self.time_left: TimeLeft | None = None
        self.planned_left: float | None = None  # predicted from the job's declared stages (``core.common.plan``)

    def estimate_from(self, fraction: float | None) -> None:
        """Restart the time-left estimate at ``fraction`` of the job (None: show none for now)."""
        self.time_left = TimeLeft(since=fraction)

    def status(self) -> JobStatus:
        left = self.planned_left
        if left is None and self.time_left is not None:
            left = self.time_left(self.fraction)
        return JobStatus(
            self.job.id, self.job.title, self.fraction, self.message, left, time.monotonic() - self.started
        )


class MLWorker(QThread):
    """See the module docstring. Call ``submit``, ``cancel``, ``offer_frame`` and ``stop`` from the GUI
    thread; every signal carries immutable values (the ``Job`` as submitted, ``JobStatus`` snapshots)."""

    job_started = Signal(object, object)  # Job, JobStatus
    job_progress = Signal(object, object)  # Job, JobStatus
    job_finished = Signal(object, object, object)  # Job, JobStatus (its whole time), result
    job_failed = Signal(object, object, str)  # Job, JobStatus, one sentence
    job_cancelled = Signal(object, object)  # Job, JobStatus
    recognised = Signal(object, object)  # Frame, list[FaceResult] (None: no model to name faces)
    frame_failed = Signal(object, str)  # Frame or None, one sentence
    idle = Signal()  # on the GUI thread, once nothing is queued or running and every signal before it arrived
    _settled = Signal()  # the ML thread ran out of work (checked again on the GUI thread)

    def __init__(self, recognise_fn: Callable[[Frame], Any] | None = None, parent=None) -> None:
        super().__init__(parent)
        self._tasks: queue.Queue = queue.Queue()
        self._ids = itertools.count(1)
        self._frame_lock = threading.Lock()
        self._pending_frames: deque[Frame] = deque()
        self._frame_task_queued = False
        self._frame_running = False
        self.recognise_fn = recognise_fn  # Frame -> faces or None; runs only on this thread
        self.dropped_frames = 0
        self._jobs: list[_Running] = []  # queued or running, oldest first
        self._jobs_lock = threading.Lock()
        # Queued, always: it must run on the GUI thread, after every signal the ML thread sent before it.
        self._settled.connect(self._check_idle, Qt.ConnectionType.QueuedConnection)
        self.settled = True  # GUI thread: ``idle`` was emitted since the last job or frame was handed over

    # --- GUI-thread API -------------------------------------------------------------------
    def submit(self, job: Job) -> Job:
        """Queue ``job``; returns it (with its id) at once. After ``stop`` it is never run."""
        job = replace(job, id=next(self._ids))
        if self.isFinished():
            return job
        running = _Running(job)
        self.settled = False
        with self._jobs_lock:
            self._jobs.append(running)
        self._tasks.put(lambda: self._run_job(running))
        return job

    def _waited_for(self) -> _Running | None:
        """The first job the user waits for, running or next to run (quiet reads do not count)."""
        with self._jobs_lock:
            return next((r for r in self._jobs if not r.job.quiet), None)

    @property
    def busy(self) -> bool:
        """True while a job the user waits for runs or waits (quiet reads and frames do not count): the one
        place that decides "busy"."""
        return self._waited_for() is not None

    @property
    def current_title(self) -> str | None:
        """The title of the job the user waits for, or None."""
        running = self._waited_for()
        return running.job.title if running is not None else None

    def cancel(self, job: Job | None = None) -> None:
        """Cancel ``job`` (default: the one ``current_title`` names): it stops at its next report; queued, it
        never starts."""
        if job is None:
            chosen = [r for r in [self._waited_for()] if r is not None]
        else:
            with self._jobs_lock:
                chosen = [r for r in self._jobs if r.job.id == job.id]
        for running in chosen:
            running.progress.cancel()

    def cancel_all(self) -> None:
        """Cancel the running job and drop the queued ones."""
        with self._jobs_lock:
            jobs = list(self._jobs)
        for running in jobs:
            running.progress.cancel()  # a queued job is dropped when its turn comes (it reports as cancelled)

    def offer_frame(self, frame: Frame) -> None:
        """Recognise ``frame`` when the thread is free (see the module docstring for what waits and what is
        dropped)."""
        self.settled = False
        with self._frame_lock:
            waiting = self._pending_frames
            room = STREAM_BUFFER if frame.stream else 1
            while waiting and (len(waiting) >= room or not waiting[-1].stream or not frame.stream):
                waiting.popleft()
                self.dropped_frames += 1
            waiting.append(frame)
            if self._frame_task_queued:
                return
            self._frame_task_queued = True
        self._tasks.put(self._recognise_pending)

    def stop(self, timeout_ms: int = 10000) -> None:
        """Cancel every job, finish the thread and wait for it (jobs handed over later never run)."""
        self.cancel_all()
        self._tasks.put(None)
        if self.wait(timeout_ms):
            with self._jobs_lock:
                self._jobs.clear()

    def is_idle(self) -> bool:
        """True when no job is queued or running and no frame waits."""
        with self._frame_lock:
            frame_waiting = self._frame_task_queued or self._frame_running
        with self._jobs_lock:
            return not self._jobs and not frame_waiting

    @Slot()
    def _check_idle(self) -> None:
        if self.is_idle():
            self.settled = True
            self.idle.emit()

    # --- ML thread ------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            task()
            if self._tasks.empty():
                self._settled.emit()

    def _run_job(self, running: _Running) -> None:
        job, last_emit = running.job, 0.0

        def report(fraction: float, message: str) -> None:
            nonlocal last_emit
            running.fraction, running.message = fraction, message or running.message
            running.planned_left = running.progress.seconds_left()
            now = time.monotonic()
            if now - last_emit >= 0.05 or fraction >= 1.0:
                last_emit = now
                self.job_progress.emit(job, running.status())

        running.progress = running.progress.reporting_to(report, running.estimate_from)
        running.started, running.time_left = time.monotonic(), TimeLeft()
        self.job_started.emit(job, running.status())
        try:
            running.progress.check()
            result = job.run(running.progress)
        except Cancelled:
            self._end(running)
            self.job_cancelled.emit(job, running.status())
        except Exception as error:  # noqa: BLE001 - every failure becomes one sentence in the window
            self._end(running)
            self.job_failed.emit(job, running.status(), describe(error))
        else:
            self._end(running)
            self.job_finished.emit(job, running.status(), result)

    def _end(self, running: _Running) -> None:
        with self._jobs_lock:
            self._jobs.remove(running)

    def _recognise_pending(self) -> None:
        with self._frame_lock:
            frame = self._pending_frames.popleft() if self._pending_frames else None
            more = bool(self._pending_frames)
            self._frame_task_queued, self._frame_running = more, frame is not None
        if more:  # the next frame takes its turn behind the jobs queued before it
            self._tasks.put(self._recognise_pending)
        if frame is None:
            return
        try:
            results = self.recognise_fn(frame) if self.recognise_fn is not None else None
        except Exception as error:  # noqa: BLE001
            self.frame_failed.emit(frame, describe(error))
        else:
            self.recognised.emit(frame, results)
        finally:
            with self._frame_lock:
                self._frame_running = False
