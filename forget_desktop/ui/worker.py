"""The one ML thread: it owns every model, runs jobs one at a time and recognises frames.

Widgets never touch a model. They submit a job (a plain function taking a ``Progress``) or offer a
frame; results and progress come back as Qt signals, delivered on the GUI thread. Frames are a
mailbox of one: while the thread is busy a newer frame replaces the waiting one, so a slow model
drops frames instead of queueing them.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QThread, Signal

from ..core.errors import Cancelled, describe
from ..core.frames import Frame
from ..core.jobs import Progress


@dataclass
class Job:
    """A running or queued job: what the panel shows and how to cancel it."""

    id: int
    title: str
    progress: Progress
    started: float = 0.0
    fraction: float = 0.0
    message: str = ""
    kind: str = "job"
    extra: dict = field(default_factory=dict)

    def cancel(self) -> None:
        self.progress.cancel()

    def seconds_left(self) -> float | None:
        """A linear estimate of the remaining time, once there is something to go on."""
        elapsed = time.monotonic() - self.started
        if not self.started or self.fraction < 0.02 or elapsed < 1.0:
            return None
        return elapsed * (1.0 - self.fraction) / self.fraction


class MLWorker(QThread):
    """See the module docstring. Call ``submit`` / ``offer_frame`` from the GUI thread."""

    job_started = Signal(object)  # Job
    job_progress = Signal(object)  # Job (fraction, message updated)
    job_finished = Signal(object, object)  # Job, result
    job_failed = Signal(object, str)  # Job, one sentence
    job_cancelled = Signal(object)  # Job
    recognised = Signal(object, object)  # Frame, list[FaceResult]
    frame_failed = Signal(object, str)  # Frame or None, one sentence

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._tasks: queue.Queue = queue.Queue()
        self._ids = itertools.count(1)
        self._frame_lock = threading.Lock()
        self._pending_frame: Frame | None = None
        self._frame_task_queued = False
        self.recognise_fn: Callable | None = None  # Frame -> faces; runs only on this thread
        self.current: Job | None = None
        self.dropped_frames = 0
        self._unfinished = 0  # tasks queued or running
        self._count_lock = threading.Lock()

    # --- GUI-thread API -------------------------------------------------------------------
    def submit(self, title: str, fn: Callable[[Progress, "MLWorker"], Any], kind: str = "job",
               **extra) -> Job:
        """Queue ``fn(progress, worker)`` to run on the ML thread; returns the Job at once."""
        job = Job(next(self._ids), title, Progress(), kind=kind, extra=extra)
        self._put(lambda: self._run_job(job, fn))
        return job

    def _put(self, task) -> None:
        with self._count_lock:
            self._unfinished += 1
        self._tasks.put(task)

    def offer_frame(self, frame: Frame) -> None:
        """Recognise ``frame`` when the thread is free; a newer frame replaces an unprocessed one."""
        with self._frame_lock:
            if self._pending_frame is not None:
                self.dropped_frames += 1
            self._pending_frame = frame
            if self._frame_task_queued:
                return
            self._frame_task_queued = True
        self._put(self._recognise_pending)

    def stop(self, timeout_ms: int = 10000) -> None:
        """Cancel what runs, finish the thread and wait for it."""
        if self.current is not None:
            self.current.cancel()
        self._tasks.put(None)
        self.wait(timeout_ms)

    def is_idle(self) -> bool:
        """True when nothing is queued or running (results may still be on their way to the GUI)."""
        with self._count_lock:
            return self._unfinished == 0

    # --- ML thread ------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            try:
                task()
            finally:
                with self._count_lock:
                    self._unfinished -= 1

    def _run_job(self, job: Job, fn) -> None:
        last_emit = 0.0

        def report(fraction: float, message: str) -> None:
            nonlocal last_emit
            job.fraction, job.message = fraction, message or job.message
            now = time.monotonic()
            if now - last_emit >= 0.05 or fraction >= 1.0:
                last_emit = now
                self.job_progress.emit(job)

        job.progress = Progress(report, job.progress._cancel)
        job.started = time.monotonic()
        self.current = job
        self.job_started.emit(job)
        try:
            job.progress.check()
            result = fn(job.progress, self)
        except Cancelled:
            self.current = None
            self.job_cancelled.emit(job)
        except Exception as error:  # noqa: BLE001 - every failure becomes one sentence in the window
            self.current = None
            self.job_failed.emit(job, describe(error))
        else:
            self.current = None
            self.job_finished.emit(job, result)

    def _recognise_pending(self) -> None:
        with self._frame_lock:
            frame, self._pending_frame = self._pending_frame, None
            self._frame_task_queued = False
        if frame is None:
            return
        if self.recognise_fn is None:
            self.recognised.emit(frame, [])
            return
        try:
            results = self.recognise_fn(frame)
        except Exception as error:  # noqa: BLE001
            self.frame_failed.emit(frame, describe(error))
            return
        self.recognised.emit(frame, results)
