"""The one ML thread: it owns every model, runs jobs one at a time and recognises frames.

Widgets never touch a model. They submit a ``Job`` — a plain function of a ``Progress``, run here, and
what to do on the GUI thread with its result (a read-only snapshot) or its failure (one sentence) — or
offer a frame. Frames are a mailbox of one: while the thread is busy a newer frame replaces the waiting
one, so a slow model drops frames instead of queueing them.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QThread, Signal

from ..core.common.errors import Cancelled, describe
from ..core.common.jobs import Progress, TimeLeft
from ..core.faces.frames import Frame


@dataclass(eq=False)
class Job:
    """A job: ``run(progress)`` on the ML thread, then ``on_success(result)`` or ``on_failure(sentence)``
    on the GUI thread. ``kind`` "forget" is shown in the Forget panel."""

    title: str
    run: Callable[[Progress], Any]
    on_success: Callable[[Any], None] | None = None
    on_failure: Callable[[str], None] | None = None
    kind: str = "job"
    id: int = 0
    progress: Progress = field(default_factory=Progress)
    fraction: float = 0.0
    message: str = ""
    started: float = 0.0
    seconds: float = 0.0  # how long it ran, once it ended
    _time_left: TimeLeft | None = None
    _planned_left: float | None = None  # the job's predicted seconds left at its last report (ML thread)

    def cancel(self) -> None:
        self.progress.cancel()

    def estimate_from(self, fraction: float | None) -> None:
        """Restart the time-left estimate at ``fraction`` of the job (None: show none for now)."""
        self._time_left = TimeLeft(since=fraction)

    def seconds_left(self) -> float | None:
        """The whole job's time left: predicted from this machine's rates for a job that declared its stages
        (``core.common.plan``), else extrapolated from the fraction done (``TimeLeft``)."""
        if self._planned_left is not None:
            return self._planned_left
        return self._time_left(self.fraction) if self._time_left is not None else None


class MLWorker(QThread):
    """See the module docstring. Call ``submit``, ``offer_frame`` and ``cancel_all`` from the GUI thread."""

    job_started = Signal(object)  # Job
    job_progress = Signal(object)  # Job (fraction, message updated)
    job_finished = Signal(object, object)  # Job, result
    job_failed = Signal(object, str)  # Job, one sentence
    job_cancelled = Signal(object)  # Job
    recognised = Signal(object, object)  # Frame, list[FaceResult] (None: no model to name faces)
    frame_failed = Signal(object, str)  # Frame or None, one sentence

    def __init__(self, recognise_fn: Callable[[Frame], Any] | None = None, parent=None) -> None:
        super().__init__(parent)
        self._tasks: queue.Queue = queue.Queue()
        self._ids = itertools.count(1)
        self._frame_lock = threading.Lock()
        self._pending_frame: Frame | None = None
        self._frame_task_queued = False
        self._frame_running = False
        self.recognise_fn = recognise_fn  # Frame -> faces or None; runs only on this thread
        self.current: Job | None = None
        self.dropped_frames = 0
        self._jobs: list[Job] = []  # queued or running, oldest first
        self._jobs_lock = threading.Lock()

    # --- GUI-thread API -------------------------------------------------------------------
    def submit(self, job: Job) -> Job:
        """Queue ``job``; returns it at once."""
        job.id = next(self._ids)
        with self._jobs_lock:
            self._jobs.append(job)
        self._tasks.put(lambda: self._run_job(job))
        return job

    @property
    def busy(self) -> bool:
        """True while a job runs or waits (frames do not count): the one place that decides "busy"."""
        with self._jobs_lock:
            return bool(self._jobs)

    def cancel_all(self) -> None:
        """Cancel the running job and drop the queued ones."""
        with self._jobs_lock:
            jobs = list(self._jobs)
        for job in jobs:
            job.cancel()  # a queued job is dropped when its turn comes (it reports as cancelled)

    def offer_frame(self, frame: Frame) -> None:
        """Recognise ``frame`` when the thread is free; a newer frame replaces an unprocessed one."""
        with self._frame_lock:
            if self._pending_frame is not None:
                self.dropped_frames += 1
            self._pending_frame = frame
            if self._frame_task_queued:
                return
            self._frame_task_queued = True
        self._tasks.put(self._recognise_pending)

    def stop(self, timeout_ms: int = 10000) -> None:
        """Cancel every job, finish the thread and wait for it."""
        self.cancel_all()
        self._tasks.put(None)
        self.wait(timeout_ms)

    def is_idle(self) -> bool:
        """True when no job is queued or running and no frame waits."""
        with self._frame_lock:
            frame_waiting = self._frame_task_queued or self._frame_running
        return not self.busy and not frame_waiting

    # --- ML thread ------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            task()

    def _run_job(self, job: Job) -> None:
        last_emit = 0.0

        def report(fraction: float, message: str) -> None:
            nonlocal last_emit
            job.fraction, job.message = fraction, message or job.message
            job._planned_left = job.progress.seconds_left()
            now = time.monotonic()
            if now - last_emit >= 0.05 or fraction >= 1.0:
                last_emit = now
                self.job_progress.emit(job)

        job.progress = job.progress.reporting_to(report, job.estimate_from)
        job.started, job._time_left = time.monotonic(), TimeLeft()
        self.current = job
        self.job_started.emit(job)
        try:
            job.progress.check()
            result = job.run(job.progress)
        except Cancelled:
            self._end(job)
            self.job_cancelled.emit(job)
        except Exception as error:  # noqa: BLE001 - every failure becomes one sentence in the window
            self._end(job)
            self.job_failed.emit(job, describe(error))
        else:
            self._end(job)
            self.job_finished.emit(job, result)

    def _end(self, job: Job) -> None:
        job.seconds = time.monotonic() - job.started
        self.current = None
        with self._jobs_lock:
            self._jobs.remove(job)

    def _recognise_pending(self) -> None:
        with self._frame_lock:
            frame, self._pending_frame = self._pending_frame, None
            self._frame_task_queued, self._frame_running = False, frame is not None
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
