"""How the interpreter and the numeric libraries run beside a live window: thread counts and the heap."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import torch

from .allocator import keep_freed_memory

_settled = threading.Event()


@contextmanager
def stream_threads() -> Iterator[None]:
    """torch on one thread and OpenCV on two inside, and as before after.

    For a live stream: its frames are decoded on one thread and drawn on another while the ML thread names
    them. torch names a few faces per frame; a two-thread team of it waits at every layer for a core another
    stage holds. The face search (YuNet, in OpenCV) is most of a frame's time and splits into two large
    halves: on one thread the window dropped 3–21 of the 105 frames of a play at 30 frames/s, on two none
    (gui_bench.py, 10 plays each)."""
    torch_threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(min(2, os.cpu_count() or 1))
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv_threads)


def get_ready() -> float | None:
    """What the ML thread does first at launch: ``settle_heap``, then, on a machine that has measured nothing
    yet, how fast it is (``probe.probe_if_new``; its seconds, or None)."""
    from .probe import probe_if_new

    settle_heap()
    return probe_if_new()


def heap_settled() -> bool:
    """True once ``settle_heap`` ran in this process."""
    return _settled.is_set()


def settle_heap() -> None:
    """Once per process, before the first long job: import what torch otherwise imports in the middle of
    one, and take every object made so far out of the garbage collector's full passes.

    Two things held the interpreter for a quarter of a second each during a forget job, and the window froze
    meanwhile (gui_bench.py): the first optimiser imports ``torch._dynamo`` (1.2 s of loading native
    modules), and a full collection walked the 300,000 objects of torch and Qt, which live until the app
    quits. ``gc.freeze`` leaves those out of every later pass. The C heap keeps what a batch frees for the
    next one (``allocator.keep_freed_memory``)."""
    if _settled.is_set():
        return
    keep_freed_memory()
    import torch._dynamo  # noqa: F401 - loaded now, not by the first optimiser of a job

    gc.collect()
    gc.freeze()
    _settled.set()
